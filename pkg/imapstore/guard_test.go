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

// spooled is what a spool holds of its one message.
func spooled(t *testing.T, sp *spool) string {
	t.Helper()
	if len(sp.items) != 1 {
		t.Fatalf("the spool holds %d messages, want 1", len(sp.items))
	}
	b, err := io.ReadAll(io.NewSectionReader(sp.f, sp.items[0].off, sp.items[0].n))
	if err != nil {
		t.Fatal(err)
	}
	return sp.items[0].from + "\n" + string(b)
}

func TestACopyOfAMessageAnotherProgramMovedIsTheWholeMessageFromWhereItIsNowOrNothing(t *testing.T) {
	u := newUser(t)
	u.deliver(u.inbox, msg("one", strings.Repeat("first message\n", 3000)), msg("two", "2\n"),
		msg("three", strings.Repeat("third message\n", 20000)))
	s := NewPreauthSession(u.store())
	defer s.Close()
	if _, err := s.Select("INBOX", &imap.SelectOptions{}); err != nil {
		t.Fatal(err)
	}
	three := s.sel.entry(s.sel.msgs[2].uid)
	newSpool := func() *spool {
		sp, err := s.st.newSpool()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sp.close)
		return sp
	}
	sp := newSpool()
	if err := sp.addEntry(&guard{s: s}, three); err != nil {
		t.Fatal(err)
	}
	want := spooled(t, sp)

	// Moved before the copy: read where it is now (the entry in hand
	// is the snapshot's, at the old place).
	expungeElsewhere(t, u, "1")
	sp = newSpool()
	if err := sp.addEntry(&guard{s: s}, three); err != nil {
		t.Fatal(err)
	}
	if got := spooled(t, sp); got != want {
		t.Fatalf("copied after the move: %d bytes %.80q, want %d bytes %.80q", len(got), got, len(want), want)
	}

	// Without a session to find it in (RENAME INBOX, which holds our
	// lock): the copy fails, nothing of it left in the spool.
	f, err := os.Open(u.inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stp, err := stampOf(f)
	if err != nil {
		t.Fatal(err)
	}
	e := s.sel.entry(three.UID)
	expungeElsewhere(t, u, "1")
	sp = newSpool()
	var ie *imap.Error
	if err := sp.addEntry(&guard{f: f, stamp: stp}, e); !errors.As(err, &ie) || ie.Code != imap.ResponseCodeInUse || len(sp.items) != 0 || sp.size != 0 {
		t.Fatalf("a copy of a file changed under a lock-holder: %v, %d messages in the spool", err, len(sp.items))
	}
	if fi, _ := sp.f.Stat(); fi.Size() != 0 {
		t.Fatalf("the spool file holds %d bytes of the copy that failed", fi.Size())
	}

	// Expunged before the copy: NO [EXPUNGEISSUE], nothing copied.
	expungeElsewhere(t, u, "1")
	sp = newSpool()
	if err := sp.addEntry(&guard{s: s}, e); !errors.As(err, &ie) || ie.Code != "EXPUNGEISSUE" || len(sp.items) != 0 {
		t.Fatalf("a copy of a message expunged meanwhile: %v, %d messages in the spool", err, len(sp.items))
	}
}
