package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"unixmail/internal/sandbox"
	"unixmail/internal/testbin"
	"unixmail/pkg/mbox"
)

// imapUser is a sandbox with one user whose mail imapd serves over a pipe,
// PREAUTH as that user, the way `ssh host imapd` runs it. As root the user
// is uid 65534 and imapd runs as it (imapd never serves root itself).
type imapUser struct {
	sb   *sandbox.Sandbox
	name string
	argv []string // how to start imapd as the user
}

func newIMAPUser(t *testing.T) *imapUser {
	t.Helper()
	sb := sandbox.New(t, "alice")
	u := &imapUser{sb: sb, name: "alice"}
	imapd := testbin.Path(t, "imapd")
	testbin.Path(t, "deliver")
	if os.Geteuid() == 0 {
		u.name = "nobody10"
		sb.AddUser(u.name, 65534, 65534)
		u.argv = []string{sandbox.NeedPeer(t, "setpriv"), "--reuid=65534", "--regid=65534", "--clear-groups"}
	}
	log := sb.WriteFile("imapd.log", "", 0o666)
	os.Chmod(log, 0o666)
	sb.Set("log", log)
	u.argv = append(u.argv, imapd, "-C", sb.Conf)
	return u
}

func (u *imapUser) deliver(t *testing.T, msgs ...string) {
	t.Helper()
	for _, m := range msgs {
		if r := u.sb.Run(m, "deliver", u.name); r.Code != 0 {
			t.Fatalf("deliver: exit %d: %s", r.Code, r.Stderr)
		}
	}
}

// log is imapd's log so far.
func (u *imapUser) log() string {
	b, _ := os.ReadFile(filepath.Join(u.sb.Dir, "imapd.log"))
	return string(b)
}

func (u *imapUser) mailbox() string { return u.sb.Mailbox(u.name) }

// python runs a python3 script with the imapd command line (for
// imaplib.IMAP4_stream) as its first argument and returns its output.
func (u *imapUser) python(t *testing.T, script string, args ...string) string {
	t.Helper()
	py := sandbox.NeedPeer(t, "python3")
	cmdline := ""
	for _, a := range u.argv {
		cmdline += "'" + strings.ReplaceAll(a, "'", `'\''`) + "' "
	}
	cmd := exec.Command(py, append([]string{"-c", script, cmdline}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s\nlog:\n%s", err, out, u.log())
	}
	return string(out)
}

type pyMessage struct {
	Subject string `json:"subject"`
	Status  string `json:"status"`
	XStatus string `json:"xstatus"`
	UID     string `json:"uid"`
	Body    string `json:"body"`
}

// readMailbox parses the mailbox with python3's mailbox module.
func (u *imapUser) readMailbox(t *testing.T) []pyMessage {
	t.Helper()
	return u.readMailboxAt(t, u.mailbox())
}

// readMailboxAt is readMailbox of the mbox at path.
func (u *imapUser) readMailboxAt(t *testing.T, path string) []pyMessage {
	t.Helper()
	out := u.python(t, `
import mailbox, json, sys
box = mailbox.mbox(sys.argv[2], create=False)
print(json.dumps([{"subject": m["subject"] or "", "status": m["status"] or "", "xstatus": m["x-status"] or "",
  "uid": m["x-uid"] or "", "body": m.get_payload()} for m in box]))
`, path)
	var msgs []pyMessage
	if err := json.Unmarshal([]byte(out), &msgs); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return msgs
}

func message(subject, body string) string {
	return "From: Alice <alice@test.example>\nTo: bob@test.example\nSubject: " + subject + "\n\n" + body
}

func TestImaplibReadsFlagsAndKeepsUIDsOverStdin(t *testing.T) {
	u := newIMAPUser(t)
	u.deliver(t, message("one", "first\n"), message("two", "From the start of a line\nsecond\n"), message("three", "third\n"))
	session := `
import imaplib, sys
M = imaplib.IMAP4_stream(sys.argv[1])
assert M.state == "AUTH", M.state
typ, data = M.select("INBOX")
assert typ == "OK" and data == [b"3"], (typ, data)
print("UIDVALIDITY", M.untagged_responses["UIDVALIDITY"][0].decode())
typ, data = M.uid("FETCH", "1:*", "(UID BODY.PEEK[TEXT])")
for item in data:
    if isinstance(item, tuple):
        print("TEXT", item[0].decode().split()[2], repr(item[1].decode()))
typ, data = M.store("1", "+FLAGS", r"(\Flagged)")
assert typ == "OK", data
typ, data = M.fetch("2", "(BODY[])")
assert typ == "OK", data
typ, data = M.fetch("1:*", "(UID FLAGS)")
for item in data:
    print("FLAGS", item.decode())
M.logout()
`
	out := u.python(t, session)
	for _, want := range []string{
		`TEXT 1 'first\r\n'`,
		`TEXT 2 'From the start of a line\r\nsecond\r\n'`,
		`FLAGS 1 (UID 1 FLAGS (\Flagged \Recent))`,
		`FLAGS 2 (UID 2 FLAGS (\Seen \Recent))`,
		`FLAGS 3 (UID 3 FLAGS (\Recent))`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("imaplib session lacks %q:\n%s", want, out)
		}
	}
	validity := strings.Fields(out[strings.Index(out, "UIDVALIDITY"):])[1]

	msgs := u.readMailbox(t)
	if len(msgs) != 3 || msgs[0].XStatus != "F" || !strings.Contains(msgs[1].Status, "R") || msgs[2].UID != "3" {
		t.Fatalf("python mailbox reads %+v", msgs)
	}
	if !strings.Contains(msgs[1].Body, "From the start") {
		t.Fatalf("second message's body: %q", msgs[1].Body)
	}

	// More mail, and a new imapd: the old UIDs and UIDVALIDITY stand.
	u.deliver(t, message("four", "fourth\n"))
	out = u.python(t, `
import imaplib, sys
M = imaplib.IMAP4_stream(sys.argv[1])
M.select("INBOX", readonly=True)
print("UIDVALIDITY", M.untagged_responses["UIDVALIDITY"][0].decode())
typ, data = M.fetch("1:*", "(UID FLAGS)")
for item in data:
    print("FLAGS", item.decode())
typ, data = M.fetch("2", "(RFC822.SIZE BODY.PEEK[])")
print("SIZE", data[0][0].decode().split("RFC822.SIZE ")[1].split()[0], len(data[0][1]), data[0][1].count(b"\r\n"), data[0][1].count(b"\n"), b"Status:" in data[0][1] or b"X-UID:" in data[0][1] or b">From" in data[0][1])
M.logout()
`)
	for _, want := range []string{"UIDVALIDITY " + validity, `FLAGS 1 (UID 1 FLAGS (\Flagged))`, `FLAGS 4 (UID 4 FLAGS (\Recent))`} {
		if !strings.Contains(out, want) {
			t.Errorf("second session lacks %q:\n%s", want, out)
		}
	}
	// RFC822.SIZE is the size of the message as fetched: CRLF line ends,
	// the mbox quoting of "From " undone, the state fields left out.
	size := regexp.MustCompile(`SIZE (\d+) (\d+) (\d+) (\d+) False`).FindStringSubmatch(out)
	if size == nil || size[1] != size[2] || size[3] != size[4] {
		t.Errorf("RFC822.SIZE and what BODY[] sends (size, length, CRLFs, LFs): %v\n%s", size, out)
	}
}

func TestGarbageOversizeLiteralsPathEscapesAndDeepMIMEAreRefusedWithTheSessionAlive(t *testing.T) {
	u := newIMAPUser(t)
	// MIME nested 10,000 deep, delivered before the size limit is set.
	var deep strings.Builder
	deep.WriteString("Subject: deep\nContent-Type: multipart/mixed; boundary=b0\n\n")
	for i := 1; i < 10000; i++ {
		fmt.Fprintf(&deep, "--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n", i-1, i)
	}
	deep.WriteString("--b9999\n\nleaf\n")
	u.deliver(t, message("one", "first\n"), deep.String())
	u.sb.Set("message_size_limit", "1000")
	// The oversize literal is sent without waiting (LITERAL+) and holds
	// lines that would be commands: they must be read and dropped.
	payload := strings.Repeat("x DELETE INBOX\r\nz LOGOUT\r\n", 100)
	out := u.python(t, fmt.Sprintf(`
import imaplib, sys
M = imaplib.IMAP4_stream(sys.argv[1])
def raw(line, tag=None):
    M.send(line)
    tag = tag or line.split(b" ")[0]
    while True:
        l = M.readline()
        print(l.decode(errors="replace").rstrip())
        if not l or l.startswith(tag + b" "):
            return
raw(b"a1 FROBNICATE now\r\n")
raw(b"LOGOUT\r\n", b"LOGOUT")
raw(b"\x00\x01\r\n", b"*")
raw(b"b1 UID\r\n")
raw(b"b2\x00 SELECT INBOX\r\n", b"b2")
raw(b"b3 SEARCH " + b"(" * 30000 + b"ALL" + b")" * 30000 + b"\r\n")
raw(b'b4 LIST "" "' + b"*%%" * 20000 + b'x"\r\n')
raw(b"a2 APPEND INBOX {%d+}\r\n" + b%q + b"\r\n")
raw(b"a3 APPEND INBOX {99999999}\r\n")
raw(b"a4 SELECT \"../../etc/passwd\"\r\n")
raw(b"a5 CREATE /tmp/evil\r\n")
raw(b"a6 SELECT INBOX\r\n")
raw(b"a7 FETCH 2 (BODYSTRUCTURE)\r\n")
raw(b"a8 SEARCH BODY leaf\r\n")
def deep(n):
    return b"(" * n + b"ALL" + b")" * n
raw(b"c1 SEARCH " + deep(999) + b"\r\n")
raw(b"c2 SEARCH " + deep(1000) + b"\r\n")
raw(b"c3 UID SEARCH " + deep(10000) + b"\r\n")
raw(b"c4 SEARCH CHARSET UTF-8 (SUBJECT {1+}\r\nx " + deep(1000) + b")\r\n")
raw(b"c5 SORT (DATE) UTF-8 " + deep(10000) + b"\r\n")
raw(b"c6 THREAD REFERENCES UTF-8 " + deep(1000) + b" SUBJECT {9+}\r\nc7 NOOP\r\n\r\n")
raw(b"a9 LOGOUT\r\n")
`, len(payload), payload))
	_, structure, _ := strings.Cut(out, "* 2 FETCH (BODYSTRUCTURE ")
	structure, _, _ = strings.Cut(structure, "\n")
	structure = strings.TrimSuffix(strings.TrimSpace(structure), ")") // the FETCH's own
	if len(structure) > 20000 || strings.Count(structure, "(") != strings.Count(structure, ")") || !strings.Contains(structure, `"mixed"`) {
		t.Errorf("BODYSTRUCTURE of the 10,000-deep message, %d bytes: %.300s", len(structure), structure)
	}
	for _, want := range []string{"a1 BAD", "LOGOUT BAD", "* BAD", "b1 BAD", "b2 BAD", "b3 BAD [TOOBIG]", "b4 OK", "a2 NO [TOOBIG]", "a3 NO [TOOBIG]", "a4 NO", "a5 NO", "* 2 EXISTS", "a6 OK", "a7 OK", "* SEARCH 2",
		"* SEARCH 1 2\nc1 OK", "c2 BAD [CLIENTBUG] Search criteria nested too deep", "c3 BAD [CLIENTBUG] Search criteria nested too deep",
		"c4 BAD [CLIENTBUG] Syntax error", "c5 BAD [CLIENTBUG] Search criteria nested too deep", "c6 BAD [CLIENTBUG] Search criteria nested too deep", "a9 OK"} {
		if !strings.Contains(out, want) {
			t.Errorf("session lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "SERVERBUG") || strings.Contains(out, "\nc7 ") {
		t.Errorf("deep nesting made the library fail, or a literal's line ran:\n%.3000s", out)
	}
	if strings.Contains(out, "\nz ") || strings.Contains(out, "\nx ") {
		t.Fatalf("a literal's lines ran as commands:\n%s", out)
	}
	if _, err := os.Stat("/tmp/evil"); err == nil {
		t.Fatal("CREATE /tmp/evil made a file")
	}
}

// Folders as imapd(8) says: files and directories under folder_dir,
// special uses by name, children, subscriptions in .subscriptions; a file
// that is no mbox and a symbolic link out of folder_dir are never touched;
// RENAME INBOX leaves INBOX empty.
func TestImaplibManagesFoldersUnderFolderDirAndNothingElse(t *testing.T) {
	u := newIMAPUser(t)
	u.deliver(t, message("one", "1\n"), message("two", "2\n"))
	mail := filepath.Join(u.sb.Home(u.name), "mail")
	os.MkdirAll(mail, 0o700)
	os.WriteFile(filepath.Join(mail, "notes.txt"), []byte("not mail\n"), 0o600)
	os.Symlink("/etc", filepath.Join(mail, "escape"))
	if os.Geteuid() == 0 {
		for _, p := range []string{mail, filepath.Join(mail, "notes.txt")} {
			os.Chown(p, 65534, 65534)
		}
	}
	out := u.python(t, `
import imaplib, sys
M = imaplib.IMAP4_stream(sys.argv[1])
for name in ("lists/go", "Sent", "drafts", "Trash", "Junk", "Archive", "Donn&AOk-es"):
    print("CREATE", name, M.create(name)[0])
def lst(*args):
    typ, data = M._simple_command("LIST", *args)
    for l in M.untagged_responses.pop("LIST", []):
        print("LIST", " ".join(args), l.decode())
lst('""', '"*"')
lst('(SPECIAL-USE)', '""', '"*"')
M.subscribe("lists/go"); M.subscribe("Sent"); M.unsubscribe("Sent")
typ, data = M.lsub('""', '"*"')
print("LSUB", data)
lst('(SUBSCRIBED)', '""', '"*"', 'RETURN', '(CHILDREN)')
for cmd, args in (("SELECT", ("notes.txt",)), ("DELETE", ("notes.txt",)), ("RENAME", ("notes.txt", "x")),
                  ("RENAME", ("Sent", "notes.txt")), ("SELECT", ("escape/passwd",)), ("CREATE", ("escape/x",)),
                  ("SELECT", ('"../x"',)), ("CREATE", ('"INBOX/../x"',)), ("CREATE", ("/tmp/x",)), ("DELETE", ("lists",))):
    try:
        typ, data = M._simple_command(cmd, *args)
    except imaplib.IMAP4.error as e:
        typ, data = "BAD", [str(e).encode()]
    print("REFUSED", cmd, " ".join(args), typ)
lst('""', '"escape/*"')
print("RENAME INBOX", M.rename("INBOX", "Old")[0])
print("STATUS", M.status("Old", "(MESSAGES)")[1], M.status("INBOX", "(MESSAGES UIDNEXT)")[1])
M.logout()
`)
	for _, want := range []string{
		`LIST "" "*" (\Noselect \HasChildren) "/" "lists"`,
		`LIST "" "*" (\HasNoChildren) "/" "lists/go"`,
		`LIST "" "*" (\HasNoChildren \Sent) "/" "Sent"`,
		`LIST "" "*" (\HasNoChildren \Drafts) "/" "drafts"`,
		`LIST "" "*" (\HasNoChildren \Trash) "/" "Trash"`,
		`LIST "" "*" (\HasNoChildren \Junk) "/" "Junk"`,
		`LIST "" "*" (\HasNoChildren \Archive) "/" "Archive"`,
		`LIST "" "*" (\HasNoChildren) "/" "Donn&AOk-es"`,
		`LIST "" "*" (\Noselect \Noinferiors) "/" "notes.txt"`,
		`LIST (SPECIAL-USE) "" "*" (\HasNoChildren \Sent) "/" "Sent"`,
		`LSUB [b'(\\HasNoChildren \\Subscribed) "/" "lists/go"']`,
		`LIST (SUBSCRIBED) "" "*" RETURN (CHILDREN) (\HasNoChildren \Subscribed) "/" "lists/go"`,
		`RENAME INBOX OK`,
		`STATUS [b'"Old" (MESSAGES 2)'] [b'INBOX (MESSAGES 0 UIDNEXT 3)']`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("session lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "(SPECIAL-USE)"); n != 5 {
		t.Errorf("LIST (SPECIAL-USE) gave %d folders, want 5:\n%s", n, out)
	}
	if strings.Count(out, "REFUSED") != 10 || strings.Contains(out, " OK\nREFUSED") || regexp.MustCompile(`REFUSED .* OK`).MatchString(out) || strings.Contains(out, `"escape/`) {
		t.Errorf("a name out of bounds was served:\n%s", out)
	}
	if b, _ := os.ReadFile(filepath.Join(mail, ".subscriptions")); string(b) != "lists/go\n" {
		t.Errorf(".subscriptions: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(mail, "notes.txt")); string(b) != "not mail\n" {
		t.Errorf("notes.txt: %q", b)
	}
	if _, err := os.Stat(filepath.Join(mail, "Données")); err != nil {
		t.Errorf("the folder named in modified UTF-7 is not stored in UTF-8: %v", err)
	}
}

// The name INBOX is case-insensitive (RFC 3501 5.1): LIST, LSUB and the
// LIST-EXTENDED forms match it in any case and give it as INBOX, as
// Dovecot does; other names stay case-sensitive.
func TestImaplibListsINBOXForAPatternInAnyCase(t *testing.T) {
	u := newIMAPUser(t)
	u.deliver(t, message("one", "1\n"))
	out := u.python(t, `
import imaplib, sys
M = imaplib.IMAP4_stream(sys.argv[1])
for name in ("Sent", "Inboxes"):
    M.create(name)
M.subscribe("inbox")
def lst(cmd, *args):
    typ, data = M._simple_command(cmd, *args)
    got = [l.decode() for l in M.untagged_responses.pop(cmd, [])]
    got += [l.decode() for l in M.untagged_responses.pop("STATUS", [])]
    print(cmd, " ".join(args), typ, "|".join(got))
for p in ('"inbox*"', '"Inbox"', '"in%"', '"*O*"', '"sent"', '"inboxes"'):
    lst("LIST", '""', p)
lst("LSUB", '""', '"inbox"')
lst("LIST", '(SUBSCRIBED)', '""', '"iNbOx"')
lst("LIST", '""', '"inbox"', 'RETURN', '(STATUS (MESSAGES))')
M.logout()
`)
	for _, want := range []string{
		`LIST "" "inbox*" OK (\HasNoChildren) "/" INBOX` + "\n",
		`LIST "" "Inbox" OK (\HasNoChildren) "/" INBOX` + "\n",
		`LIST "" "in%" OK (\HasNoChildren) "/" INBOX` + "\n",
		`LIST "" "*O*" OK (\HasNoChildren) "/" INBOX` + "\n",
		`LIST "" "sent" OK ` + "\n",
		`LIST "" "inboxes" OK ` + "\n",
		`LSUB "" "inbox" OK (\HasNoChildren \Subscribed) "/" INBOX` + "\n",
		`LIST (SUBSCRIBED) "" "iNbOx" OK (\HasNoChildren \Subscribed) "/" INBOX` + "\n",
		`LIST "" "inbox" RETURN (STATUS (MESSAGES)) OK (\HasNoChildren) "/" INBOX|INBOX (MESSAGES 1)` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("session lacks %q:\n%s", want, out)
		}
	}
}

// APPEND's flags go into the state fields and its date into the From_
// line, as the same moment whatever zone the client gave it in.
func TestImaplibAppendsWithFlagsAndADateThatBecomesTheFromLine(t *testing.T) {
	u := newIMAPUser(t)
	out := u.python(t, `
import imaplib, sys
M = imaplib.IMAP4_stream(sys.argv[1])
typ, data = M.append("INBOX", r"(\Seen \Flagged $Label1)", '"14-Jul-2021 02:44:25 -0700"', b"Subject: dated\r\n\r\nFrom me\r\n")
print("APPEND", typ, data)
M.select("INBOX", readonly=True)
typ, data = M.fetch("1", "(FLAGS INTERNALDATE BODY.PEEK[TEXT])")
print("FETCH", data[0][0].decode(), repr(data[0][1]))
M.logout()
`)
	if !strings.Contains(out, "APPEND OK [b'[APPENDUID ") || !strings.Contains(out, `FLAGS (\Seen \Flagged $Label1)`) || !strings.Contains(out, `'From me\r\n'`) {
		t.Fatalf("imaplib:\n%s", out)
	}
	want := time.Date(2021, 7, 14, 9, 44, 25, 0, time.UTC)
	date := regexp.MustCompile(`INTERNALDATE "([^"]+)"`).FindStringSubmatch(out)
	if got, err := time.Parse("_2-Jan-2006 15:04:05 -0700", date[1]); err != nil || !got.Equal(want) {
		t.Errorf("INTERNALDATE %q, want %v (%v)", date[1], want, err)
	}
	b, _ := os.ReadFile(u.mailbox())
	first, _, _ := strings.Cut(string(b), "\n")
	if _, got, ok := mbox.ParseFromLine([]byte(first)); !ok || !got.Equal(want) {
		t.Errorf("From_ line %q, want the moment %v", first, want)
	}
	msgs := u.readMailbox(t)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Status, "R") || msgs[0].XStatus != "F" || !strings.Contains(string(b), "\nX-Keywords: $Label1") || msgs[0].Body != ">From me\n" && msgs[0].Body != "From me\n" {
		t.Errorf("stored: %+v\n%s", msgs, b)
	}
}
