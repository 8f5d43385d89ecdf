package mbox_test

import (
	"os"
	"strings"
	"testing"

	"unixmail/pkg/mbox"
)

// TestRewriteWithReplacesAMessageKeepingItsFromLine replaces message 2 with
// edited text holding a From_-like body line, drops message 1 (so its
// X-IMAPbase moves to the edited one) and keeps message 3 byte for byte.
func TestRewriteWithReplacesAMessageKeepingItsFromLine(t *testing.T) {
	path, known, offs := rewriteFile(t, rewriteInput)
	mb := openRW(t, path)
	edited := "From: bob@example.org\nSubject: two, edited\nX-UID: 2\n\nnew body\nFrom the editor\n"
	err := mbox.RewriteWith(mb, known, offs, func(i int, m *mbox.Message) mbox.Change {
		switch i {
		case 0:
			return mbox.Change{Drop: true}
		case 1:
			st := m.State
			st.Flags |= mbox.Seen
			return mbox.Change{State: &st, Content: strings.NewReader(edited)}
		}
		return mbox.Change{}
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want := "From bob@example.org  Wed Nov 25 17:25:14 2026\n" +
		"From: bob@example.org\nSubject: two, edited\nX-IMAPbase: 1795600000 4\nX-UID: 2\nStatus: RO\nX-Keywords:" + strings.Repeat(" ", 32) + "\n\nnew body\n>From the editor\n\n" +
		rewriteInput[strings.Index(rewriteInput, "From carol@"):]
	if string(got) != want {
		t.Errorf("after the rewrite:\n%s\nwant:\n%s", got, want)
	}
	msgs := mustScan(t, got)
	if len(msgs) != 2 || msgs[0].UID != 2 || msgs[0].Flags != mbox.Seen|mbox.Old {
		t.Errorf("scanned back: %+v", msgs)
	}
}
