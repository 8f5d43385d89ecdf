package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"unixmail/internal/sandbox"
)

// quitWithFlags runs a session over the five-message fixture as bob's
// system mailbox: 1 read (to ~/mbox at quit), 2 read and held, 3 deleted,
// 4 flagged, 5 left new. It returns the mailbox after quit, which should
// hold 2 (seen), 4 (old, flagged) and 5 (old).
func quitWithFlags(t *testing.T) []byte {
	sb := sandbox.New(t)
	b, err := os.ReadFile("testdata/five.mbox")
	if err != nil {
		t.Fatal(err)
	}
	p := sb.Mailbox("bob")
	os.WriteFile(p, b, 0o600)
	sb.MailRC("bob", "set sendmail=/bin/false")
	r := sandbox.RunCmd(t, sb.Mail("bob", "-N"), "p 1\np 2\nhold 2\nd 3\nflag 4\nq\n")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	box, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return box
}

// TestFlagsWrittenAtQuitAreWhatDovecotReports opens the mailbox mail left
// with Dovecot's imap, pre-authenticated with a private configuration, and
// fetches the flags of every message.
func TestFlagsWrittenAtQuitAreWhatDovecotReports(t *testing.T) {
	transcript, _ := sandbox.DovecotIMAP(t, quitWithFlags(t), "a SELECT INBOX", "b FETCH 1:* (FLAGS)", "c LOGOUT")
	flags := regexp.MustCompile(`\* (\d+) FETCH \(FLAGS \(([^)]*)\)\)`).FindAllStringSubmatch(transcript, -1)
	var got []string
	for _, f := range flags {
		got = append(got, f[1]+":"+f[2])
	}
	want := []string{`1:\Seen`, `2:\Flagged`, `3:`}
	if !strings.Contains(transcript, "* 3 EXISTS") || strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Dovecot sees %q, want 3 messages %q:\n%s", got, want, transcript)
	}
}

// TestFlagsWrittenAtQuitAreWhatMuttShows opens the same mailbox with mutt
// -R under tmux and reads the index's flag column: blank for read, O for
// old unread, ! for flagged.
func TestFlagsWrittenAtQuitAreWhatMuttShows(t *testing.T) {
	mutt := sandbox.NeedPeer(t, "mutt")
	home := sandbox.PeerHome(t, quitWithFlags(t))
	rc := filepath.Join(filepath.Dir(home), "muttrc")
	os.WriteFile(rc, []byte(fmt.Sprintf("set folder=%s\nset mbox_type=mbox\nset sort=mailbox-order\nset header_cache=\"\"\nset index_format=\"%%4C [%%Z] %%s\"\n", home)), 0o644)
	s := startTmux(t, fmt.Sprintf("env HOME=%s TERM=xterm LC_ALL=C.UTF-8 %s -n -F %s -R -f %s; sleep 30", home, mutt, rc, filepath.Join(home, "Mailbox")))
	screen := s.waitFor("   3 [")
	var got []string
	for _, l := range strings.Split(screen, "\n") {
		if m := regexp.MustCompile(`^\s+(\d) \[(...)\] `).FindStringSubmatch(l); m != nil {
			got = append(got, m[1]+":"+strings.TrimSpace(m[2]))
		}
	}
	want := []string{"1:", "2:O !", "3:O"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("mutt shows %q, want %q:\n%s", got, want, screen)
	}
}

func TestPrintShowsTheStoredEnvelopeLineAsBsdMailxAndSnailDo(t *testing.T) {
	sb := sandbox.New(t)
	envelope := "From bounces+alice=x@lists.example  Thu Dec  3 10:00:00 2026"
	box := sb.WriteFile("list.mbox", envelope+"\nFrom: Alice <alice@example.org>\nSubject: from a list\n\nbody\n\n"+
		"From evil\x1b]0;owned\x07@x.example  Thu Dec  3 10:01:00 2026\nFrom: Eve <eve@x.example>\nSubject: escapes\n\nbody\n\n", 0o600)
	ours := sandbox.RunCmd(t, sb.Mail("bob", "-N", "-R", "-f", box), "p 1\np 2\nx\n")
	mustShow := func(who, out string) {
		t.Helper()
		if !strings.Contains(out, "\n"+envelope+"\n") {
			t.Errorf("%s does not show the stored From_ line %q:\n%s", who, envelope, out)
		}
	}
	mustShow("mail", ours.Stdout)
	if strings.ContainsAny(ours.Stdout, "\x1b\x07") || !strings.Contains(ours.Stdout, "From evil^[]0;owned^G@x.example") {
		t.Errorf("mail shows an envelope's escapes raw:\n%q", ours.Stdout)
	}
	// x leaves the folder as it was (bsd-mailx has no -R).
	for _, peer := range [][]string{{"bsd-mailx", "-n", "-N", "-f", box}, {"s-nail", "-n", "-N", "-R", "-f", box}} {
		cmd := sb.Mail("bob")
		cmd.Path, cmd.Args = sandbox.NeedPeer(t, peer[0]), peer
		mustShow(peer[0], sandbox.RunCmd(t, cmd, "p 1\nx\n").Stdout)
	}
}
