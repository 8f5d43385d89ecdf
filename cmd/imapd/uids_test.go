package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"unixmail/internal/sandbox"
	"unixmail/pkg/mbox"
)

// twoSessionsAndACopy is one imaplib session that selects the mailbox
// and then waits, while another flags its second message \Deleted and
// expunges it, and a copy of that message (the bytes of the file named
// by the second argument) is delivered again. The first session then
// looks: it prints the UIDVALIDITY and UIDs it was shown at first, and
// those it sees now, each UID with its subject.
const twoSessionsAndACopy = `
import imaplib, re, sys
def uids(M):
    typ, data = M.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    out = []
    for d in data:
        if isinstance(d, tuple):
            out.append("%s=%s" % (re.search(rb"UID (\d+)", d[0]).group(1).decode(), re.search(rb"Subject: (.*?)\r?\n", d[1]).group(1).decode()))
    return " ".join(out)
A = imaplib.IMAP4_stream(sys.argv[1])
A.select("INBOX")
print("BEFORE", A.response("UIDVALIDITY")[1][0].decode(), uids(A))
B = imaplib.IMAP4_stream(sys.argv[1])
B.select("INBOX")
B.store("2", "+FLAGS", r"(\Deleted)")
B.expunge()
B.logout()
with open(sys.argv[2], "rb") as f:
    copy = f.read()
with open(sys.argv[3], "ab") as f:
    f.write(copy)
A.noop()
print("AFTER", uids(A))
C = imaplib.IMAP4_stream(sys.argv[1])
C.select("INBOX")
print("NEW", C.response("UIDVALIDITY")[1][0].decode(), uids(C))
`

// A message expunged by one session and delivered again (the same From_
// line, size and headers: nothing tells the copy from it) is new mail to
// another session that saw it: a new UID, under the same UIDVALIDITY.
// The session used to give the copy the UID of the message gone, found by
// its fingerprint: out of order behind the last message, which cost the
// mailbox its UIDVALIDITY (the everyone-at-once test's failure); when the
// copy came right after it, the UID of an expunged message named another
// one.
func TestACopyOfAMessageExpungedByAnotherSessionGetsANewUID(t *testing.T) {
	u := newIMAPUser(t)
	u.deliver(t, message("first", "1\n"), message("the copied one", "2\n"), message("the last one here", "3\n"))
	box := u.mailbox()
	data, err := os.ReadFile(box)
	if err != nil {
		t.Fatal(err)
	}
	// The second message as deliver wrote it, before any UID: From_ line,
	// content and the blank line after it.
	var msgs []mbox.Message
	s := mbox.NewScanner(bytes.NewReader(data))
	for s.Next() {
		msgs = append(msgs, *s.Message())
	}
	if s.Err() != nil || len(msgs) != 3 {
		t.Fatalf("%d messages delivered, want 3 (%v):\n%s", len(msgs), s.Err(), data)
	}
	copyFile := filepath.Join(t.TempDir(), "copy")
	if err := os.WriteFile(copyFile, data[msgs[1].Offset:msgs[1].Next], 0o644); err != nil {
		t.Fatal(err)
	}

	out := u.python(t, twoSessionsAndACopy, copyFile, box)
	lines := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(l, " ")
		lines[k] = v
	}
	validity, before, _ := strings.Cut(lines["BEFORE"], " ")
	if before != "1=first 2=the copied one 3=the last one here" {
		t.Fatalf("first seen: %q\n%s", before, out)
	}
	want := "1=first 3=the last one here 4=the copied one"
	if lines["AFTER"] != want || lines["NEW"] != validity+" "+want {
		t.Fatalf("after the copy came: %q, a new session: %q; want %q under UIDVALIDITY %s\nlog:\n%s", lines["AFTER"], lines["NEW"], want, validity, u.log())
	}
}

// A big folder Dovecot numbered, whose last message Dovecot expunged,
// then given mail by procmail (no X-UID), is opened by imapd with no index
// of its own (a migration): it keeps Dovecot's UIDVALIDITY and UIDs, and
// procmail's mail gets the UIDs after Dovecot's last, as Dovecot would
// give them. An index of ours never holds UIDs alone for messages after
// an X-UID in the file, so none of them can have been shown another.
// (It used to get a new UIDVALIDITY, every message fetched again.)
func TestABigFolderDovecotNumberedKeepsItsUIDValidityWhenImapdFirstOpensIt(t *testing.T) {
	u := newIMAPUser(t)
	u.deliver(t, message("start", "so that the file is the user's\n"))
	var b strings.Builder
	big := strings.Repeat("a line of the big message, to make the folder a big one\n", (16<<20)/56+1)
	for i, subject := range []string{"big", "two", "three", "four"} {
		body := "body\n"
		if i == 0 {
			body = big
		}
		fmt.Fprintf(&b, "From a@example.org Mon May  6 07:08:0%d 2024\nSubject: %s\nMessage-ID: <%s@example.org>\n\n%s\n", i, subject, subject, body)
	}
	transcript, after := sandbox.DovecotIMAP(t, []byte(b.String()), `a SELECT INBOX`, `b STORE 4 +FLAGS (\Deleted)`, `c EXPUNGE`, `d LOGOUT`)
	m := regexp.MustCompile(`UIDVALIDITY (\d+)`).FindStringSubmatch(transcript)
	if m == nil || !bytes.Contains(after, []byte("X-UID: 3")) || bytes.Contains(after, []byte("Subject: four")) {
		t.Fatalf("Dovecot did not number the folder and expunge its last message:\n%s", transcript)
	}
	if err := os.WriteFile(u.mailbox(), after, 0o600); err != nil {
		t.Fatal(err)
	}
	procmail := sandbox.NeedPeer(t, "procmail")
	for _, s := range []string{"five", "six"} {
		cmd := u.asUser(exec.Command(procmail, "-f", "p@example.org", "DEFAULT="+u.mailbox()))
		cmd.Env = []string{"HOME=" + u.sb.Home(u.name), "USER=" + u.name, "LOGNAME=" + u.name, "PATH=/usr/bin:/bin"}
		cmd.Stdin = strings.NewReader("From: p@example.org\nSubject: " + s + "\n\nhello\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("procmail: %v: %s", err, out)
		}
	}
	out := u.uidsAndFlags(t)
	for _, want := range []string{"V " + m[1], "1 (UID 1 ", "3 (UID 3 ", "4 (UID 5 ", "5 (UID 6 "} {
		if !strings.Contains(out, want) {
			t.Errorf("imapd's first look lacks %q:\n%s\nlog:\n%s", want, out, u.log())
		}
	}
	if _, err := os.Stat(mbox.IndexPath(u.mailbox())); err != nil {
		t.Errorf("a big folder is numbered without an index: %v", err)
	}
}
