package imapstore

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// expungeElsewhere expunges message seq of INBOX through another session
// on its own store, as another imapd process would: the file is rewritten
// in place and every later message moves.
func expungeElsewhere(t *testing.T, u *testUser, seq string) {
	t.Helper()
	w := dial(t, u.store())
	w.ok("SELECT INBOX")
	w.ok(`STORE %s +FLAGS.SILENT (\Deleted)`, seq)
	w.ok("EXPUNGE")
	w.ok("LOGOUT")
}

func TestAMessageReadWhileAnotherProgramRewritesTheFileIsFollowedToWhereItMoved(t *testing.T) {
	u := newUser(t)
	u.deliver(u.inbox, msg("one", strings.Repeat("first message\n", 3000)), msg("two", "2\n"),
		msg("three", strings.Repeat("third message\n", 20000)), msg("four", "4\n"))
	s := NewPreauthSession(u.store())
	defer s.Close()
	if _, err := s.Select("INBOX", &imap.SelectOptions{}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(u.inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	three := s.sel.entry(s.sel.msgs[2].uid)
	want, _ := io.ReadAll(view(f, three))

	// Moved before the read starts: the header and the view are read
	// where the message is now.
	expungeElsewhere(t, u, "1")
	g := &guard{s: s}
	if h := header(g, three); h.Get("Subject") != "three" {
		t.Errorf("header read through the guard: Subject %q", h.Get("Subject"))
	}
	g.next()
	if got, err := io.ReadAll(view(g, s.sel.entry(three.UID))); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read after the rewrite: %v, %d bytes, want %d", err, len(got), len(want))
	}

	// Moved in the middle of the read (the message is bigger than what
	// a view reads ahead): it goes on from the same byte.
	g = &guard{s: s}
	r := view(g, s.sel.entry(three.UID))
	start := make([]byte, 100)
	if _, err := io.ReadFull(r, start); err != nil {
		t.Fatal(err)
	}
	expungeElsewhere(t, u, "1")
	rest, err := io.ReadAll(r)
	if got := append(start, rest...); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read across the rewrite: %v, %d bytes, want %d", err, len(got), len(want))
	}

	// Expunged in the middle of the read: an error, never other bytes.
	g = &guard{s: s}
	r = view(g, s.sel.entry(three.UID))
	if _, err := io.ReadFull(r, start); err != nil {
		t.Fatal(err)
	}
	expungeElsewhere(t, u, "1")
	rest, err = io.ReadAll(r)
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Code != "EXPUNGEISSUE" || !bytes.HasPrefix(want[100:], rest) {
		t.Fatalf("read of a message expunged meanwhile: %v after %d bytes", err, len(rest))
	}
}

func TestAFetchOfAMessageExpungedWhileItsLiteralIsSentIsCutShort(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		cut  bool
	}{
		{"a read that fails", errors.New("gone"), true},
		{"a read that ends early", io.EOF, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := copyExactly(&out, io.MultiReader(strings.NewReader("abc"), errReader{tt.err}), 6)
			if errors.Is(err, ErrCutShort) != tt.cut {
				t.Fatalf("copyExactly: %v", err)
			}
			if !tt.cut && out.String() != "abc   " {
				t.Fatalf("padded to %q", out.String())
			}
		})
	}
}
