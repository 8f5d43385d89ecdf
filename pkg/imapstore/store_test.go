package imapstore

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestFolderNamesThatEscapeOrClashAreRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"Sent", true},
		{"lists/go-nuts", true},
		{"Grüße", true},
		{"../etc/passwd", false},
		{"a/../../b", false},
		{"/etc/passwd", false},
		{"a//b", false},
		{"./a", false},
		{".hidden", false},
		{"Mailbox.lock", false},
		{"INBOX/sub", false},
		{"bad\x00name", false},
		{"tab\tname", false},
		{"", false},
		{strings.Repeat("x", 600), false},
	} {
		if err := checkName(tc.name); (err == nil) != tc.ok {
			t.Errorf("checkName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestMessagesGetUIDsOnFirstSightThatLastAcrossSessionsAndNewMail(t *testing.T) {
	u := newUser(t)
	u.deliver(u.inbox, msg("one", "1\n"), msg("two", "2\n"))
	w := dial(t, u.store())
	sel := w.ok("SELECT INBOX")
	validity := regexp.MustCompile(`UIDVALIDITY (\d+)`).FindStringSubmatch(sel)[1]
	for _, want := range []string{"* 2 EXISTS", "* 2 RECENT", "[UIDNEXT 3]"} {
		if !strings.Contains(sel, want) {
			t.Errorf("SELECT lacks %q:\n%s", want, sel)
		}
	}
	if f := u.file(u.inbox); !strings.Contains(f, "X-UID: 1\n") || !strings.Contains(f, "X-UID: 2\n") || !strings.Contains(f, "X-IMAPbase: "+validity+" ") {
		t.Fatalf("UIDs not written:\n%s", f)
	}

	// New mail, as deliver appends it while the mailbox is selected.
	u.deliver(u.inbox, msg("three", "3\n"))
	if out := w.ok("NOOP"); !strings.Contains(out, "* 3 EXISTS") {
		t.Fatalf("NOOP after new mail:\n%s", out)
	}
	if out := w.ok("UID FETCH 1:* (UID)"); !strings.Contains(out, "(UID 3)") {
		t.Fatalf("new mail UID:\n%s", out)
	}

	w2 := dial(t, u.store())
	sel2 := w2.ok("EXAMINE INBOX")
	if !strings.Contains(sel2, "UIDVALIDITY "+validity+"]") || !strings.Contains(sel2, "[UIDNEXT 4]") || !strings.Contains(sel2, "* 0 RECENT") {
		t.Fatalf("second session:\n%s", sel2)
	}
}

func TestUIDsThatDoNotRiseGetANewUIDValidity(t *testing.T) {
	u := newUser(t)
	u.deliver(u.inbox, "X-IMAPbase: 100 0000000007\nX-UID: 7\nSubject: a\n\na\n", "X-UID: 5\nSubject: b\n\nb\n")
	w := dial(t, u.store())
	sel := w.ok("SELECT INBOX")
	if strings.Contains(sel, "UIDVALIDITY 100]") || !strings.Contains(sel, "[UIDNEXT 3]") {
		t.Fatalf("SELECT:\n%s", sel)
	}
}

func TestStoreWritesFlagsAndKeywordsWhereMuttAndDovecotReadThem(t *testing.T) {
	u := newUser(t)
	u.deliver(u.inbox, msg("one", "1\n"), msg("two", "2\n"))
	w := dial(t, u.store())
	w.ok("SELECT INBOX")
	out := w.ok(`STORE 1 +FLAGS (\Seen \Flagged \Answered $Work)`)
	if !strings.Contains(out, `FLAGS (\Seen \Answered \Flagged $Work \Recent)`) {
		t.Fatalf("STORE reply:\n%s", out)
	}
	if f := u.file(u.inbox); strings.Contains(f, "$Work") {
		t.Fatalf("written before the batch was due:\n%s", f)
	}
	w.flush()
	f := u.file(u.inbox)
	for _, want := range []string{"Status: RO\n", "X-Status: FA\n", "X-Keywords: $Work", " $Work\n"} {
		if !strings.Contains(f, want) {
			t.Errorf("mailbox lacks %q:\n%s", want, f)
		}
	}
	w.ok(`STORE 1 -FLAGS.SILENT (\Flagged $Work)`)
	w.flush()
	if f := u.file(u.inbox); strings.Contains(f, "X-Status: FA") || strings.Contains(f, "X-Keywords: $Work") {
		t.Fatalf("flags not removed:\n%s", f)
	}
	// A second session sees the change from the file.
	w2 := dial(t, u.store())
	w2.ok("SELECT INBOX")
	if out := w2.ok("FETCH 1 FLAGS"); !strings.Contains(out, `FLAGS (\Seen \Answered)`) {
		t.Fatalf("other session:\n%s", out)
	}
	w.ok(`STORE 2 +FLAGS (\Deleted)`)
	w.flush()
	if out := w2.ok("NOOP"); !strings.Contains(out, `* 2 FETCH (UID 2 FLAGS (\Deleted))`) {
		t.Fatalf("flag change not reported:\n%s", out)
	}
	if out := w.ok("EXPUNGE"); !strings.Contains(out, "* 2 EXPUNGE") {
		t.Fatalf("EXPUNGE:\n%s", out)
	}
	if out := w2.ok("NOOP"); !strings.Contains(out, "* 2 EXPUNGE") {
		t.Fatalf("expunge not reported to the other session:\n%s", out)
	}
}

func TestExamineRefusesEveryWrite(t *testing.T) {
	u := newUser(t)
	u.deliver(u.inbox, msg("one", "1\n"))
	w := dial(t, u.store())
	w.ok("SELECT INBOX")
	w.ok(`STORE 1 +FLAGS (\Deleted)`)
	w.ok("EXAMINE INBOX")
	before := u.file(u.inbox)
	for _, cmd := range []string{`STORE 1 +FLAGS (\Seen)`, "EXPUNGE", "UID EXPUNGE 1", "MOVE 1 INBOX"} {
		if out := w.do("%s", cmd); !strings.Contains(lastLine(out), "NO") {
			t.Errorf("%s under EXAMINE: %s", cmd, out)
		}
	}
	w.ok("FETCH 1 BODY[]")
	w.ok("CLOSE")
	if after := u.file(u.inbox); after != before {
		t.Fatalf("EXAMINE changed the mailbox:\n%s\n---\n%s", before, after)
	}
}

func TestFetchStreamsSectionsOfAMultipartMessage(t *testing.T) {
	u := newUser(t)
	body := "MIME-Version: 1.0\nSubject: parts\nContent-Type: multipart/mixed; boundary=XX\n\npreamble\n--XX\nContent-Type: text/plain; charset=utf-8\n\nhello\nFrom the start\n--XX\nContent-Type: message/rfc822\n\nSubject: inner\n\ninner body\n--XX--\nepilogue\n"
	u.deliver(u.inbox, body)
	w := dial(t, u.store())
	w.ok("SELECT INBOX")
	for _, tc := range []struct{ item, want string }{
		{"BODY.PEEK[1]", "BODY[1] {21}\r\nhello\r\nFrom the start)"},
		{"BODY.PEEK[1.MIME]", "BODY[1.MIME] {43}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n)"},
		{"BODY.PEEK[2.HEADER]", "BODY[2.HEADER] {18}\r\nSubject: inner\r\n\r\n)"},
		{"BODY.PEEK[2.TEXT]", "BODY[2.TEXT] {10}\r\ninner body)"},
		{"BODY.PEEK[HEADER.FIELDS (subject)]", "{18}\r\nSubject: parts\r\n\r\n)"},
		{"BODY.PEEK[1]<2.3>", "BODY[1]<2> {3}\r\nllo)"},
		{"BODYSTRUCTURE", `BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 21 2 NIL NIL NIL NIL)("message" "rfc822" NIL NIL NIL "7bit" 28 (NIL "inner"`},
		{"BINARY.PEEK[1]", "BINARY[1] ~{21}\r\nhello\r\nFrom the start)"},
	} {
		if out := w.ok("FETCH 1 (%s)", tc.item); !strings.Contains(out, tc.want) {
			t.Errorf("FETCH %s:\n%s\nwant %q", tc.item, out, tc.want)
		}
	}
	// RFC822.SIZE is the size of BODY[] exactly, state fields hidden.
	out := w.ok("FETCH 1 (RFC822.SIZE BODY.PEEK[])")
	size := regexp.MustCompile(`RFC822.SIZE (\d+)`).FindStringSubmatch(out)[1]
	if !strings.Contains(out, "BODY[] {"+size+"}") || strings.Contains(out, "Status:") || strings.Contains(out, "X-UID") {
		t.Fatalf("size and body disagree or state shows:\n%s", out)
	}
	// Without PEEK the message becomes \Seen, and says so.
	if out := w.ok("FETCH 1 BODY[1]"); !strings.Contains(out, `\Seen`) {
		t.Fatalf("FETCH BODY[1] did not set \\Seen:\n%s", out)
	}
}

func TestDeepNestingGivesASmallWellFormedBodyStructure(t *testing.T) {
	u := newUser(t)
	var b strings.Builder
	b.WriteString("Subject: deep\nContent-Type: multipart/mixed; boundary=b0\n\n")
	for i := 1; i < 10000; i++ {
		b.WriteString("--b" + strconv.Itoa(i-1) + "\nContent-Type: multipart/mixed; boundary=b" + strconv.Itoa(i) + "\n\n")
	}
	b.WriteString("--b9999\n\nleaf\n")
	u.deliver(u.inbox, b.String())
	w := dial(t, u.store())
	w.ok("SELECT INBOX")
	out := w.ok("FETCH 1 BODYSTRUCTURE")
	if len(out) > 20000 || strings.Count(out, "(") != strings.Count(out, ")") {
		t.Fatalf("BODYSTRUCTURE of %d bytes, parentheses unbalanced: %.300s", len(out), out)
	}
	w.ok("NOOP")
}

func TestSearchKeys(t *testing.T) {
	u := newUser(t)
	u.deliver(u.inbox,
		msg("lunch plans", "Shall we meet at noon?\n"),
		"From: Bob <bob@example.org>\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nSch=F6ne Gr=FC=DFe aus K=F6ln\n",
		"Subject: big\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n"+"aGlkZGVuIHdvcmQ=\n"+strings.Repeat("QUFB\n", 500))
	w := dial(t, u.store())
	w.ok("SELECT INBOX")
	w.ok(`STORE 1 +FLAGS (\Flagged)`)
	for _, tc := range []struct{ key, want string }{
		{"ALL", "* SEARCH 1 2 3"},
		{"FLAGGED", "* SEARCH 1\r"},
		{"UNFLAGGED", "* SEARCH 2 3"},
		{"SUBJECT lunch", "* SEARCH 1\r"},
		{"CHARSET UTF-8 SUBJECT {7+}\r\ngrüße", "* SEARCH 2\r"},
		{"CHARSET UTF-8 BODY {7+}\r\nschöne", "* SEARCH 2\r"},
		{"BODY \"hidden word\"", "* SEARCH 3\r"},
		{"TEXT noon", "* SEARCH 1\r"},
		{"FROM bob", "* SEARCH 2\r"},
		{"HEADER Message-ID lunch", "* SEARCH 1\r"},
		{"LARGER 1000", "* SEARCH 3\r"},
		{"NOT LARGER 1000", "* SEARCH 1 2"},
		{"OR SUBJECT big FLAGGED", "* SEARCH 1 3"},
		{"SENTSINCE 1-May-2024", "* SEARCH 1\r"},
		{"SINCE 6-May-2024 BEFORE 7-May-2024", "* SEARCH 1 2 3"},
		{"2:*", "* SEARCH 2 3"},
		{"UID 1,3", "* SEARCH 1 3"},
		{"RECENT", "* SEARCH 1 2 3"},
		{"KEYWORD $Nope", "* SEARCH\r"},
	} {
		if out := w.ok("SEARCH %s", tc.key); !strings.Contains(out, tc.want) {
			t.Errorf("SEARCH %s:\n%s\nwant %q", tc.key, out, tc.want)
		}
	}
}

func TestAppendCopyAndMoveAnswerWithTheNewUIDs(t *testing.T) {
	u := newUser(t)
	u.deliver(u.inbox, msg("one", "1\n"), msg("two", "2\n"))
	w := dial(t, u.store())
	w.ok("CREATE Archive")
	out := w.ok("APPEND Archive (\\Seen $Kept) \"01-Jan-2020 10:00:00 +0000\" {21+}\r\nSubject: app\r\n\r\nhi!\r\n")
	if !regexp.MustCompile(`\[APPENDUID \d+ 1\]`).MatchString(out) {
		t.Fatalf("APPEND:\n%s", out)
	}
	w.ok("SELECT INBOX")
	if out := w.ok("UID COPY 1:2 Archive"); !strings.Contains(out, " 1:2 2:3]") {
		t.Fatalf("COPY:\n%s", out)
	}
	if out := w.ok("UID MOVE 2 Archive"); !strings.Contains(out, " 2 4]") || !strings.Contains(out, "* 2 EXPUNGE") {
		t.Fatalf("MOVE:\n%s", out)
	}
	if out := w.ok("STATUS Archive (MESSAGES UIDNEXT UNSEEN)"); !strings.Contains(out, "MESSAGES 4 UIDNEXT 5 UNSEEN 3") {
		t.Fatalf("STATUS:\n%s", out)
	}
	w.ok("SELECT Archive")
	out = w.ok("FETCH 1 (FLAGS INTERNALDATE BODY.PEEK[])")
	if !strings.Contains(out, `FLAGS (\Seen $Kept)`) || !strings.Contains(out, `" 1-Jan-2020 10:00:00 +0000"`) || !strings.Contains(out, "{21}\r\nSubject: app\r\n\r\nhi!\r\n") {
		t.Fatalf("appended message:\n%s", out)
	}
	if out := w.do("APPEND Nowhere {1+}\r\nx"); !strings.Contains(out, "TRYCREATE") {
		t.Fatalf("APPEND to a missing folder:\n%s", out)
	}
}

func TestAFileThatIsNotAnMboxIsListedNoSelectAndNeverTouched(t *testing.T) {
	u := newUser(t)
	os.WriteFile(filepath.Join(u.mail, "notes.txt"), []byte("not mail\n"), 0600)
	os.Symlink("/etc", filepath.Join(u.mail, "escape"))
	w := dial(t, u.store())
	out := w.ok(`LIST "" *`)
	if !strings.Contains(out, `\Noselect`) || !strings.Contains(out, `"notes.txt"`) {
		t.Fatalf("LIST:\n%s", out)
	}
	for _, cmd := range []string{"SELECT notes.txt", "DELETE notes.txt", "SELECT escape/passwd", "CREATE escape/x", "STATUS escape/passwd (MESSAGES)"} {
		if out := w.do("%s", cmd); !strings.Contains(lastLine(out), "NO") {
			t.Errorf("%s: %s", cmd, out)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(u.mail, "notes.txt")); string(b) != "not mail\n" {
		t.Fatalf("notes.txt changed: %q", b)
	}
}

func TestRenamingInboxMovesItsMessagesAndLeavesItEmpty(t *testing.T) {
	u := newUser(t)
	u.deliver(u.inbox, msg("one", "1\n"), msg("two", "2\n"))
	w := dial(t, u.store())
	w.ok("RENAME INBOX old/inbox")
	if out := w.ok("STATUS old/inbox (MESSAGES)"); !strings.Contains(out, "MESSAGES 2") {
		t.Fatalf("renamed:\n%s", out)
	}
	if out := w.ok("STATUS INBOX (MESSAGES UIDNEXT)"); !strings.Contains(out, "MESSAGES 0 UIDNEXT 3") {
		t.Fatalf("INBOX after rename (its UIDs must not be given again):\n%s", out)
	}
	if fi, err := os.Stat(u.inbox); err != nil || fi.Size() == 0 {
		t.Fatalf("INBOX file: %v", err)
	}
}

func TestExpungingTheNewestMessageNeverFreesItsUID(t *testing.T) {
	u := newUser(t)
	u.deliver(u.inbox, msg("one", "1\n"))
	w := dial(t, u.store())
	w.ok("SELECT INBOX")
	w.ok("APPEND INBOX {14+}\r\nSubject: x\r\n\r\n")
	w.ok("NOOP")
	w.ok(`STORE 2 +FLAGS.SILENT (\Deleted)`)
	w.ok("EXPUNGE")
	u.deliver(u.inbox, msg("three", "3\n"))
	w.ok("NOOP")
	if out := w.ok("UID FETCH * UID"); !strings.Contains(out, "UID 3)") {
		t.Fatalf("a UID was given twice:\n%s", out)
	}
}

func TestIdleReportsNewMailAndExpungesByOthers(t *testing.T) {
	u := newUser(t)
	u.deliver(u.inbox, msg("one", "1\n"))
	w := dial(t, u.store())
	w.ok("SELECT INBOX")
	w.n++
	w.c.Write([]byte("t99 IDLE\r\n"))
	if l := w.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}
	u.deliver(u.inbox, msg("two", "2\n"))
	if l := w.line(); l != "* 2 EXISTS\r\n" {
		t.Fatalf("IDLE saw %q", l)
	}
	w.line() // RECENT
	w.c.Write([]byte("DONE\r\n"))
	w.until("t99")
}

func TestAnEmptyFolderKeepsItsUIDValidityUntilItsFirstMessage(t *testing.T) {
	u := newUser(t)
	w := dial(t, u.store())
	w.ok("CREATE Drafts")
	sel := w.ok("SELECT Drafts")
	validity := regexp.MustCompile(`UIDVALIDITY (\d+)`).FindStringSubmatch(sel)[1]
	w.ok("UNSELECT")
	w2 := dial(t, u.store())
	if sel2 := w2.ok("EXAMINE Drafts"); !strings.Contains(sel2, "UIDVALIDITY "+validity+"]") {
		t.Fatalf("UIDVALIDITY changed on an empty folder:\n%s\n%s", sel, sel2)
	}
	if out := w.ok("APPEND Drafts {14+}\r\nSubject: x\r\n\r\n"); !strings.Contains(out, "[APPENDUID "+validity+" 1]") {
		t.Fatalf("APPEND:\n%s", out)
	}
	if f := u.file(filepath.Join(u.mail, "Drafts")); strings.Contains(f, "FOLDER INTERNAL DATA") || !strings.Contains(f, "X-IMAPbase: "+validity+" 0000000001") {
		t.Fatalf("Drafts:\n%s", f)
	}
}

func TestStatusSizeIsTheSumOfTheMessagesSizesWhateverTheQuotingAndStateFields(t *testing.T) {
	u := newUser(t)
	msgs := []string{
		msg("quoted", "From here, the body\n>From there\n>>From further\nend\n"),
		msg("plain", "nothing to quote\n"),
	}
	u.deliver(u.inbox, msgs...)
	u.deliver(filepath.Join(u.mail, "Other"), msgs...)
	w := dial(t, u.store())
	// State fields written into the files are no part of the sizes.
	for _, name := range []string{"Other", "INBOX"} {
		w.ok("SELECT %s", name)
		w.ok(`STORE 1:* +FLAGS (\Seen \Flagged $Work)`)
	}
	var want int64
	for _, l := range strings.Split(w.ok("FETCH 1:* RFC822.SIZE"), "\n") {
		var seq, n int64
		if _, err := fmt.Sscanf(l, "* %d FETCH (RFC822.SIZE %d)", &seq, &n); err == nil {
			want += n
		}
	}
	if want == 0 {
		t.Fatal("no RFC822.SIZE fetched")
	}
	for _, name := range []string{"INBOX", "Other"} { // selected, then not
		out := w.ok("STATUS %s (SIZE)", name)
		if !strings.Contains(out, fmt.Sprintf("(SIZE %d)", want)) {
			t.Errorf("STATUS %s, want SIZE %d:\n%s", name, want, out)
		}
	}
}

func TestExpungingTheFirstMessagesMovesTheBaseToTheFirstKept(t *testing.T) {
	u := newUser(t)
	u.deliver(u.inbox, msg("one", "1\n"), msg("two", "2\n"), msg("three", "3\n"), msg("four", "4\n"))
	w := dial(t, u.store())
	w.ok("SELECT INBOX")
	w.ok(`STORE 1:2 +FLAGS.SILENT (\Deleted)`)
	if out := w.ok("EXPUNGE"); !strings.Contains(out, "* 2 EXPUNGE\r\n* 1 EXPUNGE") {
		t.Fatalf("EXPUNGE:\n%s", out)
	}
	f := u.file(u.inbox)
	if strings.Count(f, "\nFrom ") != 1 || !strings.Contains(f, "Subject: three\n") || strings.Index(f, "X-IMAPbase:") > strings.Index(f, "Subject: four") {
		t.Fatalf("mailbox after EXPUNGE:\n%s", f)
	}
	if out := w.ok("UID FETCH 1:* FLAGS"); !strings.Contains(out, "(UID 3 ") || !strings.Contains(out, "(UID 4 ") {
		t.Fatalf("UIDs after EXPUNGE:\n%s", out)
	}
}
