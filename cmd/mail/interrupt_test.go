package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"unixmail/internal/sandbox"
	"unixmail/internal/testbin"
)

// startTmux runs shell in a private tmux server, on a 100x30 terminal.
func startTmux(t *testing.T, shell string) *tmuxSession {
	tmux := sandbox.NeedPeer(t, "tmux")
	s := &tmuxSession{t: t, tmux: tmux, socket: filepath.Join(t.TempDir(), "tmux.sock")}
	s.cmd("new-session", "-d", "-s", "m", "-x", "100", "-y", "30", shell)
	t.Cleanup(func() { exec.Command(tmux, "-S", s.socket, "kill-server").Run() })
	return s
}

// mailShell is the shell line that runs mail as bob on the terminal and
// then shows its exit status.
func mailShell(t *testing.T, sb *sandbox.Sandbox, args string) string {
	// The shell traps SIGINT, as an interactive one is not hit by it.
	return fmt.Sprintf("trap 'echo sh-saw-INT' INT; env HOME=%s LOGNAME=bob UNIXMAIL_CONF=%s TERM=xterm LC_ALL=C.UTF-8 %s -n %s; echo exit=$?; sleep 30",
		sb.Home("bob"), sb.Conf, testbin.Path(t, "mail"), args)
}

// waitForLine is waitFor for a screen line that is exactly want.
func (s *tmuxSession) waitForLine(want string) {
	s.t.Helper()
	for range 200 {
		for _, l := range strings.Split(s.cmd("capture-pane", "-p", "-t", "m"), "\n") {
			if strings.TrimSpace(l) == want {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("screen never showed the line %q:\n%s", want, s.cmd("capture-pane", "-p", "-t", "m"))
}

// TestInterruptsOnATerminalAreThePOSIXOnes types ^C under tmux: at the
// prompt and in the pager it ends the command; in compose mode the first
// asks for one more, the second kills the letter into dead.letter; with
// ignore set it shows "@" and the letter goes on.
func TestInterruptsOnATerminalAreThePOSIXOnes(t *testing.T) {
	sb := sandbox.New(t)
	p := folder(t, t.TempDir(), "five.mbox")
	out := sb.FakeSendmail(t, "bob", "0")
	s := startTmux(t, mailShell(t, sb, "-N -f "+p))
	s.waitForLine("?") // the prompt, not "Type ? for help."

	s.keys("C-c")
	s.keys("echo still-here", "Enter")
	s.waitForLine("still-here")

	s.keys(`set crt=1 PAGER="echo pager-is-up; sleep 60"`, "Enter", "p 1", "Enter")
	s.waitForLine("pager-is-up") // its output, not the typed command
	s.keys("C-c")
	s.keys("echo back-from-pager", "Enter")
	s.waitForLine("back-from-pager")

	s.keys("m carol@example.org", "Enter")
	s.waitFor("Subject:")
	s.keys("killed", "Enter", "a line to keep in dead.letter", "Enter")
	s.waitFor("a line to keep in dead.letter")
	s.keys("C-c")
	s.waitFor("(Interrupt -- one more to kill letter)")
	s.keys("C-c")
	s.keys("echo after-kill", "Enter")
	s.waitForLine("after-kill")
	dead, _ := os.ReadFile(filepath.Join(sb.Home("bob"), "dead.letter"))
	if !strings.Contains(string(dead), "a line to keep in dead.letter") {
		t.Errorf("dead.letter after the kill:\n%s", dead)
	}
	if _, err := os.Stat(filepath.Join(out, "message")); err == nil {
		t.Error("the killed letter was sent")
	}

	s.keys("set ignore", "Enter", "m carol@example.org", "Enter")
	s.waitFor("Subject:")
	s.keys("ignored", "Enter", "first", "Enter")
	s.waitForLine("first")
	s.keys("C-c")
	s.waitForLine("@")
	s.keys("C-c", "second", "Enter", "~.", "Enter")
	s.waitFor("EOT")
	s.keys("x", "Enter")
	s.waitFor("exit=0")
	msg, _ := os.ReadFile(filepath.Join(out, "message"))
	if !strings.Contains(string(msg), "first\nsecond\n") || !strings.Contains(string(msg), "Subject: ignored") {
		t.Errorf("letter sent with ignore set:\n%s", msg)
	}
}

// TestTwoInterruptsInSendModeExitNonZero: POSIX says mail then exits
// with a non-zero status, the letter in dead.letter.
func TestTwoInterruptsInSendModeExitNonZero(t *testing.T) {
	sb := sandbox.New(t)
	out := sb.FakeSendmail(t, "bob", "0")
	// POSIX: the killed letter replaces what dead.letter held.
	os.WriteFile(filepath.Join(sb.Home("bob"), "dead.letter"), []byte("an older draft\n"), 0o600)
	s := startTmux(t, mailShell(t, sb, "carol@example.org"))
	s.waitFor("Subject:") // mail is reading the terminal
	s.keys("hello", "Enter", "unfinished thought", "Enter")
	s.waitFor("unfinished thought")
	s.keys("C-c")
	s.waitFor("one more to kill letter")
	s.keys("C-c")
	s.waitFor("exit=1")
	dead, _ := os.ReadFile(filepath.Join(sb.Home("bob"), "dead.letter"))
	if !strings.Contains(string(dead), "unfinished thought") || strings.Contains(string(dead), "older draft") {
		t.Errorf("dead.letter:\n%s", dead)
	}
	if _, err := os.Stat(filepath.Join(out, "message")); err == nil {
		t.Error("the killed letter was sent")
	}
}

// TestSIGINTStopsTheCommandNotMail sends SIGINT to mail, reading commands
// from a pipe, while it lists 50,000 headers into a pipe nobody reads: the
// listing stops, the next command runs, and mail exits 0.
func TestSIGINTStopsTheCommandNotMail(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 15 MB mailbox")
	}
	sb := sandbox.New(t)
	p := filepath.Join(t.TempDir(), "big.mbox")
	const n = 50000
	writeBig(t, p, n)
	cmd := sb.Mail("bob", "-N", "-f", p)
	cmd.Stdin = strings.NewReader("from *\necho after-interrupt\nx\n")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(stdout)
	for range 2 { // the folder line, then the listing's first
		if _, err := rd.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the signal land; not a timing check
	rest, _ := io.ReadAll(rd)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("mail: %v", err)
	}
	lines := strings.Count(string(rest), "\n")
	if lines >= n || !strings.Contains(string(rest), "after-interrupt") {
		t.Errorf("after SIGINT: %d lines, then %q", lines, string(rest[max(len(rest)-200, 0):]))
	}
	t.Logf("the listing stopped after %d of %d lines", lines+1, n)
}
