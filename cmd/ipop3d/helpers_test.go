package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"unixmail/internal/sandbox"
	"unixmail/internal/testcert"
)

const password = "correct horse"

// box is a sandbox whose bob has a password and some mail.
func box(t *testing.T, messages int) *sandbox.Sandbox {
	t.Helper()
	s := sandbox.New(t)
	s.SetPassword("bob", password)
	s.Set("client_auth_failure_delay", "0", "daemon_state_dir", filepath.Join(s.Dir, "state"))
	for i := 1; i <= messages; i++ {
		deliverTo(t, s, "bob", i)
	}
	return s
}

func deliverTo(t *testing.T, s *sandbox.Sandbox, user string, i int) {
	t.Helper()
	msg := fmt.Sprintf("From: alice@example.org\nSubject: message %d\n\nbody of %d\n.a line with a dot\nFrom the start\n", i, i)
	if r := s.Run(msg, "deliver", "-f", "alice@example.org", user); r.Code != 0 {
		t.Fatalf("deliver: %d %s", r.Code, r.Stderr)
	}
}

// withTLS gives the sandbox a certificate and returns its file.
func withTLS(t *testing.T, s *sandbox.Sandbox) string {
	t.Helper()
	cert, key := testcert.New(t).WriteFiles(t, s.Dir)
	s.Set("tls_cert", cert, "tls_key", key)
	return cert
}

var listening = regexp.MustCompile(`ipop3d\[\d+\]: daemon started -- listening on (\S+)`)

// listen runs `ipop3d --listen addr` with flags until the test ends and
// returns the address it listens on.
func listen(t *testing.T, s *sandbox.Sandbox, addr string, flags ...string) string {
	t.Helper()
	before := len(listening.FindAllStringSubmatch(s.Log(), -1))
	sandbox.Background(t, s.Command("ipop3d", append([]string{"--listen", addr}, flags...)...))
	var got string
	s.WaitFor("ipop3d to listen", func() bool {
		m := listening.FindAllStringSubmatch(s.Log(), -1)
		if len(m) > before {
			got = m[len(m)-1][1]
		}
		return got != ""
	})
	return got
}

// poplib runs testdata/pop.py and returns its output lines.
func poplib(t *testing.T, mode, addr, user, pass, cafile string, actions ...string) []string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	if cafile == "" {
		cafile = "-"
	}
	args := append([]string{"testdata/pop.py", mode, host, port, user, pass, cafile}, actions...)
	out, err := exec.Command(sandbox.NeedPeer(t, "python3"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("pop.py %s: %v\n%s", strings.Join(args[1:], " "), err, out)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// session is a POP3 conversation with ipop3d run on pipes (a local
// client), for the tests of what happens around one session.
type session struct {
	t   *testing.T
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func pipeSession(t *testing.T, s *sandbox.Sandbox) *session {
	t.Helper()
	cmd := s.Command("ipop3d")
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ss := &session{t: t, cmd: cmd, in: in, out: bufio.NewReader(out)}
	t.Cleanup(func() { in.Close(); cmd.Process.Kill(); cmd.Wait() })
	if g := ss.line(); !strings.HasPrefix(g, "+OK") {
		t.Fatalf("greeting %q", g)
	}
	return ss
}

func (ss *session) line() string {
	l, err := ss.out.ReadString('\n')
	if err != nil {
		return "EOF"
	}
	return strings.TrimRight(l, "\r\n")
}

// do sends a command and returns its first line; with multi it reads the
// rest of a multi-line response too.
func (ss *session) do(cmd string, multi bool) (string, []string) {
	ss.t.Helper()
	fmt.Fprintf(ss.in, "%s\r\n", cmd)
	first := ss.line()
	var rest []string
	for multi && strings.HasPrefix(first, "+OK") {
		l := ss.line()
		if l == "." || l == "EOF" {
			break
		}
		rest = append(rest, l)
	}
	return first, rest
}

func (ss *session) login(user string) string {
	ss.t.Helper()
	ss.do("USER "+user, false)
	r, _ := ss.do("PASS "+password, false)
	return r
}
