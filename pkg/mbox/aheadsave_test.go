package mbox

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// statesOfAll gives every message of idx flags: \Flagged on every third,
// \Seen on the others.
func statesOfAll(idx *Index) []NumberedState {
	states := make([]NumberedState, len(idx.Entries))
	for i := range states {
		f := Seen | Old
		if i%3 == 0 {
			f = Flagged | Old
		}
		states[i] = NumberedState{I: i, State: State{Flags: f}}
	}
	return states
}

// sameEntries reports where two indexes' entries differ in what Save keeps.
func sameEntries(t *testing.T, got, want *Index) {
	t.Helper()
	if len(got.Entries) != len(want.Entries) {
		t.Fatalf("%d entries, want %d", len(got.Entries), len(want.Entries))
	}
	for i := range want.Entries {
		g, w := &got.Entries[i], &want.Entries[i]
		if g.Flags != w.Flags || g.Room != w.Room || g.UID != w.UID || g.Offset != w.Offset || g.End != w.End || !slices.Equal(g.Keywords, w.Keywords) {
			t.Fatalf("entry %d: %+v, want %+v", i, *g, *w)
		}
	}
}

func TestAFlagChangeToEveryMessageSavesTheIndexWrittenDuringItsWritesAsSaveWould(t *testing.T) {
	for _, sync := range []bool{false, true} {
		t.Run(map[bool]string{false: "unsynced", true: "synced"}[sync], func(t *testing.T) {
			// Enough messages that Save writes the index whole rather than
			// append a record of them all.
			path, _ := roomyBox(t, 1000, 0)
			mb, err := Open(path, OpenOptions{Owner: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer mb.Close()
			out, ok, saved, err := WriteStatesSaved(mb, indexOf(t, path), statesOfAll(indexOf(t, path)), sync)
			if err != nil || !ok || !saved {
				t.Fatalf("WriteStatesSaved: ok %v, saved %v, %v", ok, saved, err)
			}
			if d := out.disk; d.baseLen >= d.size {
				t.Fatalf("the index was not written ahead: a file of %d bytes, its first record to %d", d.size, d.baseLen)
			}
			loaded, err := LoadIndex(IndexPath(path))
			if err != nil || loaded == nil {
				t.Fatalf("LoadIndex: %v", err)
			}
			sameEntries(t, loaded, out)
			if loaded.mtime != out.mtime || loaded.unsynced != out.unsynced || loaded.roomGen != out.roomGen || loaded.Size != out.Size {
				t.Fatalf("header loaded: mtime %d, mark %x, rooms %d, size %d; saved: %d, %x, %d, %d",
					loaded.mtime, loaded.unsynced, loaded.roomGen, loaded.Size, out.mtime, out.unsynced, out.roomGen, out.Size)
			}
			if (out.unsynced == [16]byte{}) != sync {
				t.Fatalf("mark %x after a write with sync %v", out.unsynced, sync)
			}
			var st unix.Stat_t
			if err := unix.Fstat(int(mb.File.Fd()), &st); err != nil || !loaded.fits(mb.File, &st) {
				t.Fatalf("the index saved does not stand for the file (%v)", err)
			}
			m, err := MapIndex(IndexPath(path))
			if err != nil || m == nil {
				t.Fatalf("MapIndex: %v", err)
			}
			sum := m.Summary()
			m.Close()
			if sum.Messages != 1000 || sum.Unseen != 334 || sum.FirstUnseen != 0 {
				t.Fatalf("summary %+v; want 1000 messages, the 334 flagged ones unseen, from the first", sum)
			}
			// The next change appends a record to that file, as to one
			// Save wrote.
			more := []NumberedState{{I: 999, State: State{Flags: Seen | Old | Answered}}}
			again, ok, saved, err := WriteStatesSaved(mb, out, more, sync)
			if err != nil || !ok || !saved {
				t.Fatalf("second WriteStatesSaved: ok %v, saved %v, %v", ok, saved, err)
			}
			if again.disk.baseLen != out.disk.baseLen || again.disk.size <= out.disk.size {
				t.Fatalf("second save: file of %d bytes, first record to %d; was %d, %d", again.disk.size, again.disk.baseLen, out.disk.size, out.disk.baseLen)
			}
			loaded, err = LoadIndex(IndexPath(path))
			if err != nil || loaded == nil {
				t.Fatalf("LoadIndex: %v", err)
			}
			sameEntries(t, loaded, again)
			if left, _ := filepath.Glob(IndexPath(path) + ".tmp-*"); len(left) > 0 {
				t.Fatalf("temporary files left: %v", left)
			}
		})
	}
}

func TestAnIndexWrittenAheadAndDroppedLeavesTheOneBeforeAndNoFile(t *testing.T) {
	path, _ := roomyBox(t, 300, 0)
	before, err := os.ReadFile(IndexPath(path))
	if err != nil {
		t.Fatal(err)
	}
	idx := indexOf(t, path)
	a := &aheadSave{done: make(chan error, 1)}
	a.begin(IndexPath(path), idx, idx.Entries, bootID())
	a.drop()
	after, err := os.ReadFile(IndexPath(path))
	if err != nil || string(after) != string(before) {
		t.Fatalf("the index changed (%v)", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Fatalf("left behind: %s", e.Name())
		}
	}
}

func TestTheFirstRecordOfAnIndexWrittenAheadStandsForNoFile(t *testing.T) {
	path, _ := roomyBox(t, 300, 0)
	idx := indexOf(t, path)
	a := &aheadSave{done: make(chan error, 1)}
	a.begin(IndexPath(path), idx, idx.Entries, bootID())
	if err := <-a.done; err != nil {
		t.Fatal(err)
	}
	defer a.w.discard()
	// Were it renamed into place without the second record (it never
	// is), it would stand for no file: not this one, nor this one with
	// mail appended.
	half, err := LoadIndex(a.w.tmp.Name())
	if err != nil || half == nil {
		t.Fatalf("LoadIndex of the first record: %v", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, when := range []string{"as it is", "with mail appended"} {
		if when != "as it is" {
			if _, err := f.WriteString("From c@example.org Mon May  6 07:09:00 2024\nSubject: new\n\nnew\n\n"); err != nil {
				t.Fatal(err)
			}
		}
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil {
			t.Fatal(err)
		}
		if half.fits(f, &st) {
			t.Fatalf("the first record alone stands for the mailbox %s", when)
		}
		if !idx.fits(f, &st) {
			t.Fatalf("the index before does not stand for the mailbox %s: the test proves nothing", when)
		}
	}
}
