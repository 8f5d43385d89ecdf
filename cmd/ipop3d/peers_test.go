package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"unixmail/internal/sandbox"
)

// uidls picks the unique-ids out of a UIDL listing.
func uidls(lines []string) []string {
	var out []string
	for _, l := range lines {
		if f := strings.Fields(l); len(f) == 2 {
			out = append(out, f[1])
		}
	}
	return out
}

// bobsUIDL is the UIDL lines of bob's mailbox in one session that quits.
func bobsUIDL(t *testing.T, s *sandbox.Sandbox) []string {
	t.Helper()
	ss := pipeSession(t, s)
	ss.login("bob")
	_, lines := ss.do("UIDL", true)
	ss.do("QUIT", false)
	ss.cmd.Wait()
	return lines
}

// TestUIDLLastsAcrossRewritesAndMatchesDovecot: the unique-ids survive
// mail(1) deleting a message (a rewrite of the file), and Dovecot's pop3,
// told to use UW's form, gives the same ones for the same file.
func TestUIDLLastsAcrossRewritesAndMatchesDovecot(t *testing.T) {
	s := box(t, 3)
	first := bobsUIDL(t, s)
	if len(first) != 3 {
		t.Fatalf("UIDL: %v", first)
	}
	if r := sandbox.RunCmd(t, s.Mail("bob", "-f", s.Mailbox("bob")), "d 1\nq\n"); r.Code != 0 {
		t.Fatalf("mail: %d %s", r.Code, r.Stderr)
	}
	second := bobsUIDL(t, s)
	before, after := uidls(first), uidls(second)
	if len(after) != 2 || after[0] != before[1] || after[1] != before[2] {
		t.Errorf("UIDL before mail deleted message 1: %v; after: %v", before, after)
	}
	transcript, _ := sandbox.DovecotPOP3(t, []byte(s.ReadMailbox("bob")), "pop3_uidl_format = %08Xv%08Xu\n", "UIDL", "QUIT")
	var theirs []string
	for _, l := range strings.Split(transcript, "\r\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] != "+OK" {
			theirs = append(theirs, strings.ToLower(f[1]))
		}
	}
	if strings.Join(theirs, " ") != strings.Join(after, " ") {
		t.Errorf("Dovecot's UIDL %v, ours %v\n%s", theirs, after, transcript)
	}
}

// A UID not above the one before it, written into the file between two
// sessions (by hand, or a broken program), is the one reason for a new
// UIDVALIDITY: ipop3d gives every UIDL again and logs why, as imapd does.
func TestANonIncreasingXUIDGivesNewUIDLsAndTheLogSaysWhy(t *testing.T) {
	s := box(t, 2)
	first := bobsUIDL(t, s)
	box := s.ReadMailbox("bob")
	if !strings.Contains(box, "\nX-UID: 2\n") {
		t.Fatalf("message 2 holds no X-UID 2:\n%s", box)
	}
	if err := os.WriteFile(s.Mailbox("bob"), []byte(strings.Replace(box, "\nX-UID: 2\n", "\nX-UID: 1\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	second := bobsUIDL(t, s)
	before, after := uidls(first), uidls(second)
	if len(after) != 2 || after[0][:8] == before[0][:8] || after[0][8:] != "00000001" || after[1][8:] != "00000002" {
		t.Errorf("UIDL before the X-UID went down: %v; after: %v", before, after)
	}
	log := s.Log()
	if !regexp.MustCompile(`ipop3d\[\d+\]: warning: mailbox=\S+/Mailbox new uidvalidity=\d+: the UIDs in it could not stand: message 2 has UID 1, not above 1 before it \(`).MatchString(log) {
		t.Errorf("the log does not say why UIDVALIDITY changed:\n%s", log)
	}
	if n := strings.Count(log, "new uidvalidity="); n != 1 {
		t.Errorf("a new UIDVALIDITY logged %d times, want once:\n%s", n, log)
	}
}

// TestQuitBesideDovecotLDALosesNothing deletes every message of a session
// and quits while dovecot-lda keeps delivering to the same mailbox: every
// message dovecot-lda delivered is there at the end.
func TestQuitBesideDovecotLDALosesNothing(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: ipop3d and dovecot-lda both run as uid 65534")
	}
	lda := "/usr/lib/dovecot/dovecot-lda"
	if _, err := os.Stat(lda); err != nil {
		sandbox.NeedPeer(t, "dovecot-lda")
	}
	var initial strings.Builder
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(&initial, "From a@example.org  Mon Dec  1 10:00:0%d 2026\nSubject: old %d\n\nold\n\n", i, i)
	}
	home := sandbox.PeerHome(t, []byte(initial.String()))
	s := box(t, 0)
	f, _ := os.OpenFile(filepath.Join(s.Dir, "passwd"), os.O_APPEND|os.O_WRONLY, 0)
	fmt.Fprintf(f, "nob:x:65534:65534:Nobody:%s:/bin/sh\n", home)
	f.Close()
	s.SetPassword("nob", password)
	conf := filepath.Join(filepath.Dir(home), "lda.conf")
	os.WriteFile(conf, []byte("mail_location = mbox:~/mail:INBOX=~/Mailbox\nlog_path = "+home+"/lda.log\n"), 0o644)

	ss := pipeSession(t, s)
	if r := ss.login("nob"); !strings.HasPrefix(r, "+OK nob has 3") {
		t.Fatalf("login: %q", r)
	}
	const n = 20
	delivered := make(chan int, n)
	go func() {
		defer close(delivered)
		for i := 1; i <= n; i++ {
			cmd := exec.Command(sandbox.NeedPeer(t, "setpriv"), "--reuid=65534", "--regid=65534", "--clear-groups", lda, "-c", conf, "-f", "alice@example.org")
			cmd.Env = []string{"HOME=" + home, "USER=nobody", "PATH=/usr/bin:/bin"}
			cmd.Stdin = strings.NewReader(fmt.Sprintf("From: alice@example.org\nSubject: lda %d\n\nnew\n", i))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("dovecot-lda %d: %v %s", i, err, out)
			}
			delivered <- i
		}
	}()
	for i := 1; i <= 3; i++ {
		ss.do(fmt.Sprintf("DELE %d", i), false)
	}
	<-delivered
	<-delivered
	if r, _ := ss.do("QUIT", false); !strings.HasPrefix(r, "+OK") {
		t.Errorf("QUIT: %q", r)
	}
	for range delivered {
	}
	b, _ := os.ReadFile(filepath.Join(home, "Mailbox"))
	box := string(b)
	for i := 1; i <= n; i++ {
		if c := strings.Count(box, fmt.Sprintf("Subject: lda %d\n", i)); c != 1 {
			t.Errorf("lda message %d is there %d times", i, c)
		}
	}
	if strings.Contains(box, "Subject: old") {
		t.Errorf("a deleted message is still there")
	}
}
