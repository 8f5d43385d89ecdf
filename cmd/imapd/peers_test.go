package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"unixmail/internal/sandbox"
	"unixmail/internal/testbin"
)

// uidsAndFlags lists "UID flags" for every message, through imaplib.
func (u *imapUser) uidsAndFlags(t *testing.T) string {
	t.Helper()
	return u.python(t, `
import imaplib, sys
M = imaplib.IMAP4_stream(sys.argv[1])
M.select("INBOX", readonly=True)
print("V", M.untagged_responses["UIDVALIDITY"][0].decode())
typ, data = M.fetch("1:*", "(UID FLAGS)")
for item in data:
    if item:
        print(item.decode())
M.logout()
`)
}

func TestUIDsAndFlagsSurviveMailDovecotAndAnotherImapd(t *testing.T) {
	u := newIMAPUser(t)
	u.withPassword(t, "pop pass")
	u.deliver(t, message("one", "1\n"), message("two", "2\n"), message("three", "3\n"))
	before := u.uidsAndFlags(t)
	validity := regexp.MustCompile(`V (\d+)`).FindStringSubmatch(before)[1]

	// Dovecot's imap flags message 1 in the same file.
	b, _ := os.ReadFile(u.mailbox())
	transcript, after := sandbox.DovecotIMAP(t, b, `a SELECT INBOX`, `b STORE 1 +FLAGS (\Flagged)`, `c FETCH 1:* (UID FLAGS)`, `d LOGOUT`)
	if !strings.Contains(transcript, "UIDVALIDITY "+validity+"]") || !strings.Contains(transcript, "* 3 FETCH (UID 3 ") {
		t.Fatalf("Dovecot does not read our UIDs:\n%s", transcript)
	}
	if err := os.WriteFile(u.mailbox(), after, 0o600); err != nil {
		t.Fatal(err)
	}

	// mail(1) reads message 2 and deletes message 3.
	mail := u.sb.Command("mail", "-n", "-N", "-f", u.mailbox())
	mail.Env = append(mail.Env, "HOME="+u.sb.Home(u.name), "LOGNAME="+u.name)
	if r := sandbox.RunCmd(t, mail, "set hold\np 2\nd 3\nq\n"); r.Code != 0 {
		t.Fatalf("mail: %d %s", r.Code, r.Stderr)
	}
	u.deliver(t, message("four", "4\n"))

	// ipop3d deletes message 1, and its UIDLs are made of the same UIDs.
	pop := u.asUser(exec.Command(testbin.Path(t, "ipop3d"), "-C", u.sb.Conf))
	r := sandbox.RunCmd(t, pop, "USER "+u.name+"\r\nPASS pop pass\r\nUIDL\r\nDELE 1\r\nQUIT\r\n")
	v, _ := strconv.ParseUint(validity, 10, 32)
	for _, uid := range []int{1, 2, 4} {
		if want := fmt.Sprintf("%08x%08x", v, uid); !strings.Contains(strings.ToLower(r.Stdout), want) {
			t.Errorf("ipop3d UIDL lacks %s:\n%s", want, r.Stdout)
		}
	}

	out := u.uidsAndFlags(t)
	for _, want := range []string{"V " + validity, `1 (UID 2 FLAGS (\Seen))`, `2 (UID 4 FLAGS (\Recent))`} {
		if !strings.Contains(out, want) {
			t.Errorf("after Dovecot, mail and deliver, lacks %q:\n%s\nbefore:\n%s", want, out, before)
		}
	}
}

func TestCurlFetchesAMessageByUID(t *testing.T) {
	u := newIMAPUser(t)
	u.withPassword(t, "curl pass")
	u.deliver(t, message("for curl", "fetched by curl\n"))
	addr := u.listen(t)
	curl := sandbox.NeedPeer(t, "curl")
	out, err := exec.Command(curl, "-sS", "--user", u.name+":curl pass", "imap://"+addr+"/INBOX;UID=1").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Subject: for curl") || !strings.Contains(string(out), "fetched by curl") {
		t.Fatalf("curl: %v\n%s\nlog:\n%s", err, out, u.log())
	}
	out, err = exec.Command(curl, "-sS", "--user", u.name+":curl pass", "imap://"+addr+"/INBOX?SUBJECT%20curl").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SEARCH 1") {
		t.Fatalf("curl search: %v\n%s", err, out)
	}
}

// asUser runs cmd as the imap user (uid 65534 when we are root).
func (u *imapUser) asUser(cmd *exec.Cmd) *exec.Cmd {
	if os.Geteuid() != 0 {
		return cmd
	}
	args := append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", cmd.Path}, cmd.Args[1:]...)
	c := exec.Command(u.argv[0], args...)
	c.Env, c.Dir = cmd.Env, cmd.Dir
	return c
}

// imapdCommand is the command line that starts imapd as the user, from
// root or from the user.
func (u *imapUser) imapdCommand() string {
	return strings.Join(u.argv, " ")
}

// userCommand is the imapd command line for a process already running as
// the user.
func (u *imapUser) userCommand() string {
	return strings.Join(u.argv[len(u.argv)-3:], " ")
}

func TestMbsyncSyncsBothWaysWithAMaildir(t *testing.T) {
	u := newIMAPUser(t)
	mbsync := sandbox.NeedPeer(t, "mbsync")
	u.deliver(t, message("from the server", "server side\n"))
	home := u.sb.Home(u.name)
	maildir := filepath.Join(home, "Maildir") + "/"
	os.MkdirAll(maildir, 0o700)
	rc := filepath.Join(home, ".mbsyncrc")
	os.WriteFile(rc, []byte(`IMAPAccount imapd
Tunnel "`+u.imapdCommand()+`"

IMAPStore remote
Account imapd

MaildirStore local
Path `+maildir+`
Inbox `+maildir+`INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns INBOX
Create Both
Sync All
Expunge Both
SyncState *
`), 0o600)
	os.Chown(rc, 65534, 65534)
	run := func() {
		t.Helper()
		cmd := exec.Command(mbsync, "-c", rc, "-a")
		cmd.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin"}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mbsync: %v\n%s\nlog:\n%s", err, out, u.log())
		}
	}
	// mbsync runs imapd as the user through its tunnel; as root, mbsync
	// itself stays root and the tunnel command drops.
	run()
	files, _ := filepath.Glob(maildir + "INBOX/cur/*")
	newFiles, _ := filepath.Glob(maildir + "INBOX/new/*")
	files = append(files, newFiles...)
	if len(files) != 1 {
		t.Fatalf("Maildir after the first sync: %v", files)
	}
	// A message made in the Maildir goes up; a flag set there too.
	os.WriteFile(maildir+"INBOX/new/1700000000.1.local", []byte("From: me@here\nSubject: from the maildir\n\nnear side\n"), 0o600)
	os.Rename(files[0], strings.Split(files[0], ":2,")[0]+":2,FS")
	run()
	box := u.readMailbox(t)
	if len(box) != 2 || box[1].Subject != "from the maildir" || box[0].XStatus != "F" || !strings.Contains(box[0].Status, "R") {
		t.Fatalf("mailbox after syncing up: %+v", box)
	}
	// Another run changes nothing: UIDs and UIDVALIDITY held.
	run()
	if box2 := u.readMailbox(t); len(box2) != 2 {
		t.Fatalf("third sync: %+v", box2)
	}
}

func TestFetchmailDownloadsOverIMAP(t *testing.T) {
	u := newIMAPUser(t)
	fetchmail := sandbox.NeedPeer(t, "fetchmail")
	u.deliver(t, message("fetch me", "fetched\n"), message("me too", "also\n"))
	home := u.sb.Home(u.name)
	out := filepath.Join(home, "fetched")
	rc := filepath.Join(home, ".fetchmailrc")
	os.WriteFile(rc, []byte(`poll localhost protocol imap plugin "`+u.userCommand()+`" auth ssh user "`+u.name+`" is "`+u.name+`" here sslproto '' mda "/bin/sh -c 'cat >> `+out+`'" keep
`), 0o600)
	os.Chown(rc, 65534, 65534)
	cmd := u.asUser(exec.Command(fetchmail, "-f", rc, "--nosyslog", "--nodetach", "-v"))
	cmd.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin", "FETCHMAILHOME=" + home}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fetchmail: %v\n%s\nlog:\n%s", err, b, u.log())
	}
	got, _ := os.ReadFile(out)
	if !strings.Contains(string(got), "Subject: fetch me") || !strings.Contains(string(got), "Subject: me too") {
		t.Fatalf("fetchmail delivered:\n%s", got)
	}
	// keep: the messages stay, now \Seen.
	if box := u.readMailbox(t); len(box) != 2 || !strings.Contains(box[0].Status, "R") {
		t.Fatalf("mailbox after fetchmail: %+v", box)
	}
}

// mutt runs mutt on the mailbox on a pseudo-terminal (script(1)), typing
// keys, with no user settings but those named.
func (u *imapUser) mutt(t *testing.T, args ...string) {
	t.Helper()
	u.muttOn(t, u.mailbox(), "", args...)
}

// muttIMAP runs mutt as mutt does over IMAP, on the INBOX of imapd started
// through mutt's tunnel (as "ssh host imapd" would be), its folders "=NAME".
func (u *imapUser) muttIMAP(t *testing.T, args ...string) {
	t.Helper()
	rc := "set tunnel=\"" + u.imapdCommand() + "\"\nset folder=imap://mailhost/\nset spoolfile=imap://mailhost/INBOX\nset confirmcreate=no\nset delete=yes\nset imap_passive=yes\n"
	u.muttOn(t, "imap://mailhost/INBOX", rc, args...)
}

// muttOn runs mutt on folder with the settings of mutt and those of rc.
func (u *imapUser) muttOn(t *testing.T, folder, rc string, args ...string) {
	t.Helper()
	mutt, script := sandbox.NeedPeer(t, "mutt"), sandbox.NeedPeer(t, "script")
	home := t.TempDir()
	rcFile := filepath.Join(home, "muttrc")
	os.WriteFile(rcFile, []byte("set folder="+home+"\nset mbox_type=mbox\nset sort=mailbox-order\nset wait_key=no\nset quit=yes\nset move=no\nset header_cache=\"\"\nset pipe_split=no\n"+rc), 0o644)
	line := mutt + " -n -F " + rcFile + " -f " + folder
	for _, a := range args {
		line += " '" + a + "'"
	}
	cmd := exec.Command(script, "-qec", line, "/dev/null")
	cmd.Env = append(os.Environ(), "HOME="+home, "TERM=xterm", "LC_ALL=C.UTF-8")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mutt: %v\n%q", err, out)
	}
}

func TestFlagsSetOverIMAPAreWhatMuttShowsAndTheOtherWayRound(t *testing.T) {
	u := newIMAPUser(t)
	u.deliver(t, message("one", "1\n"), message("two", "2\n"), message("three", "3\n"))
	u.python(t, `
import imaplib, sys
M = imaplib.IMAP4_stream(sys.argv[1])
M.select("INBOX")
M.store("2", "+FLAGS", "(\\Flagged)")
M.logout()
`)
	// mutt, read-only, pipes the messages it shows flagged.
	out := filepath.Join(t.TempDir(), "flagged")
	u.mutt(t, "-R", "-e", `push "<limit>~F<enter><tag-pattern>~A<enter><tag-prefix><pipe-message>cat >> `+out+`<enter><exit>"`)
	b, _ := os.ReadFile(out)
	if got := regexp.MustCompile(`(?m)^Subject: .*$`).FindAllString(string(b), -1); strings.Join(got, "|") != "Subject: two" {
		t.Errorf("mutt shows as flagged %q, want only message two", got)
	}
	// mutt flags message three and marks message one read.
	u.mutt(t, "-e", `push "<tag-pattern>~s three<enter><tag-prefix><flag-message><untag-pattern>~A<enter><tag-pattern>~s one<enter><tag-prefix><clear-flag>N<sync-mailbox><quit>"`)
	got := u.uidsAndFlags(t)
	for _, want := range []string{`1 (UID 1 FLAGS (\Seen))`, `2 (UID 2 FLAGS (\Flagged))`, `3 (UID 3 FLAGS (\Flagged))`} {
		if !strings.Contains(got, want) {
			t.Errorf("after mutt, IMAP lacks %q:\n%s", want, got)
		}
	}
}

func TestMuttReadsFlagsDeletesAndCopiesOverIMAP(t *testing.T) {
	u := newIMAPUser(t)
	u.deliver(t, message("one", "1\n"), message("two", "From the start\n2\n"), message("three", "3\n"))
	out := filepath.Join(t.TempDir(), "piped")
	// mutt flags three, deletes one, copies two to a new folder (IMAP
	// COPY) and pipes it, then syncs (STORE, EXPUNGE) and quits.
	u.muttIMAP(t, "-e", `push "<tag-pattern>~s three<enter><tag-prefix><flag-message><untag-pattern>~A<enter>`+
		`<tag-pattern>~s one<enter><tag-prefix><delete-message><untag-pattern>~A<enter>`+
		`<tag-pattern>~s two<enter><tag-prefix><copy-message>=Saved<enter><tag-prefix><pipe-message>cat >> `+out+`<enter>`+
		`<sync-mailbox><quit>"`)
	b, _ := os.ReadFile(out)
	if !strings.Contains(string(b), "Subject: two") || !strings.Contains(string(b), "\nFrom the start\n2\n") {
		t.Errorf("mutt piped over IMAP:\n%s\nlog:\n%s", b, u.log())
	}
	box := u.readMailbox(t)
	if len(box) != 2 || box[0].Subject != "two" || box[1].Subject != "three" || !strings.Contains(box[1].XStatus, "F") {
		t.Errorf("INBOX after mutt: %+v", box)
	}
	saved := u.readMailboxAt(t, filepath.Join(u.sb.Home(u.name), "mail", "Saved"))
	if len(saved) != 1 || saved[0].Subject != "two" || !strings.Contains(saved[0].Body, "From the start") {
		t.Errorf("Saved after mutt: %+v", saved)
	}
}
