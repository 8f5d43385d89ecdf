package imapstore

import (
	"os"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"unixmail/pkg/mbox"
)

// indexedInbox is a big folder of n messages that a first session has
// selected (numbering them, and making them old) and left, so that its
// index fits the file.
func indexedInbox(t *testing.T, n int) *testUser {
	t.Helper()
	bigFolders(t)
	u := newUser(t)
	for i := range n {
		u.deliver(u.inbox, msg("m"+string(rune('a'+i)), "body\n"))
	}
	w := dial(t, u.store())
	w.ok("SELECT INBOX")
	w.ok("LOGOUT")
	return u
}

func wants(t *testing.T, what, out string, want ...string) {
	t.Helper()
	for _, s := range want {
		if !strings.Contains(out, s) {
			t.Errorf("%s lacks %q:\n%s", what, s, out)
		}
	}
}

func TestASelectOfAFittingIndexDecodesNoMessageUntilOneIsAskedFor(t *testing.T) {
	u := indexedInbox(t, 3)
	s := NewPreauthSession(u.store())
	defer s.Close()
	data, err := s.Select("INBOX", &imap.SelectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if data.NumMessages != 3 || data.NumRecent != 0 || data.UIDNext != 4 || data.FirstUnseenSeqNum != 1 {
		t.Fatalf("SELECT gave %+v", data)
	}
	if s.sel.pending == nil || s.sel.snap != nil {
		t.Fatal("SELECT decoded the index")
	}
	if err := s.Poll(nil, true); err != nil || s.sel.pending == nil {
		t.Fatalf("a poll of the unchanged folder decoded the index (%v)", err)
	}
	if _, err := s.UIDs(imap.SeqSetNum(2)); err != nil || s.sel.pending != nil || len(s.sel.msgs) != 3 {
		t.Fatalf("after a command on the messages: %v, pending %v, %d messages", err, s.sel.pending != nil, len(s.sel.msgs))
	}
}

func TestASelectFromTheIndexAnswersAsAReadOfTheFolderWould(t *testing.T) {
	u := indexedInbox(t, 4)
	w := dial(t, u.store())
	w.ok("SELECT INBOX")
	w.ok(`STORE 1:2 +FLAGS (\Seen)`)
	w.ok(`STORE 3 +FLAGS (work)`)
	w.ok("LOGOUT")

	w2 := dial(t, u.store())
	wants(t, "SELECT", w2.ok("SELECT INBOX"), "* 4 EXISTS", "* 0 RECENT", "[UNSEEN 3]", "[UIDNEXT 5]", "FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft work)", "[READ-WRITE]")
	wants(t, "FETCH", w2.ok("FETCH 1:* (UID FLAGS)"), "* 1 FETCH (UID 1 FLAGS (\\Seen))", "* 3 FETCH (UID 3 FLAGS (work))", "* 4 FETCH (UID 4 FLAGS ())")
}

func TestAnExamineFromTheIndexShowsTheMessagesStillRecent(t *testing.T) {
	u, w := bigInbox(t, msg("one", "1\n"), msg("two", "2\n"))
	w.ok("EXAMINE INBOX") // numbers them in the index, leaves them new
	w.ok("LOGOUT")

	w2 := dial(t, u.store())
	wants(t, "EXAMINE", w2.ok("EXAMINE INBOX"), "* 2 EXISTS", "* 2 RECENT", "[READ-ONLY]")
	wants(t, "FETCH", w2.ok("FETCH 2 FLAGS"), "* 2 FETCH (FLAGS (\\Recent))")
	// A read-write SELECT takes them: they are \Recent to it alone.
	w3 := dial(t, u.store())
	wants(t, "SELECT", w3.ok("SELECT INBOX"), "* 2 RECENT")
	w4 := dial(t, u.store())
	wants(t, "SELECT", w4.ok("SELECT INBOX"), "* 0 RECENT")
}

func TestMailDeliveredAfterASelectFromTheIndexIsAnnounced(t *testing.T) {
	u := indexedInbox(t, 3)
	w := dial(t, u.store())
	w.ok("SELECT INBOX")
	if out := w.ok("NOOP"); strings.Contains(out, "EXISTS") {
		t.Fatalf("NOOP on an unchanged folder: %s", out)
	}
	u.deliver(u.inbox, msg("four", "4\n"), msg("five", "5\n"))
	wants(t, "NOOP", w.ok("NOOP"), "* 5 EXISTS", "* 2 RECENT")
	wants(t, "FETCH", w.ok("FETCH 4:5 UID"), "* 4 FETCH (UID 4)", "* 5 FETCH (UID 5)")
}

func TestExpungesByAnotherSessionAfterASelectFromTheIndexAreAnnounced(t *testing.T) {
	u := indexedInbox(t, 3)
	w := dial(t, u.store())
	w.ok("SELECT INBOX")
	// Another session (a process of its own, as far as files go) removes
	// the first message: the file is rewritten, the index saved anew.
	w2 := dial(t, u.store())
	w2.ok("SELECT INBOX")
	w2.ok(`STORE 1 +FLAGS (\Deleted)`)
	w2.ok("EXPUNGE")
	w2.ok("LOGOUT")
	wants(t, "NOOP", w.ok("NOOP"), "* 1 EXPUNGE")
	out := w.ok("FETCH 1:* UID")
	wants(t, "FETCH", out, "* 1 FETCH (UID 2)", "* 2 FETCH (UID 3)")
	if strings.Contains(out, "* 3 FETCH") {
		t.Fatalf("the message expunged is still shown:\n%s", out)
	}
}

func TestAFetchFromTheIndexAloneGivesWhatAFetchFromTheWholeViewGives(t *testing.T) {
	u := indexedInbox(t, 6)
	w := dial(t, u.store())
	w.ok("SELECT INBOX")
	w.ok(`STORE 2 +FLAGS (\Seen $Work)`)
	w.ok(`STORE 5 +FLAGS (\Flagged)`)
	w.ok("LOGOUT")
	u.deliver(u.inbox, msg("new", "fresh\n")) // \Recent to an EXAMINE
	w = dial(t, u.store())
	w.ok("EXAMINE INBOX")
	w.ok("LOGOUT")
	fetches := []string{
		"FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)",
		"FETCH 2,5:* (FLAGS BODY.PEEK[HEADER.FIELDS (Subject)])",
		"FETCH 3 (BODYSTRUCTURE BODY.PEEK[1] ENVELOPE)",
		"UID FETCH 4:6 (FLAGS BODY.PEEK[])",
		"UID FETCH 6:* FLAGS",
		"FETCH 9 FLAGS",
	}
	for _, mode := range []string{"EXAMINE", "SELECT"} {
		if mode == "SELECT" {
			// The first read-write session takes the \Recent message;
			// the others select from the index.
			w = dial(t, u.store())
			w.ok("SELECT INBOX")
			w.ok("LOGOUT")
		}
		for _, f := range fetches {
			pending := dial(t, u.store())
			pending.ok("%s INBOX", mode)
			pending.ok("NOOP") // decodes nothing: the tags stay in step
			got := pending.do("%s", f)
			whole := dial(t, u.store())
			whole.ok("%s INBOX", mode)
			whole.ok("SEARCH ALL") // makes the view whole
			if want := whole.do("%s", f); got != want {
				t.Errorf("%s, %s from the index alone:\n%s\nfrom the whole view:\n%s", mode, f, got, want)
			}
		}
	}
}

func TestAnAppendToAFolderSelectedFromTheIndexIsAnnounced(t *testing.T) {
	u := indexedInbox(t, 3)
	w := dial(t, u.store())
	w.ok("SELECT INBOX")
	m := msg("appended", "new\r\n")
	out := w.ok("APPEND INBOX {%d+}\r\n%s", len(m), m)
	wants(t, "APPEND", out+w.ok("NOOP"), "[APPENDUID ", " 4]", "* 4 EXISTS")
	wants(t, "FETCH", w.ok("FETCH 4 (UID BODY.PEEK[HEADER.FIELDS (Subject)])"), "UID 4", "Subject: appended")
}

func TestAStatusFromTheIndexGivesWhatAStatusFromTheWholeViewGives(t *testing.T) {
	u := indexedInbox(t, 5)
	w := dial(t, u.store())
	w.ok("SELECT INBOX")
	w.ok(`STORE 2 +FLAGS (\Seen)`)
	w.ok(`STORE 4 +FLAGS (\Deleted)`)
	w.ok("LOGOUT")
	u.deliver(u.inbox, msg("new", "fresh\n")) // \Recent
	w = dial(t, u.store())
	w.ok("EXAMINE INBOX") // numbers it
	w.ok("LOGOUT")
	const items = "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE)"
	alone := dial(t, u.store())
	got := alone.ok("STATUS INBOX %s", items)
	whole := dial(t, u.store())
	whole.ok("EXAMINE INBOX")
	want := whole.ok("STATUS INBOX %s", items)
	if strings.SplitN(got, "\r\n", 2)[0] != strings.SplitN(want, "\r\n", 2)[0] {
		t.Fatalf("STATUS from the index:\n%s\nfrom the whole view:\n%s", got, want)
	}
	wants(t, "STATUS", got, "MESSAGES 6", "RECENT 1", "UNSEEN 5", "DELETED 1", "UIDNEXT 7")
}

// SELECT from the index answers from the counts its records end with:
// they stay right after deliveries, a read-only session's numbering of
// them, and another program's flag changes.
func TestASelectFromTheIndexCountsRightAfterDeliveriesAndOthersFlagChanges(t *testing.T) {
	u := indexedInbox(t, 6)
	u.deliver(u.inbox, msg("new one", "fresh\n"), msg("new two", "fresh\n"))
	w := dial(t, u.store())
	w.ok("EXAMINE INBOX") // numbers them, in a record of their own
	w.ok("LOGOUT")
	// mail(1) marks the first two read, in a new file.
	f := u.file(u.inbox)
	for _, s := range []string{"Subject: ma\n", "Subject: mb\n"} {
		f = strings.Replace(f, s, s+"Status: RO\n", 1)
	}
	if err := os.WriteFile(u.inbox+".new", []byte(f), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(u.inbox+".new", u.inbox); err != nil {
		t.Fatal(err)
	}
	w = dial(t, u.store())
	w.ok("EXAMINE INBOX")
	w.ok("LOGOUT")
	w = dial(t, u.store())
	w.ok(`EXAMINE INBOX`)
	w.ok("LOGOUT")

	s := NewPreauthSession(u.store())
	defer s.Close()
	data, err := s.Select("INBOX", &imap.SelectOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.sel.pending == nil {
		t.Fatal("not answered from the index")
	}
	if data.NumMessages != 8 || data.NumRecent != 2 || data.FirstUnseenSeqNum != 3 || data.UIDNext != 9 {
		t.Fatalf("SELECT gave %d messages, %d recent, first unseen %d, UIDNEXT %d; want 8, 2, 3, 9", data.NumMessages, data.NumRecent, data.FirstUnseenSeqNum, data.UIDNext)
	}
}

func TestFlagsWrittenInPlaceAreSyncedAtCheckAloneAndTheIndexSaysWhich(t *testing.T) {
	u := indexedInbox(t, 3)
	marked := func() bool {
		t.Helper()
		idx, err := mbox.LoadIndex(mbox.IndexPath(u.inbox))
		if err != nil || idx == nil {
			t.Fatalf("no index: %v", err)
		}
		return idx.Unsynced()
	}
	if marked() {
		t.Fatal("marked before any flag was written")
	}
	w := dial(t, u.store())
	w.ok("SELECT INBOX")
	// No room for them yet: the fields are padded by a rewrite, synced.
	w.ok(`STORE 1:* +FLAGS (\Draft)`)
	w.flush()
	if marked() {
		t.Fatal("marked after a rewrite")
	}
	w.ok(`STORE 1 +FLAGS (\Seen)`)
	w.flush()
	if !strings.Contains(u.file(u.inbox), "Status: RO") || !marked() {
		t.Fatalf("after the batch was written: marked %v\n%s", marked(), u.file(u.inbox))
	}
	// An EXAMINE session's CHECK writes nothing, syncs nothing.
	e := NewPreauthSession(u.store())
	defer e.Close()
	if _, err := e.Select("INBOX", &imap.SelectOptions{ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	if err := e.Check(); err != nil || !marked() {
		t.Fatalf("CHECK after EXAMINE: %v, marked %v", err, marked())
	}
	// Another session's CHECK, on a SELECT answered from the index alone,
	// syncs what the first wrote.
	s := NewPreauthSession(u.store())
	defer s.Close()
	if _, err := s.Select("INBOX", &imap.SelectOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	if marked() {
		t.Fatal("still marked after CHECK")
	}
	w.ok(`STORE 2 +FLAGS (\Flagged)`)
	w.ok("LOGOUT")
	w.open.Wait()
	if !strings.Contains(u.file(u.inbox), "X-Status: FT") || !marked() {
		t.Fatalf("after LOGOUT: marked %v\n%s", marked(), u.file(u.inbox))
	}
}
