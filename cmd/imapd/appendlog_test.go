package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// appendSession appends n messages with imaplib and prints, for each, its
// subject and the APPENDUID the server gave.
const appendSession = `
import imaplib, sys, re
M = imaplib.IMAP4_stream(sys.argv[1])
M.select("INBOX")
for i in range(int(sys.argv[2])):
    subject = "appended %d" % i
    typ, data = M.append("INBOX", None, None, ("Subject: %s\r\n\r\nbody %d\r\n" % (subject, i)).encode())
    assert typ == "OK", (typ, data)
    m = re.search(rb"APPENDUID (\d+) (\d+)", data[0])
    print("GIVEN", m.group(1).decode(), m.group(2).decode(), subject)
M.logout()
`

// uidsSession prints UIDVALIDITY and every message's UID and subject.
const uidsSession = `
import imaplib, sys, email
M = imaplib.IMAP4_stream(sys.argv[1])
M.select("INBOX", readonly=True)
validity = M.untagged_responses["UIDVALIDITY"][0].decode()
typ, data = M.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
for item in data:
    if isinstance(item, tuple):
        uid = item[0].decode().split("UID ")[1].split()[0]
        print("GIVEN", validity, uid, email.message_from_bytes(item[1])["subject"])
M.logout()
`

// In a big folder, whose UIDs live in its index, every APPEND adds a small
// record to the index rather than writing it again, and the UIDs APPENDUID
// gave are those a new imapd reads after them (imaplib on the real binary).
func TestImaplibAppendUIDsOfABigFolderLastAcrossARestart(t *testing.T) {
	u := newIMAPUser(t)
	dir := filepath.Join(u.sb.Dir, "big")
	os.Mkdir(dir, 0o755)
	os.Chown(dir, 65534, 65534)
	box := filepath.Join(dir, "Mailbox")
	u.sb.Set("mailbox", box)
	writeFolder(t, box, 300, 60<<10) // 18 MB: its UIDs go in its index
	os.Chown(box, 65534, 65534)
	u.python(t, uidsSession) // numbers it
	index := filepath.Join(dir, ".Mailbox.index")
	before, err := os.Stat(index)
	if err != nil {
		t.Fatalf("no index beside the big folder: %v", err)
	}
	given := u.python(t, appendSession, "150")
	after, err := os.Stat(index)
	if err != nil || !os.SameFile(before, after) || after.Size()-before.Size() > 150*1024 {
		t.Errorf("the index was rewritten, or grew by more than the appends: %v -> %v", before, after)
	}
	read := u.python(t, uidsSession)
	line := regexp.MustCompile(`(?m)^GIVEN (\d+) (\d+) (appended \d+)$`)
	got := map[string]string{}
	validity := ""
	for _, m := range line.FindAllStringSubmatch(read, -1) {
		got[m[3]] = m[1] + " " + m[2]
		validity = m[1]
	}
	all := line.FindAllStringSubmatch(given, -1)
	if len(all) != 150 || len(got) != 150 {
		t.Fatalf("%d APPENDUIDs, %d appended messages read back:\n%s\n%s", len(all), len(got), given, read)
	}
	for _, m := range all {
		if got[m[3]] != m[1]+" "+m[2] {
			t.Errorf("%s: APPENDUID %s %s, read back as %q", m[3], m[1], m[2], got[m[3]])
		}
	}
	if !strings.Contains(read, "GIVEN "+validity+" 1 message 1\n") {
		t.Errorf("the folder's own messages lost their UIDs:\n%s", read[:min(len(read), 500)])
	}
	if b, _ := os.ReadFile(box); strings.Contains(string(b[:4096]), "X-IMAPbase") {
		t.Error("the big folder's base was written into it")
	}
}
