package mbox

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// inBoot makes the system's boot id, as the package sees it, id: a test
// stands for a restart by changing it.
func inBoot(t *testing.T, id byte) {
	t.Helper()
	old := bootID
	bootID = func() [16]byte { return [16]byte{0xb0, 0x07, id} }
	t.Cleanup(func() { bootID = old })
}

// roomyBox writes a mailbox of n messages, each with room for its state
// fields, and saves its index; it gives the mailbox's path and bytes.
func roomyBox(t *testing.T, n, bodySize int) (string, []byte) {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "From a@example.org Mon May  6 07:08:%02d 2024\nSubject: m%d\n%s\n%sbody %d\n\n", i%60, i, Padding(), strings.Repeat(">\n", bodySize/2), i)
	}
	path := filepath.Join(t.TempDir(), "Mailbox")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	aged(t, path)
	if err := indexOf(t, path).Save(IndexPath(path)); err != nil {
		t.Fatal(err)
	}
	return path, []byte(b.String())
}

// indexOf is the index of the mailbox at path: the one saved beside it,
// brought up to date.
func indexOf(t *testing.T, path string) *Index {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	saved, err := LoadIndex(IndexPath(path))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := UpdateIndex(saved, f)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// scannedIndex is the index a scan of the mailbox at path gives, with no
// index saved beside it read.
func scannedIndex(t *testing.T, path string) *Index {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	idx, err := UpdateIndex(nil, f)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// openBox opens the mailbox at path with its index.
func openBox(t *testing.T, path string) (*Mailbox, *Index) {
	t.Helper()
	mb, err := Open(path, OpenOptions{Owner: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mb.Close() })
	return mb, indexOf(t, path)
}

// seenAll is every message of idx made \Seen.
func seenAll(idx *Index) []NumberedState {
	states := make([]NumberedState, len(idx.Entries))
	for i := range states {
		states[i] = NumberedState{i, State{Flags: Seen | Old}}
	}
	return states
}

// lostFlags puts the bytes of the mailbox back as they were before, its
// mtime left as it is now: a power cut that took flags written in place
// but not synced, and kept the inode's new mtime (the journal commits it
// long before the pages are written back).
func lostFlags(t *testing.T, path string, before []byte, _ time.Time) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, before, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// lostMtime puts the mtime of the mailbox back to was, its bytes left as
// they are now: a power cut after the pages were written back (a sync by
// anyone) but before the journal committed the new mtime.
func lostMtime(t *testing.T, path string, _ []byte, was time.Time) {
	t.Helper()
	if err := os.Chtimes(path, was, was); err != nil {
		t.Fatal(err)
	}
}

// seenIn counts the messages the index of the mailbox at path, brought up
// to date, says are \Seen.
func seenIn(t *testing.T, path string) int {
	t.Helper()
	idx := indexOf(t, path)
	n := 0
	for _, e := range idx.Entries {
		if e.Flags&Seen != 0 {
			n++
		}
	}
	return n
}

func TestFlagsWrittenWithoutASyncAreTrustedFromTheIndexInTheirBootOnly(t *testing.T) {
	for _, tc := range []struct {
		name     string
		saved    bool // the index was saved after the writes, not only marked before
		cut      func(t *testing.T, path string, before []byte, mtime time.Time)
		wantSeen int // what the file holds, after a cut
	}{
		{"the index saved after, the flags lost", true, lostFlags, 0},
		{"the index saved after, the mtime lost", true, lostMtime, 3},
		{"only the mark saved before, the flags lost", false, lostFlags, 0},
		{"only the mark saved before, the mtime lost", false, lostMtime, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inBoot(t, 1)
			path, before := roomyBox(t, 3, 0)
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			mb, idx := openBox(t, path)
			out, ok, err := WriteStates(mb, idx, seenAll(idx), false)
			if err != nil || !ok || !out.Unsynced() {
				t.Fatalf("WriteStates: ok %v, err %v, marked %v", ok, err, out.Unsynced())
			}
			if tc.saved {
				if err := out.Save(IndexPath(path)); err != nil {
					t.Fatal(err)
				}
			}
			mb.Close()
			if onDisk, _ := LoadIndex(IndexPath(path)); onDisk == nil || !onDisk.Unsynced() {
				t.Fatal("the index on disk is not marked")
			}
			if got := seenIn(t, path); got != 3 {
				t.Fatalf("in the same boot: %d messages seen, want 3", got)
			}
			tc.cut(t, path, before, st.ModTime())
			inBoot(t, 2)
			if got := seenIn(t, path); got != tc.wantSeen {
				t.Fatalf("after a restart the index stood for a file that differs: %d seen, want %d", got, tc.wantSeen)
			}
			if MappedExact(t, path) {
				t.Fatal("the mapped index stood for the file after a restart")
			}
		})
	}
}

func TestTheMarkGoesOnceTheMailboxIsSyncedAndStaysThroughAnAppend(t *testing.T) {
	for _, tc := range []struct {
		name       string
		then       func(t *testing.T, path string, mb *Mailbox, idx *Index) *Index
		wantMarked bool
	}{
		{"CHECK's sync", func(t *testing.T, _ string, mb *Mailbox, idx *Index) *Index {
			out, err := SyncStates(mb, idx)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}, false},
		{"flags written again with a sync", func(t *testing.T, _ string, mb *Mailbox, idx *Index) *Index {
			states := seenAll(idx)
			states[0].State = State{Flags: Old | Flagged}
			out, ok, err := WriteStates(mb, idx, states, true)
			if err != nil || !ok {
				t.Fatalf("ok %v, err %v", ok, err)
			}
			return out
		}, false},
		{"an expunge", func(t *testing.T, _ string, mb *Mailbox, idx *Index) *Index {
			offsets := []int64{idx.Entries[0].Offset, idx.Entries[1].Offset, idx.Entries[2].Offset}
			if err := RewriteSome(mb, idx.Size, offsets, map[int]Change{0: {Drop: true}}); err != nil {
				t.Fatal(err)
			}
			out, err := ReindexRewritten(idx, mb, idx.Entries[0].Offset)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}, false},
		{"mail appended", func(t *testing.T, _ string, mb *Mailbox, idx *Index) *Index {
			err := mb.Append(context.Background(), func(w io.Writer) error {
				_, err := WriteMessage(w, FromLine("b@example.org", time.Unix(1700000000, 0)), strings.NewReader("Subject: new\n\nnew\n"))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			out, err := Reindex(idx, mb.File, idx.Size)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}, true},
		{"another program's change in place", func(t *testing.T, path string, mb *Mailbox, idx *Index) *Index {
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(path)
			if err := os.WriteFile(path, []byte(strings.Replace(string(b), "body 2", "BODY 2", 1)), 0o600); err != nil {
				t.Fatal(err)
			}
			// Another mtime, whatever the clock's grain.
			later := st.ModTime().Add(time.Second)
			if err := os.Chtimes(path, later, later); err != nil {
				t.Fatal(err)
			}
			out, err := UpdateIndex(idx, mb.File)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inBoot(t, 1)
			path, _ := roomyBox(t, 3, 0)
			mb, idx := openBox(t, path)
			out, ok, err := WriteStates(mb, idx, seenAll(idx), false)
			if err != nil || !ok {
				t.Fatalf("ok %v, err %v", ok, err)
			}
			if got := tc.then(t, path, mb, out).Unsynced(); got != tc.wantMarked {
				t.Fatalf("marked %v, want %v", got, tc.wantMarked)
			}
		})
	}
}

// The writes go to the kernel in one batch (filewrite), each whole or not
// at all; a kill during the batch is that of a process between two
// pwrites, which killPoint cannot stop it at.
func TestFlagWritesKilledAtAnyPointLeaveEveryMessageWholeWithItsOldOrNewFlags(t *testing.T) {
	inBoot(t, 1)
	// Messages far enough apart to be written each on its own.
	path, before := roomyBox(t, 5, 8<<10)
	for n := 1; ; n++ {
		if err := os.WriteFile(path, before, 0o600); err != nil {
			t.Fatal(err)
		}
		mb, idx := openBox(t, path)
		killAt(t, n)
		died := dies(t, func() error {
			_, _, err := WriteStates(mb, idx, seenAll(idx), false)
			return err
		})
		killPoint = func() {}
		mb.Close()
		after := scannedIndex(t, path)
		if len(after.Entries) != 5 {
			t.Fatalf("killed at write %d: %d messages, want 5", n, len(after.Entries))
		}
		data, _ := os.ReadFile(path)
		for i, e := range after.Entries {
			if f := e.Flags; f != 0 && f != Seen|Old {
				t.Errorf("killed at write %d: message %d has flags %v", n, i, f)
			}
			if body := string(data[e.BodyOffset:e.End]); body != strings.Repeat(">\n", 4<<10)+fmt.Sprintf("body %d\n", i) {
				t.Errorf("killed at write %d: message %d has body %q", n, i, body)
			}
			if !died && e.Flags == 0 {
				t.Errorf("not killed: message %d not written", i)
			}
		}
		if !died {
			break
		}
	}
}

func TestFlagWritesGatheredGiveTheFileWritingEachAloneGives(t *testing.T) {
	for _, tc := range []struct {
		name     string
		n, body  int
		changed  func(i int) bool
		keywords bool
	}{
		{"small messages, every one", 40, 0, func(int) bool { return true }, false},
		{"small messages, every third", 40, 0, func(i int) bool { return i%3 == 0 }, true},
		{"a page apart, every other", 12, 3 << 10, func(i int) bool { return i%2 == 1 }, false},
		{"far apart, every one", 6, 40 << 10, func(int) bool { return true }, true},
		{"enough for every processor", 5000, 0, func(i int) bool { return i%7 != 0 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inBoot(t, 1)
			path, before := roomyBox(t, tc.n, tc.body)
			states := map[int]State{}
			var sorted []NumberedState
			for i := range tc.n {
				if tc.changed(i) {
					states[i] = State{Flags: Seen | Old | Answered}
					if tc.keywords {
						states[i] = State{Flags: Flagged, Keywords: []string{"$Work"}}
					}
				}
			}
			mb, idx := openBox(t, path)
			for i := range tc.n {
				if st, ok := states[i]; ok {
					sorted = append(sorted, NumberedState{i, st})
				}
			}
			if _, ok, err := WriteStates(mb, idx, sorted, false); err != nil || !ok {
				t.Fatalf("ok %v, err %v", ok, err)
			}
			mb.Close()
			gathered, _ := os.ReadFile(path)
			after := scannedIndex(t, path)
			if len(after.Entries) != tc.n || len(gathered) != len(before) {
				t.Fatalf("%d messages, %d bytes; want %d, %d", len(after.Entries), len(gathered), tc.n, len(before))
			}
			for i, e := range after.Entries {
				if st, ok := states[i]; ok && (e.Flags != st.Flags || strings.Join(e.Keywords, " ") != strings.Join(st.Keywords, " ")) || !ok && (e.Flags != 0 || e.Keywords != nil) {
					t.Fatalf("message %d: flags %v %v", i, e.Flags, e.Keywords)
				}
			}
			if tc.n > 100 {
				return // each alone would take long
			}

			os.WriteFile(path, before, 0o600)
			mb, idx = openBox(t, path)
			for i, st := range states {
				out, ok, err := WriteStates(mb, idx, []NumberedState{{i, st}}, true)
				if err != nil || !ok {
					t.Fatalf("message %d alone: ok %v, err %v", i, ok, err)
				}
				idx = out
			}
			mb.Close()
			alone, _ := os.ReadFile(path)
			if string(gathered) != string(alone) {
				t.Fatal("the gathered writes give another file than the writes of each message alone")
			}
		})
	}
}
