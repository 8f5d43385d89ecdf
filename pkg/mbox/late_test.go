package mbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Between a killed rewrite and our next Open, a program that does not
// know the journal (dovecot-lda, procmail) appends mail; the recovery,
// itself killed at any point and then run again, keeps it: after the old
// mailbox if the rewrite had not begun, else after the new one.
func TestMailAppendedAfterARewriteKilledAtAnyPointIsKept(t *testing.T) {
	data := compactInput(16)
	plans := append(killPlans[:len(killPlans):len(killPlans)], struct {
		name string
		plan RewritePlan
	}{"expansion that cuts the file short", func(i int, m *Message) Change {
		switch i {
		case 0:
			st := m.State
			st.Flags |= Seen
			return Change{State: &st}
		case 15:
			return Change{Drop: true}
		}
		return Change{}
	}})
	small := "From late@example.org  Wed Nov 25 18:00:00 2026\nSubject: late\n\nlate mail\n\n"
	// Longer than what the rewrite removes: once the file is cut, the
	// mail reaches past the old length.
	big := "From late@example.org  Wed Nov 25 18:00:00 2026\nSubject: late\n\n" + strings.Repeat("a long line of late mail\n", 200) + "\n"
	for _, pt := range plans {
		for _, late := range []string{small, big} {
			t.Run(fmt.Sprintf("%s, %d bytes appended", pt.name, len(late)), func(t *testing.T) {
				moved := 0
				eachKill(t, data, pt.plan, func(n int, p string, newData, journal []byte) {
					f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
					if err != nil {
						t.Fatal(err)
					}
					f.WriteString(late)
					f.Close()
					crashed, _ := os.ReadFile(p)
					// Recoveries killed at every point after every third kill.
					for m := 1; n%3 == 0 || m == 1; m++ {
						os.WriteFile(p, crashed, 0o600)
						os.WriteFile(JournalPath(p), journal, 0o600)
						os.Remove(JournalPath(p) + ".next")
						died := openKilled(t, p, m)
						openKilled(t, p, 0)
						got, _ := os.ReadFile(p)
						if !sameButTheTime(got, append(newData, late...)) && string(got) != data+late {
							t.Fatalf("killed at %d, recovery killed at %d: the mailbox holds\n%s\nwant the old or new one, then the late mail", n, m, got)
						}
						if sameButTheTime(got, append(newData, late...)) && m == 1 {
							moved++
						}
						if left, _ := filepath.Glob(JournalPath(p) + "*"); len(left) > 0 {
							t.Fatalf("killed at %d, recovery killed at %d: left %v", n, m, left)
						}
						if !died {
							break
						}
					}
				})
				if moved == 0 {
					t.Fatal("no kill left a rewrite to finish")
				}
			})
		}
	}
}
