package mbox

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestReindexRewrittenFindsWhatAScanOfTheRewrittenFileFinds(t *testing.T) {
	seen := func(e *Entry) Change {
		st := e.State
		st.Flags |= Seen | Old
		return Change{State: &st}
	}
	const late = "From late@example.org  Wed Nov 25 18:00:00 2026\nSubject: late\n\nlate mail\n\n"
	tests := []struct {
		name     string
		change   func(i int, e *Entry) (Change, bool)
		appended string
	}{
		{"every third dropped", func(i int, e *Entry) (Change, bool) { return Change{Drop: true}, i%3 == 1 }, ""},
		{"the first dropped (its base moves on)", func(i int, e *Entry) (Change, bool) { return Change{Drop: true}, i == 0 }, ""},
		{"the last dropped", func(i int, e *Entry) (Change, bool) { return Change{Drop: true}, i == 23 }, ""},
		{"all dropped", func(i int, e *Entry) (Change, bool) { return Change{Drop: true}, true }, ""},
		{"one flagged (the rest padded)", func(i int, e *Entry) (Change, bool) { return seen(e), i == 4 }, ""},
		{"every message flagged", func(i int, e *Entry) (Change, bool) { return seen(e), true }, ""},
		{"flagged and dropped", func(i int, e *Entry) (Change, bool) {
			if i%4 == 0 {
				return Change{Drop: true}, true
			}
			return seen(e), i%3 == 0
		}, ""},
		{"UIDs written", func(i int, e *Entry) (Change, bool) { return Change{UID: uint32(100 + i)}, i%5 == 2 }, ""},
		{"one given new content", func(i int, e *Entry) (Change, bool) {
			return Change{Content: strings.NewReader("Subject: new\n\nnew body\n")}, i == 9
		}, ""},
		{"flagged, with mail appended meanwhile", func(i int, e *Entry) (Change, bool) { return seen(e), i == 20 }, late},
		{"dropped, with mail appended meanwhile", func(i int, e *Entry) (Change, bool) { return Change{Drop: true}, i == 23 || i == 2 }, late},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mb, idx := openScanned(t, compactInput(24))
			if tt.appended != "" {
				if _, err := mb.File.WriteAt([]byte(tt.appended), idx.Size); err != nil {
					t.Fatal(err)
				}
			}
			changes := map[int]Change{}
			offsets := make([]int64, len(idx.Entries))
			from := idx.Size
			for i := range idx.Entries {
				offsets[i] = idx.Entries[i].Offset
				if c, ok := tt.change(i, &idx.Entries[i]); ok {
					changes[i] = c
					from = min(from, offsets[i])
				}
			}
			if err := RewriteSome(mb, idx.Size, offsets, changes); err != nil {
				t.Fatal(err)
			}
			got, err := ReindexRewritten(idx, mb, from)
			if err != nil {
				t.Fatal(err)
			}
			want, err := Reindex(idx, mb.File, from)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Entries) != len(want.Entries) {
				t.Fatalf("%d entries, want %d", len(got.Entries), len(want.Entries))
			}
			for i := range want.Entries {
				g, w := &got.Entries[i], &want.Entries[i]
				if !sameEntry(g, w) || g.Sum != w.Sum || g.Lazy != w.Lazy {
					t.Errorf("entry %d:\n%+v\nwant\n%+v", i, *g, *w)
				}
			}
			if (got.Base == nil) != (want.Base == nil) || got.Base != nil && (got.Base.UIDValidity != want.Base.UIDValidity ||
				got.Base.LastUID != want.Base.LastUID || !slices.Equal(got.Base.Keywords, want.Base.Keywords)) {
				t.Errorf("base %+v, want %+v", got.Base, want.Base)
			}
			if got.Size != want.Size || got.tail != want.tail {
				t.Errorf("size %d, want %d (or the tail differs)", got.Size, want.Size)
			}
		})
	}
}

func TestReindexRewrittenKeepsTheUIDsTheIndexGaveEveryMessageItMoved(t *testing.T) {
	var b strings.Builder
	for i := range 12 {
		fmt.Fprintf(&b, "From a@example.org  Wed Nov 25 17:%02d:14 2026\nSubject: m%02d\n\nbody %d\n\n", i, i, i)
	}
	mb, idx := openScanned(t, b.String())
	idx.Number(nil, time.Unix(1764000000, 0)) // UIDs in the index alone
	offsets := make([]int64, len(idx.Entries))
	for i := range idx.Entries {
		offsets[i] = idx.Entries[i].Offset
	}
	if err := RewriteSome(mb, idx.Size, offsets, map[int]Change{3: {Drop: true}}); err != nil {
		t.Fatal(err)
	}
	got, err := ReindexRewritten(idx, mb, offsets[3])
	if err != nil {
		t.Fatal(err)
	}
	// Before any numbering: the last message, read again, has its UID too.
	var uids []uint32
	for _, e := range got.Entries {
		if !e.Lazy {
			t.Errorf("message %d: its UID is not the index's", e.UID)
		}
		uids = append(uids, e.UID)
	}
	if want := []uint32{1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12}; !slices.Equal(uids, want) {
		t.Fatalf("UIDs %v, want %v", uids, want)
	}
}

// openScanned opens a new mailbox holding data, with its index scanned;
// the mailbox is closed when the test ends.
func openScanned(t *testing.T, data string) (*Mailbox, *Index) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mbox")
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	mb, err := Open(path, OpenOptions{Owner: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mb.Close() })
	idx, err := UpdateIndex(nil, mb.File)
	if err != nil {
		t.Fatal(err)
	}
	return mb, idx
}
