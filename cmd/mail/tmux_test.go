package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"unixmail/internal/sandbox"
	"unixmail/internal/testbin"
)

// tmuxSession runs mail on a terminal inside a private tmux server.
type tmuxSession struct {
	t      *testing.T
	tmux   string
	socket string
}

func (s *tmuxSession) cmd(args ...string) string {
	s.t.Helper()
	out, err := exec.Command(s.tmux, append([]string{"-S", s.socket}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (s *tmuxSession) keys(k ...string) { s.cmd(append([]string{"send-keys", "-t", "m"}, k...)...) }

// waitFor polls the screen until it shows want; it fails with the screen
// after many tries (a wait for output, not a timing assertion).
func (s *tmuxSession) waitFor(want string) string {
	s.t.Helper()
	var screen string
	for range 200 {
		screen = s.cmd("capture-pane", "-p", "-t", "m")
		if strings.Contains(screen, want) {
			return screen
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("screen never showed %q:\n%s", want, screen)
	return ""
}

func TestTerminalSessionUnderTmux(t *testing.T) {
	tmux := sandbox.NeedPeer(t, "tmux")
	sb := sandbox.New(t)
	dir := t.TempDir()
	p := folder(t, dir, "five.mbox")
	out := sb.FakeSendmail(t, "bob", "0")
	sb.MailRC("bob", "set PAGER=cat crt=1000")
	s := &tmuxSession{t: t, tmux: tmux, socket: filepath.Join(dir, "tmux.sock")}
	shell := fmt.Sprintf("env HOME=%s LOGNAME=bob UNIXMAIL_CONF=%s TERM=xterm LC_ALL=C.UTF-8 %s -n -f %s; sleep 30",
		sb.Home("bob"), sb.Conf, testbin.Path(t, "mail"), p)
	s.cmd("new-session", "-d", "-s", "m", "-x", "100", "-y", "30", shell)
	defer exec.Command(tmux, "-S", s.socket, "kill-server").Run()

	screen := s.waitFor(">N   1 ")
	if !strings.Contains(screen, ">N   1 alice@example.org") || !strings.Contains(screen, "Schöne Grüße mit Anhang") {
		t.Errorf("header screen:\n%s", screen)
	}
	s.keys("p 3", "Enter")
	s.waitFor("Jürgen Müller")
	s.keys("h", "Enter")
	s.waitFor("R   3 juergen")
	// Line editing: the up arrow brings back the last command.
	s.keys("Up", "Enter")
	s.keys("r 1", "Enter")
	s.waitFor("Subject: Re: Plain message one")
	s.keys("Thanks, Alice.", "Enter", "~s Re: your note", "Enter", "~p", "Enter")
	s.waitFor("Message contains:")
	s.keys("~.", "Enter")
	s.waitFor("EOT")
	s.keys("q", "Enter")
	s.waitFor("updated.")
	msg, err := os.ReadFile(filepath.Join(out, "message"))
	if err != nil || !strings.Contains(string(msg), "Subject: Re: your note") || !strings.Contains(string(msg), "Thanks, Alice.") || !strings.Contains(string(msg), "To: alice@example.org") {
		t.Errorf("reply sent from the terminal: %v\n%s", err, msg)
	}
}

// TestALongMessagePagesThroughMore: on a 30-line terminal a 200-line
// message goes through the pager (PAGER, here the classic more), which
// stops at a screenful; space shows more, q returns to mail's prompt.
func TestALongMessagePagesThroughMore(t *testing.T) {
	more := sandbox.NeedPeer(t, "more")
	sb := sandbox.New(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "long.mbox")
	var body strings.Builder
	for i := 1; i <= 200; i++ {
		fmt.Fprintf(&body, "body line %03d\n", i)
	}
	os.WriteFile(p, []byte("From alice@example.org Wed Nov 25 17:24:14 2026\nFrom: alice@example.org\nSubject: long\n\n"+body.String()+"\n"), 0o600)
	sb.MailRC("bob", "set crt PAGER="+more) // crt with no value: the screen's height
	s := startTmux(t, mailShell(t, sb, "-N -f "+p))
	s.waitForLine("?")
	s.keys("p 1", "Enter")
	screen := s.waitFor("--More--")
	if strings.Contains(screen, "body line 200") || !strings.Contains(screen, "body line 001") {
		t.Fatalf("the pager did not stop at a screenful:\n%s", screen)
	}
	s.keys("Space")
	s.waitFor("body line 040")
	s.keys("q")
	s.waitForLine("?")
	s.keys("x", "Enter")
	s.waitFor("exit=0")
}

// TestTildePPagesALongDraft: ~p shows a draft longer than crt lines
// through PAGER, as POSIX says.
func TestTildePPagesALongDraft(t *testing.T) {
	sb := sandbox.New(t)
	sb.FakeSendmail(t, "bob", "0")
	sb.MailRC("bob", `set crt=3 PAGER="sed s/^/paged:/"`)
	s := startTmux(t, mailShell(t, sb, "-s draft carol@example.org"))
	s.keys("one", "Enter", "two", "Enter", "three", "Enter", "~p", "Enter")
	s.waitForLine("paged:three")
	s.keys("~.", "Enter")
	s.waitFor("exit=0")
}
