package mbox_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"unixmail/pkg/mbox"
)

func TestWriteStatesWritesIntoThePaddingAndMovesNothing(t *testing.T) {
	padded := "From a@b Mon May  6 07:08:09 2024\nSubject: one\n" + mbox.Padding() + "\nbody\n\n"
	bare := "From a@b Mon May  6 07:08:09 2024\nSubject: two\n\nbody\n\n"
	for _, tc := range []struct {
		name, file string
		fits       bool
	}{
		{"padded by deliver", padded + padded, true},
		{"one without room", padded + bare, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "box")
			os.WriteFile(path, []byte(tc.file), 0o600)
			mb, err := mbox.Open(path, mbox.OpenOptions{Owner: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer mb.Close()
			idx, err := mbox.UpdateIndex(nil, mb.File)
			if err != nil {
				t.Fatal(err)
			}
			states := []mbox.NumberedState{
				{I: 0, State: mbox.State{Flags: mbox.Seen | mbox.Old | mbox.Flagged | mbox.Answered | mbox.Deleted | mbox.Draft}},
				{I: 1, State: mbox.State{Flags: mbox.Seen | mbox.Old, Keywords: []string{"$Work"}}},
			}
			out, ok, err := mbox.WriteStates(mb, idx, states, true)
			if err != nil || ok != tc.fits {
				t.Fatalf("ok %v, err %v; want ok %v", ok, err, tc.fits)
			}
			got, _ := os.ReadFile(path)
			if !tc.fits {
				if string(got) != tc.file {
					t.Fatalf("written though one had no room:\n%s", got)
				}
				return
			}
			if len(got) != len(tc.file) || !strings.Contains(string(got), "Status: RO\nX-Status: DFAT\nX-Keywords:") || !strings.Contains(string(got), "X-Keywords: $Work ") {
				t.Fatalf("after WriteStates:\n%s", got)
			}
			again, err := mbox.UpdateIndex(nil, mb.File)
			if err != nil {
				t.Fatal(err)
			}
			for i := range again.Entries {
				a, b := again.Entries[i], out.Entries[i]
				if a.Flags != b.Flags || strings.Join(a.Keywords, " ") != strings.Join(b.Keywords, " ") || a.ClientSize != b.ClientSize || a.Next != b.Next {
					t.Errorf("message %d: the index says %+v, the file %+v", i, b, a)
				}
			}
		})
	}
}
