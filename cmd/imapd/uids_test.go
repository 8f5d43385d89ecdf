package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	// The second message as deliver wrote it, before any UID.
	starts := []int{0}
	for i := bytes.Index(data, []byte("\n\nFrom ")); i >= 0; {
		starts = append(starts, i+2)
		j := bytes.Index(data[i+2:], []byte("\n\nFrom "))
		if j < 0 {
			break
		}
		i += 2 + j
	}
	if len(starts) != 3 {
		t.Fatalf("%d messages delivered, want 3:\n%s", len(starts), data)
	}
	copyFile := filepath.Join(t.TempDir(), "copy")
	if err := os.WriteFile(copyFile, data[starts[1]:starts[2]], 0o644); err != nil {
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
