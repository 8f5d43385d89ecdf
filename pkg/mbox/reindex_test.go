package mbox_test

import (
	"os"
	"path/filepath"
	"testing"

	"unixmail/pkg/mbox"
)

const twoMessages = "From a@b Mon May  6 07:08:09 2024\nX-IMAPbase: 7 0000000002\nX-UID: 1\nSubject: one\n\n1\n\n" +
	"From a@b Mon May  6 07:08:09 2024\nX-UID: 2\nSubject: two\n\n2\n\n"

const third = "From a@b Mon May  6 07:08:09 2024\nX-UID: 3\nSubject: three\n\n3\n\n"

// raiseBase rewrites the first message's X-IMAPbase in place (same
// length), as an IMAP server does before giving new mail its UIDs.
func raiseBase(t *testing.T, path string, idx *mbox.Index, last uint32) {
	t.Helper()
	mb, err := mbox.Open(path, mbox.OpenOptions{Owner: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	var offsets []int64
	for _, e := range idx.Entries {
		offsets = append(offsets, e.Offset)
	}
	err = mbox.RewriteWith(mb, idx.Size, offsets, func(i int, m *mbox.Message) mbox.Change {
		if i == 0 {
			return mbox.Change{Base: &mbox.Base{UIDValidity: 7, LastUID: last}}
		}
		return mbox.Change{}
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAnIndexUpdatedAfterAnAppendReadsTheBaseRaisedInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Mailbox")
	os.WriteFile(path, []byte(twoMessages), 0o600)
	f, _ := os.Open(path)
	defer f.Close()
	idx, err := mbox.UpdateIndex(nil, f)
	if err != nil {
		t.Fatal(err)
	}
	raiseBase(t, path, idx, 3)
	w, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	w.WriteString(third)
	w.Close()
	for name, update := range map[string]func() (*mbox.Index, error){
		"UpdateIndex": func() (*mbox.Index, error) { return mbox.UpdateIndex(idx, f) },
		"Reindex":     func() (*mbox.Index, error) { return mbox.Reindex(idx, f, idx.Size) },
	} {
		got, err := update()
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Entries) != 3 || got.Base == nil || got.Base.LastUID != 3 || got.Entries[2].UID != 3 {
			t.Errorf("%s: %d entries, base %+v", name, len(got.Entries), got.Base)
		}
	}
}

func TestReindexScansOnlyFromWhereTheFileChanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Mailbox")
	os.WriteFile(path, []byte(twoMessages+third), 0o600)
	f, _ := os.Open(path)
	defer f.Close()
	idx, _ := mbox.UpdateIndex(nil, f)
	// Drop the third message by hand: the bytes before it stay.
	os.Truncate(path, idx.Entries[2].Offset)
	got, err := mbox.Reindex(idx, f, idx.Entries[2].Offset)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 2 || got.Entries[1].Next != idx.Entries[2].Offset || got.Base.LastUID != 2 {
		t.Fatalf("after reindex: %+v base %+v", got.Entries, got.Base)
	}
}
