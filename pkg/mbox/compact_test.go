package mbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"unixmail/pkg/lock"
)

// compactInput is a mailbox of n messages of different sizes, the first
// carrying the UID base.
func compactInput(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "From a@example.org  Wed Nov 25 17:%02d:14 2026\n", i%60)
		if i == 0 {
			b.WriteString("X-IMAPbase: 1764000000 0000000040\n")
		}
		fmt.Fprintf(&b, "Subject: m%02d\nX-UID: %d\n\n%s\n", i, i+1, strings.Repeat(fmt.Sprintf("line %d of the body\n", i), 1+i*7%13))
	}
	return b.String()
}

// killed is what a simulated SIGKILL panics with.
type killed struct{}

// killAt makes the n-th killPoint from now stop the process: a panic the
// caller recovers, running nothing of the rewrite after it.
func killAt(t *testing.T, n int) {
	t.Helper()
	count := 0
	killPoint = func() {
		if count++; count == n {
			panic(killed{})
		}
	}
	t.Cleanup(func() { killPoint = func() {} })
}

// dies runs fn, reporting whether a killPoint stopped it.
func dies(t *testing.T, fn func() error) (died bool) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(killed); !ok {
				panic(r)
			}
			died = true
		}
	}()
	if err := fn(); err != nil {
		t.Fatal(err)
	}
	return false
}

// shmDir is a directory for files synced thousands of times: in memory
// where there is /dev/shm (a kill keeps the page cache, which is all a
// SIGKILL test needs).
func shmDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("/dev/shm", "mbox-compact-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// rewriteKilled copies data to path and rewrites it with plan, killed at
// the n-th killPoint (never, when n is 0); it reports whether it died.
// What a dead process held goes with it: its descriptors, and its
// dot-lock (left for a stale one, which the next Open would break after
// its timeout; removed here).
func rewriteKilled(t *testing.T, path, data string, plan RewritePlan, n int) bool {
	t.Helper()
	os.Remove(JournalPath(path))
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	mb, err := Open(path, OpenOptions{Owner: -1})
	if err != nil {
		t.Fatal(err)
	}
	killAt(t, n)
	died := dies(t, func() error { return RewriteWith(mb, int64(len(data)), nil, plan) })
	killPoint = func() {}
	mb.Close()
	return died
}

// openKilled opens the mailbox, its recovery killed at the n-th
// killPoint, and reports whether it died.
func openKilled(t *testing.T, path string, n int) bool {
	t.Helper()
	killAt(t, n)
	var mb *Mailbox
	died := dies(t, func() error {
		var err error
		mb, err = Open(path, OpenOptions{Owner: -1})
		return err
	})
	killPoint = func() {}
	if died {
		// The dead Open's descriptor, and so its fcntl lock, goes when
		// the collector finalizes it.
		os.Remove(lock.Path(path))
		for i := 0; i < 1000 && !unlocked(path); i++ {
			runtime.GC()
			time.Sleep(time.Millisecond)
		}
		return true
	}
	mb.Close()
	return false
}

// unlocked reports whether no descriptor holds a lock on path.
func unlocked(path string) bool {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	return lock.TryFcntl(f, true) == nil
}

// sameButTheTime compares two mailboxes but for the times UW's
// pseudo-message records.
func sameButTheTime(a, b []byte) bool {
	re := regexp.MustCompile(`(?m)^(From MAILER-DAEMON|Date:) .*$`)
	return string(re.ReplaceAll(a, nil)) == string(re.ReplaceAll(b, nil))
}

func TestACompactionOrExpansionKilledAtAnyPointAndItsRecoveryKilledTooEndsOldOrNew(t *testing.T) {
	defer func(s, w int64) { minShift, maxWindow = s, w }(minShift, maxWindow)
	// Small windows: some save what they overwrite, some need not.
	minShift, maxWindow = 300, 700
	data := compactInput(16)
	seen := func(m *Message) Change {
		st := m.State
		st.Flags |= Seen
		return Change{State: &st}
	}
	// padded is data with state fields, padded, in every message.
	dir := shmDir(t)
	if rewriteKilled(t, filepath.Join(dir, "padded"), data, func(i int, m *Message) Change { return seen(m) }, 0) {
		t.Fatal("died without a kill")
	}
	padded, _ := os.ReadFile(filepath.Join(dir, "padded"))
	flag := func(i int, m *Message) Change {
		if i%3 != 0 {
			return Change{}
		}
		st := m.State
		st.Flags |= Flagged | Answered
		return Change{State: &st}
	}
	tests := []struct {
		name  string
		plan  RewritePlan
		input string
	}{
		{"flags written into their padding", flag, string(padded)},
		{"flags written into their padding, one dropped", func(i int, m *Message) Change {
			if i == 7 {
				return Change{Drop: true}
			}
			return flag(i, m)
		}, string(padded)},
		{"the first dropped", func(i int, m *Message) Change { return Change{Drop: i == 0} }, ""},
		{"every third dropped", func(i int, m *Message) Change { return Change{Drop: i%3 == 1} }, ""},
		{"one in the middle dropped", func(i int, m *Message) Change { return Change{Drop: i == 8} }, ""},
		{"all dropped", func(i int, m *Message) Change { return Change{Drop: true} }, ""},
		{"all but the last dropped", func(i int, m *Message) Change { return Change{Drop: i < 15} }, ""},
		{"dropped and flagged", func(i int, m *Message) Change {
			if i < 3 || i%5 == 0 {
				return Change{Drop: true}
			}
			if i%2 == 0 {
				return seen(m)
			}
			return Change{}
		}, ""},
		// Expansions: state fields added, everything after them moved
		// toward the end.
		{"every message flagged", func(i int, m *Message) Change { return seen(m) }, ""},
		{"the second flagged", func(i int, m *Message) Change {
			if i == 1 {
				return seen(m)
			}
			return Change{}
		}, ""},
		{"one replaced by a longer one, every third flagged", func(i int, m *Message) Change {
			if i == 5 {
				return Change{Content: strings.NewReader("Subject: longer\n\n" + strings.Repeat("a longer body\n", 40))}
			}
			if i%3 == 0 {
				return seen(m)
			}
			return Change{}
		}, ""},
		{"the first flagged and the last dropped", func(i int, m *Message) Change {
			switch i {
			case 0:
				return seen(m)
			case 15:
				return Change{Drop: true}
			}
			return Change{}
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := data
			if tt.input != "" {
				data = tt.input
			}
			dir := shmDir(t)
			want := filepath.Join(dir, "want")
			if rewriteKilled(t, want, data, tt.plan, 0) {
				t.Fatal("died without a kill")
			}
			newData, _ := os.ReadFile(want)
			path := filepath.Join(dir, "mbox")
			olds, news := 0, 0
			for n := 1; ; n++ {
				if !rewriteKilled(t, path, data, tt.plan, n) {
					if n < 4 {
						t.Fatalf("only %d points to kill at: not a compaction?", n-1)
					}
					break
				}
				crashed, _ := os.ReadFile(path)
				journal, jerr := os.ReadFile(JournalPath(path))
				// Recoveries are killed at every point after every third
				// kill (each point of each would take minutes).
				for m := 1; n%3 == 0 || m == 1; m++ {
					// The state the kill left, then a recovery killed at m,
					// then one that finishes.
					os.WriteFile(path, crashed, 0o600)
					os.Remove(JournalPath(path))
					if jerr == nil {
						os.WriteFile(JournalPath(path), journal, 0o600)
					}
					if !openKilled(t, path, m) {
						break
					}
					openKilled(t, path, 0)
					got, _ := os.ReadFile(path)
					if string(got) != data && !sameButTheTime(got, newData) {
						t.Fatalf("killed at %d, recovery killed at %d: the mailbox is neither old nor new:\n%s", n, m, got)
					}
					if _, err := os.Lstat(JournalPath(path)); err == nil {
						t.Fatalf("killed at %d, recovery killed at %d: the journal is still there", n, m)
					}
				}
				switch got, _ := os.ReadFile(path); {
				case string(got) == data:
					olds++
				case sameButTheTime(got, newData):
					news++
				default:
					t.Fatalf("killed at %d: the mailbox is neither old nor new:\n%s", n, got)
				}
			}
			if olds == 0 || news == 0 {
				t.Errorf("%d kills left the old mailbox, %d the new one: some of each expected", olds, news)
			}
		})
	}
}

func TestAJournalOfAnUnknownFormatIsRefusedAndKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mbox")
	os.WriteFile(path, []byte(journalInput), 0o600)
	os.WriteFile(JournalPath(path), []byte("unixmail journal 9\n1 2 3\n"), 0o600)
	_, err := Open(path, OpenOptions{Owner: -1})
	if err == nil || !strings.Contains(err.Error(), "unknown format") {
		t.Fatalf("Open gave %v, want a refusal naming the unknown format", err)
	}
	if _, err := os.Lstat(JournalPath(path)); errors.Is(err, os.ErrNotExist) {
		t.Error("the journal was removed")
	}
	if data, _ := os.ReadFile(path); string(data) != journalInput {
		t.Errorf("the mailbox changed: %q", data)
	}
}

func TestAWindowAsksForWritebackAfterItsFirstHalfMebibyteThenEveryFourMebibytes(t *testing.T) {
	const k, m = 1 << 10, 1 << 20
	tests := []struct {
		name  string
		below bool       // an expansion's window, written from its end down
		wrote [][2]int64 // the ranges written, in order
		want  [][2]int64 // the ranges hinted, as offset and length
	}{
		{"a window shorter than the first hint asks for nothing", false,
			[][2]int64{{0, 100 * k}, {100 * k, 400 * k}}, nil},
		{"the first hint comes at half a mebibyte", false,
			[][2]int64{{0, 300 * k}, {300 * k, 600 * k}, {600 * k, 1 * m}}, [][2]int64{{0, 600 * k}}},
		{"the hints after it come every four mebibytes", false,
			[][2]int64{{0, 512 * k}, {512 * k, 2 * m}, {2 * m, 4*m + 512*k}, {4*m + 512*k, 5 * m}},
			[][2]int64{{0, 512 * k}, {512 * k, 4 * m}}},
		{"a gap before a range starts the count again", false,
			[][2]int64{{1 * m, 1*m + 400*k}, {0, 300 * k}, {300 * k, 600 * k}}, [][2]int64{{0, 600 * k}}},
		{"an expansion's window counts from its end down", true,
			[][2]int64{{9 * m, 10 * m}, {5 * m, 9 * m}, {4 * m, 5 * m}}, [][2]int64{{9 * m, 1 * m}, {5 * m, 4 * m}}},
	}
	defer func(f func(int, int64, int64, int) error) { syncFileRange = f }(syncFileRange)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [][2]int64
			syncFileRange = func(fd int, off, n int64, flags int) error {
				got = append(got, [2]int64{off, n})
				return nil
			}
			wb := writeback{fd: -1, from: -1}
			for _, r := range tt.wrote {
				if tt.below {
					wb.wroteBelow(r[0], r[1])
				} else {
					wb.wrote(r[0], r[1])
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("hints %v, want %v", got, tt.want)
			}
		})
	}
}
