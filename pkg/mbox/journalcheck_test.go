package mbox

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// killPlans are a compaction and an expansion of compactInput(16).
var killPlans = []struct {
	name string
	plan RewritePlan
}{
	{"compaction", func(i int, m *Message) Change { return Change{Drop: i%3 == 1} }},
	{"expansion", func(i int, m *Message) Change {
		st := m.State
		st.Flags |= Seen
		return Change{State: &st}
	}},
}

// journalsAside lists the journals of path set aside.
func journalsAside(t *testing.T, path string) []string {
	t.Helper()
	aside, err := filepath.Glob(JournalPath(path) + ".unmatched-*")
	if err != nil {
		t.Fatal(err)
	}
	return aside
}

// What another program may do to a mailbox between the kill of a rewrite
// of ours and our next Open: it takes the locks the dead rewrite left and
// rewrites the file as it finds it, knowing nothing of the journal.
var otherRewrites = []struct {
	name   string
	change func(t *testing.T, path string, data []byte)
}{
	{"a header added to the first message, in place (Dovecot syncing)", func(t *testing.T, path string, data []byte) {
		at := bytes.IndexByte(data, '\n') + 1
		rewriteInPlace(t, path, slicesConcat(data[:at], []byte("X-IMAPbase: 1 2\n"), data[at:]))
	}},
	{"a header added to a message in the middle, in place", func(t *testing.T, path string, data []byte) {
		at := bytes.Index(data, []byte("Subject: m08"))
		if at < 0 {
			at = len(data) / 2
		}
		rewriteInPlace(t, path, slicesConcat(data[:at], []byte("Status: RO\n"), data[at:]))
	}},
	{"the first message dropped, in place (mail, mutt)", func(t *testing.T, path string, data []byte) {
		at := bytes.Index(data[1:], []byte("\nFrom ")) + 2
		rewriteInPlace(t, path, data[at:])
	}},
	{"a new file renamed over it", func(t *testing.T, path string, data []byte) {
		tmp := path + ".new"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}},
}

func slicesConcat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// rewriteInPlace makes the file at path hold data, the same file.
func rewriteInPlace(t *testing.T, path string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
}

// eachKill rewrites data with plan, killed at each point in turn, in
// small windows (some save what they overwrite, some need not), and calls
// fn for each kill that left a journal, with the mailbox's path, what the
// rewrite makes of data when not killed, and the journal.
func eachKill(t *testing.T, data string, plan RewritePlan, fn func(n int, path string, newData, journal []byte)) {
	t.Helper()
	defer func(s, w int64) { minShift, maxWindow = s, w }(minShift, maxWindow)
	minShift, maxWindow = 300, 700
	dir := shmDir(t)
	wantPath, path := filepath.Join(dir, "want"), filepath.Join(dir, "box")
	rewriteKilled(t, wantPath, data, plan, 0)
	newData, _ := os.ReadFile(wantPath)
	for n := 1; rewriteKilled(t, path, data, plan, n); n++ {
		if journal, err := os.ReadFile(JournalPath(path)); err == nil {
			fn(n, path, newData, journal)
		}
	}
}

func TestAJournalForAMailboxAnotherProgramRewroteAfterTheKillIsSetAsideAndOverwritesNothing(t *testing.T) {
	for _, pt := range killPlans {
		for _, other := range otherRewrites {
			t.Run(pt.name+", "+other.name, func(t *testing.T) {
				asides := 0
				eachKill(t, compactInput(16), pt.plan, func(n int, path string, _, _ []byte) {
					crashed, _ := os.ReadFile(path)
					other.change(t, path, crashed)
					want, _ := os.ReadFile(path)
					var warned []string
					mb, err := Open(path, OpenOptions{Owner: -1, Warn: func(f string, a ...any) { warned = append(warned, fmt.Sprintf(f, a...)) }})
					if err != nil {
						t.Fatalf("killed at %d: Open: %v", n, err)
					}
					mb.Close()
					if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
						t.Fatalf("killed at %d, then the file changed by another program: the recovery wrote over it:\n%s\nwant\n%s", n, got, want)
					}
					if _, err := os.Lstat(JournalPath(path)); err == nil {
						t.Fatalf("killed at %d: the journal is still where the next Open would try it again", n)
					}
					aside := journalsAside(t, path)
					if len(aside) > 1 || len(aside) != len(warned) {
						t.Fatalf("killed at %d: journals set aside %v, warnings %q: want one of each, or none", n, aside, warned)
					}
					if len(aside) == 1 {
						if !strings.Contains(warned[0], aside[0]) || !strings.Contains(warned[0], path) {
							t.Fatalf("killed at %d: the warning %q names neither the mailbox nor the journal kept", n, warned[0])
						}
						asides++
						os.Remove(aside[0])
					}
				})
				if asides == 0 {
					t.Fatal("no journal was set aside")
				}
			})
		}
	}
}

// oldFormat is a journal of format 4 or 5 as the release before wrote it:
// format 2 or 3, without checks.
func oldFormat(t *testing.T, j []byte) []byte {
	t.Helper()
	magic, rest, _ := bytes.Cut(j, []byte("\n"))
	head, rest, _ := bytes.Cut(rest, []byte("\n"))
	nums, ok := parseNums(string(head), 8)
	if !ok {
		t.Fatalf("journal header %q", head)
	}
	old := map[string]string{journalMagic4: journalMagic2, journalMagic5: journalMagic3}[string(magic)+"\n"]
	if old == "" {
		t.Fatalf("journal of format %q", magic)
	}
	plan, records := rest[:nums[6]], rest[nums[6]+nums[7]+9:]
	out := fmt.Appendf(nil, "%s%d %d %d %d %d %d %d\n", old, nums[0], nums[1], nums[2], nums[3], nums[4], nums[5], nums[6])
	out = append(out, plan...)
	out = fmt.Appendf(out, "%08x\n", crc32.Checksum(out, castagnoli()))
	return append(out, records...)
}

func TestAJournalOfTheReleaseBeforeWithoutChecksIsStillFinished(t *testing.T) {
	data := compactInput(16)
	for _, pt := range killPlans {
		t.Run(pt.name, func(t *testing.T) {
			finished := 0
			eachKill(t, data, pt.plan, func(n int, path string, newData, journal []byte) {
				os.WriteFile(JournalPath(path), oldFormat(t, journal), 0o600)
				if openKilled(t, path, 0) {
					t.Fatal("died without a kill")
				}
				got, _ := os.ReadFile(path)
				switch {
				case sameButTheTime(got, newData):
					finished++
				case string(got) != data:
					t.Fatalf("killed at %d: the mailbox is neither old nor new:\n%s", n, got)
				}
				if _, err := os.Lstat(JournalPath(path)); err == nil || len(journalsAside(t, path)) > 0 {
					t.Fatalf("killed at %d: the journal was kept", n)
				}
			})
			if finished == 0 {
				t.Fatal("no journal of the old format was finished")
			}
		})
	}
}
