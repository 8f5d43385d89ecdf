package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"unixmail/internal/sandbox"
)

// maildirMessage is a message of an OfflineIMAP Maildir: its file, the UID
// OfflineIMAP put in the name, the flags after ":2," and the text.
type maildirMessage struct {
	path, uid, flags, text string
}

// readMaildir lists the messages of one Maildir folder by subject.
func readMaildir(t *testing.T, folder string) map[string]maildirMessage {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(folder, "cur", "*"))
	fresh, _ := filepath.Glob(filepath.Join(folder, "new", "*"))
	msgs := map[string]maildirMessage{}
	name := regexp.MustCompile(`,U=(\d+),.*?(?::2,([A-Z]*))?$`)
	subject := regexp.MustCompile(`(?m)^Subject: (.*)$`)
	for _, f := range append(files, fresh...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, s := name.FindStringSubmatch(filepath.Base(f)), subject.FindStringSubmatch(string(b))
		if m == nil || s == nil {
			t.Fatalf("Maildir file %s: no UID in the name or no subject:\n%s", f, b)
		}
		msgs[s[1]] = maildirMessage{path: f, uid: m[1], flags: m[2], text: string(b)}
	}
	return msgs
}

func TestOfflineIMAPSyncsFoldersToAMaildirAndBack(t *testing.T) {
	u := newIMAPUser(t)
	offlineimap := sandbox.NeedPeer(t, "offlineimap")
	u.deliver(t, message("one", "first\n"), message("two", "From the start of a line\nsecond\n"), message("three", "third\n"))
	lists := filepath.Join(u.sb.Home(u.name), "mail", "Lists")
	u.python(t, `
import imaplib, sys
M = imaplib.IMAP4_stream(sys.argv[1])
M.create("Lists")
M.select("INBOX")
M.store("1", "+FLAGS", "(\\Seen)")
M.store("2", "+FLAGS", "(\\Flagged)")
M.logout()
`)
	for _, m := range []string{message("four", "fourth\n"), message("five", ">From quoted already\nfifth\n")} {
		if r := u.sb.Run(m, "deliver", "-m", "~/mail/Lists", u.name); r.Code != 0 {
			t.Fatalf("deliver -m: exit %d: %s", r.Code, r.Stderr)
		}
	}

	dir := t.TempDir()
	maildir := filepath.Join(dir, "Maildir")
	conf := filepath.Join(dir, "offlineimaprc")
	os.WriteFile(conf, []byte(`[general]
accounts = imapd
metadata = `+filepath.Join(dir, "metadata")+`

[Account imapd]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = `+maildir+`

[Repository remote]
type = IMAP
preauthtunnel = `+u.imapdCommand()+`
`), 0o600)
	// OfflineIMAP runs imapd as the user through its tunnel, as mbsync does.
	sync := func() {
		t.Helper()
		cmd := exec.Command(offlineimap, "-c", conf, "-o", "-u", "quiet")
		cmd.Env = []string{"HOME=" + dir, "PATH=/usr/bin:/bin", "LC_ALL=C.UTF-8"}
		// It may exit 0 having reported a folder's failure.
		if out, err := cmd.CombinedOutput(); err != nil || strings.Contains(string(out), "ERROR") {
			t.Fatalf("offlineimap: %v\n%s\nlog:\n%s", err, out, u.log())
		}
	}
	sync()

	inbox, folder := readMaildir(t, filepath.Join(maildir, "INBOX")), readMaildir(t, filepath.Join(maildir, "Lists"))
	for _, c := range []struct {
		got          map[string]maildirMessage
		subject, uid string
		flags, body  string
	}{
		{inbox, "one", "1", "S", "first\n"},
		{inbox, "two", "2", "F", "From the start of a line\nsecond\n"},
		{inbox, "three", "3", "", "third\n"},
		{folder, "four", "1", "", "fourth\n"},
		{folder, "five", "2", "", ">From quoted already\nfifth\n"},
	} {
		m, ok := c.got[c.subject]
		head, body, _ := strings.Cut(m.text, "\n\n")
		if !ok || m.uid != c.uid || m.flags != c.flags || body != c.body || strings.Contains(head, "X-UID:") {
			t.Errorf("message %q in the Maildir: UID %q flags %q body %q, want UID %s flags %q body %q",
				c.subject, m.uid, m.flags, body, c.uid, c.flags, c.body)
		}
	}
	if len(inbox) != 3 || len(folder) != 2 {
		t.Fatalf("Maildir after the first sync: INBOX %v, Lists %v", inbox, folder)
	}

	// Message three read and message two deleted in the Maildir go up, and
	// a message written there is APPENDed, its UID taken from APPENDUID.
	three := inbox["three"]
	read := strings.Replace(three.path, "/new/", "/cur/", 1)
	if i := strings.Index(read, ":2,"); i >= 0 {
		read = read[:i]
	}
	if err := os.Rename(three.path, read+":2,S"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(inbox["two"].path); err != nil {
		t.Fatal(err)
	}
	written := "From: me@here\nSubject: from the maildir\nDate: Tue, 14 Nov 2023 22:13:20 +0000\n\nFrom the near side\n"
	if err := os.WriteFile(filepath.Join(maildir, "Lists", "new", "1700000000.1.local"), []byte(written), 0o600); err != nil {
		t.Fatal(err)
	}
	sync()
	box := u.readMailbox(t)
	if len(box) != 2 || box[0].Subject != "one" || box[1].Subject != "three" {
		t.Fatalf("mailbox after syncing up: %+v", box)
	}
	if box[0].UID != "1" || box[1].UID != "3" || !strings.Contains(box[0].Status, "R") || !strings.Contains(box[1].Status, "R") {
		t.Errorf("mailbox after syncing up, want UIDs 1 and 3 both read: %+v", box)
	}
	// python's mailbox reads a body as stored, mboxrd's quoting kept.
	got := u.readMailboxAt(t, lists)
	if len(got) != 3 || got[0].UID != "1" || got[1].UID != "2" || got[1].Body != ">>From quoted already\nfifth\n" ||
		got[2].Subject != "from the maildir" || got[2].UID != "3" || got[2].Body != ">From the near side\n" {
		t.Errorf("the other folder after syncing up: %+v", got)
	}
	if up, ok := readMaildir(t, filepath.Join(maildir, "Lists"))["from the maildir"]; !ok || up.uid != "3" || up.text != written {
		t.Errorf("the message written in the Maildir, after it went up: %+v", up)
	}
	// Another run changes nothing.
	sync()
	if after := readMaildir(t, filepath.Join(maildir, "INBOX")); len(after) != 2 || after["three"].flags != "S" || after["one"].uid != "1" {
		t.Errorf("Maildir after the third sync: %v", after)
	}
}
