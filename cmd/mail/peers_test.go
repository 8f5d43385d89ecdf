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
