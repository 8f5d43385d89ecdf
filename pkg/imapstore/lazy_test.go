package imapstore

import (
	"fmt"
	"maps"
	"os"
	"regexp"
	"strings"
	"testing"

	"unixmail/pkg/mbox"
)

// bigFolders makes every folder count as big for the test: its UIDs are
// kept in its index, not written into the file at first sight.
func bigFolders(t *testing.T) {
	old := mbox.SetLazyFrom(0)
	t.Cleanup(func() { mbox.SetLazyFrom(old) })
}

func TestABigFolderIsNumberedInItsIndexWithoutRewritingIt(t *testing.T) {
	bigFolders(t)
	u := newUser(t)
	u.deliver(u.inbox, msg("one", "1\n"), msg("two", "2\n"), msg("three", "3\n"))
	before := u.file(u.inbox)
	w := dial(t, u.store())
	sel := w.ok("SELECT INBOX")
	for _, want := range []string{"* 3 EXISTS", "* 3 RECENT", "[UIDNEXT 4]"} {
		if !strings.Contains(sel, want) {
			t.Errorf("SELECT lacks %q:\n%s", want, sel)
		}
	}
	if u.file(u.inbox) != before {
		t.Fatalf("SELECT rewrote the folder:\n%s", u.file(u.inbox))
	}
	validity := regexp.MustCompile(`UIDVALIDITY (\d+)`).FindStringSubmatch(sel)[1]

	// Another session, in another process as far as the files go.
	w2 := dial(t, u.store())
	sel2 := w2.ok("SELECT INBOX")
	for _, want := range []string{"UIDVALIDITY " + validity + "]", "[UIDNEXT 4]", "* 0 RECENT"} {
		if !strings.Contains(sel2, want) {
			t.Errorf("second session lacks %q:\n%s", want, sel2)
		}
	}
	if out := w2.ok("UID FETCH 1:* UID"); !strings.Contains(out, "(UID 1)") || !strings.Contains(out, "(UID 3)") {
		t.Fatalf("UIDs:\n%s", out)
	}
	if u.file(u.inbox) != before {
		t.Fatal("a second SELECT rewrote the folder")
	}
}

// A rewrite writes the X-UID of a message it touches only where no
// message after it keeps its UID in the index alone: a file whose index is
// lost then tells the messages the index may have numbered (before every
// X-UID) from new mail (after them), and keeps its UIDVALIDITY for the
// latter (mbox.Index.Number).
func TestABigFolderWritesTheUIDsOfTheMessagesARewriteTouchesAfterTheLastNumberedByTheIndex(t *testing.T) {
	u, w := bigInbox(t, msg("one", "1\n"), msg("two", "2\n"), msg("three", "3\n"))
	validity := regexp.MustCompile(`UIDVALIDITY (\d+)`).FindStringSubmatch(w.ok("SELECT INBOX"))[1]
	w.ok(`STORE 2 +FLAGS (\Flagged)`)
	w.flush()
	f := u.file(u.inbox)
	if strings.Contains(f, "X-UID:") || strings.Contains(f, "X-IMAPbase") || !strings.Contains(f, "X-Status: F") {
		t.Fatalf("a flag on message 2, before message 3 numbered by the index alone, wrote:\n%s", f)
	}
	// It was shown to a session: Status: O goes in with the flag.
	if !strings.Contains(f, "Status: O\n") {
		t.Errorf("message 2 not marked old:\n%s", f)
	}
	w.ok(`STORE 1 +FLAGS (\Seen)`)
	w.flush()
	if f := u.file(u.inbox); !strings.Contains(f, "X-IMAPbase: "+validity+" 0000000003") || strings.Contains(f, "X-UID:") {
		t.Fatalf("a flag on message 1 wrote:\n%s", f)
	}
	w.ok(`STORE 3 +FLAGS.SILENT (\Deleted)`)
	w.ok("EXPUNGE")
	w2 := dial(t, u.store())
	w2.ok("EXAMINE INBOX")
	if out := w2.ok("UID FETCH 1:* (UID FLAGS)"); !strings.Contains(out, `* 1 FETCH (UID 1 FLAGS (\Seen))`) || !strings.Contains(out, `* 2 FETCH (UID 2 FLAGS (\Flagged))`) {
		t.Fatalf("after the expunge:\n%s", out)
	}
}

// Mail that comes after messages whose X-UIDs the file holds gets its
// X-UID written before a session is shown its UID, even in a big folder:
// a file whose index is lost then still says which UIDs were shown.
func TestABigFolderWritesTheUIDsOfNewMailAfterNumberedMail(t *testing.T) {
	u, w := bigInbox(t, msg("one", "1\n"), msg("two", "2\n"))
	w.ok("SELECT INBOX")
	w.ok(`STORE 1:2 +FLAGS (\Seen)`)
	w.flush()
	if f := u.file(u.inbox); strings.Count(f, "X-UID:") != 2 {
		t.Fatalf("flags on every message wrote:\n%s", f)
	}
	u.deliver(u.inbox, msg("three", "3\n"), msg("four", "4\n"))
	w.ok("NOOP")
	if out := w.ok("UID FETCH 1:* UID"); !strings.Contains(out, "(UID 3)") || !strings.Contains(out, "(UID 4)") {
		t.Fatalf("UIDs:\n%s", out)
	}
	if f := u.file(u.inbox); !strings.Contains(f, "X-UID: 3\n") || !strings.Contains(f, "X-UID: 4\n") || !strings.Contains(f, " 0000000004") {
		t.Fatalf("new mail shown without its X-UID in the file:\n%s", f)
	}
}

func TestABigFoldersUIDsOutliveAnotherProgramRewritingIt(t *testing.T) {
	u, w := bigInbox(t, msg("one", "1\n"), msg("two", "2\n"), msg("three", "3\n"))
	validity := regexp.MustCompile(`UIDVALIDITY (\d+)`).FindStringSubmatch(w.ok("SELECT INBOX"))[1]
	w.ok("UNSELECT") // closed, index saved, before another program writes

	// mail(1) deletes message 2 and marks the rest read, writing a new file.
	var kept []string
	for _, m := range strings.SplitAfter(u.file(u.inbox), "\n\nFrom ") {
		if !strings.Contains(m, "Subject: two") {
			kept = append(kept, strings.Replace(m, "\n\n1\n", "\nStatus: RO\n\n1\n", 1))
		}
	}
	tmp := u.inbox + ".new"
	if err := os.WriteFile(tmp, []byte(strings.Join(kept, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, u.inbox); err != nil {
		t.Fatal(err)
	}
	u.deliver(u.inbox, msg("four", "4\n"))

	w2 := dial(t, u.store())
	sel := w2.ok("SELECT INBOX")
	if !strings.Contains(sel, "UIDVALIDITY "+validity+"]") || !strings.Contains(sel, "[UIDNEXT 5]") {
		t.Fatalf("SELECT:\n%s", sel)
	}
	out := w2.ok("UID FETCH 1:* (UID FLAGS)")
	for _, want := range []string{`* 1 FETCH (UID 1 FLAGS (\Seen))`, "* 2 FETCH (UID 3 ", "* 3 FETCH (UID 4 "} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
}

func TestABigSelectedFolderTakesAppendsFromItselfAndFromOthers(t *testing.T) {
	u, w := bigInbox(t, msg("one", "1\n"), msg("two", "2\n"), msg("three", "3\n"))
	w2 := dial(t, u.store())
	w.ok("SELECT INBOX")
	w2.ok("SELECT INBOX")
	w.ok("APPEND INBOX {21+}\r\nSubject: app\r\n\r\nhi!\r\n")
	u.deliver(u.inbox, msg("five", "5\n"))
	w.ok("NOOP")
	w2.ok("NOOP")
	w2.ok("APPEND INBOX {21+}\r\nSubject: app\r\n\r\nhi!\r\n")
	for _, c := range []*wire{w, w2} {
		c.ok("NOOP")
		if out := c.ok("UID FETCH 1:* UID"); !strings.Contains(out, "(UID 6)") || strings.Count(out, "FETCH (UID") != 6 {
			t.Fatalf("UIDs:\n%s", out)
		}
	}
}

func TestAnExpungeWritesTheSessionsFlagsInItsOwnRewriteAndNoneOnTheMessagesItDrops(t *testing.T) {
	bigFolders(t)
	u := newUser(t)
	u.deliver(u.inbox, msg("one", "1\n"), msg("two", "2\n"), msg("three", "3\n"), msg("four", "4\n"))
	before := u.file(u.inbox)
	parts := strings.Split(before, "\nFrom ")
	w := dial(t, u.store())
	w.ok("SELECT INBOX")
	w.ok(`STORE 2 +FLAGS.SILENT (\Deleted)`)
	w.ok(`STORE 3 +FLAGS.SILENT (\Flagged)`)
	// Not written yet (FlushDelay): the expunge writes both at once.
	if u.file(u.inbox) != before {
		t.Fatalf("STORE wrote at once:\n%s", u.file(u.inbox))
	}
	wants(t, "EXPUNGE", w.ok("EXPUNGE"), "* 2 EXPUNGE")
	f := u.file(u.inbox)
	// Message 4 comes after the only message whose state fields grew:
	// had \Deleted been written into message 2 before it went, every
	// message after it would have been padded, 4 too.
	if !strings.HasPrefix(f, parts[0]+"\n") || !strings.HasSuffix(f, "From "+parts[3]) || strings.Contains(f, "Subject: two") {
		t.Fatalf("the expunge wrote:\n%s", f)
	}
	if !strings.Contains(f, "X-Status: F") {
		t.Fatalf("the flag on message 3 was not written:\n%s", f)
	}
	w2 := dial(t, u.store())
	w2.ok("EXAMINE INBOX")
	wants(t, "FETCH", w2.ok("UID FETCH 1:* (UID FLAGS)"), "* 1 FETCH (UID 1 FLAGS ())", `* 2 FETCH (UID 3 FLAGS (\Flagged))`, "* 3 FETCH (UID 4 FLAGS ())")
}

func TestABigFolderRaisesTheFilesBaseOverTheUIDsItsIndexGaveBeforeShowingThem(t *testing.T) {
	u := newUser(t)
	u.deliver(u.inbox, msg("one", "1\n"), msg("two", "2\n"), msg("three", "3\n"))
	w := dial(t, u.store())
	validity := regexp.MustCompile(`UIDVALIDITY (\d+)`).FindStringSubmatch(w.ok("SELECT INBOX"))[1]
	if !strings.Contains(u.file(u.inbox), "X-IMAPbase: "+validity+" 0000000003\n") {
		t.Fatalf("a small folder is numbered in the file:\n%s", u.file(u.inbox))
	}
	bigFolders(t)
	u.deliver(u.inbox, msg("four", "4\n"), msg("five", "5\n"))
	w.ok("NOOP")
	shown, _ := uidsBySubject(t, u)
	if shown["four"] != 4 || shown["five"] != 5 {
		t.Fatalf("UIDs %v", shown)
	}
	// dovecot-lda numbers what it appends from the file's base; new mail
	// after numbered mail has its X-UIDs written too (mbox.Index.ToWrite).
	f := u.file(u.inbox)
	if !strings.Contains(f, "X-IMAPbase: "+validity+" 0000000005\n") || !strings.Contains(f, "X-UID: 4\n") || !strings.Contains(f, "X-UID: 5\n") {
		t.Fatalf("the base is not over the UIDs shown, or new mail lacks its X-UID:\n%s", f)
	}
	w.ok("LOGOUT")

	// The index is lost: the file says it all.
	if err := os.Remove(mbox.IndexPath(u.inbox)); err != nil {
		t.Fatal(err)
	}
	if got, again := uidsBySubject(t, u); fmt.Sprint(again) != validity || !maps.Equal(got, shown) {
		t.Fatalf("UIDs went from %v under UIDVALIDITY %s to %v under %d", shown, validity, got, again)
	}
}

func TestAFolderKeepsItsUIDValidityWhenAnotherProgramDeletesTheMessageCarryingTheBase(t *testing.T) {
	u := newUser(t)
	u.deliver(u.inbox, msg("one", "1\n"), msg("two", "2\n"), msg("three", "3\n"))
	w := dial(t, u.store())
	validity := regexp.MustCompile(`UIDVALIDITY (\d+)`).FindStringSubmatch(w.ok("SELECT INBOX"))[1]

	// mutt deletes message 1, and its X-IMAPbase with it, in place.
	f := u.file(u.inbox)
	rest := f[strings.Index(f, "\n\nFrom ")+2:]
	if err := os.WriteFile(u.inbox, []byte(rest), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := w.ok("NOOP"); !strings.Contains(out, "* 1 EXPUNGE") {
		t.Fatalf("NOOP:\n%s", out)
	}
	if out := w.ok("UID FETCH 1:* UID"); !strings.Contains(out, "* 1 FETCH (UID 2)") || !strings.Contains(out, "* 2 FETCH (UID 3)") {
		t.Fatalf("UIDs:\n%s", out)
	}
	if f := u.file(u.inbox); !strings.Contains(f, "X-IMAPbase: "+validity+" 0000000003\n") {
		t.Fatalf("the base is not back in the file:\n%s", f)
	}
	if got, again := uidsBySubject(t, u); fmt.Sprint(again) != validity || got["two"] != 2 || got["three"] != 3 {
		t.Fatalf("another session: UIDVALIDITY %d (was %s), UIDs %v", again, validity, got)
	}
}

// A new keyword goes into X-IMAPbase on the first message, but that
// message's X-UID does not while messages after it keep their UIDs in the
// index alone (see onTheWay).
func TestANewKeywordInABigFolderWritesNoXUIDBeforeUIDsTheIndexAloneHolds(t *testing.T) {
	u, w := bigInbox(t, msg("one", "1\n"), msg("two", "2\n"), msg("three", "3\n"))
	w.ok("SELECT INBOX")
	w.ok(`STORE 1 +FLAGS (todo)`)
	w.flush()
	if f := u.file(u.inbox); !regexp.MustCompile(`X-IMAPbase: \d+ 0000000003 todo\n`).MatchString(f) || strings.Contains(f, "X-UID:") {
		t.Fatalf("a new keyword on message 1 wrote:\n%s", f)
	}
}
