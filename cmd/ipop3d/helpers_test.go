package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"unixmail/internal/sandbox"
	"unixmail/internal/testbin"
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
	cmd := s.Command("ipop3d", append([]string{"--listen", addr}, flags...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	background(t, cmd)
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

// background starts cmd and stops it (SIGTERM, then its whole group)
// when the test ends.
func background(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
}

// waitListening waits until something accepts connections at addr.
func waitListening(t *testing.T, s *sandbox.Sandbox, addr string) {
	t.Helper()
	s.WaitFor("a listener on "+addr, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// underSocat serves ipop3d inetd-style: socat accepts, forks, and execs
// ipop3d with the TCP socket as its standard input and output.
func underSocat(t *testing.T, s *sandbox.Sandbox) string {
	t.Helper()
	addr := sandbox.FreePort(t)
	_, port, _ := net.SplitHostPort(addr)
	exe := testbin.Path(t, "ipop3d")
	cmd := exec.Command(sandbox.NeedPeer(t, "socat"), "TCP-LISTEN:"+port+",bind=127.0.0.1,reuseaddr,fork", "EXEC:"+exe+" -C "+s.Conf+",nofork")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	background(t, cmd)
	waitListening(t, s, addr)
	return addr
}

// underSystemd serves ipop3d as the unit in dist/systemd would, through
// systemd-socket-activate: Accept=yes, the socket on stdin and stdout.
func underSystemd(t *testing.T, s *sandbox.Sandbox, unit string) string {
	t.Helper()
	execStart := unitValue(t, "systemd/"+unit+"@.service", "ExecStart")
	if unitValue(t, "systemd/"+unit+".socket", "Accept") != "yes" {
		t.Fatalf("%s.socket lacks Accept=yes", unit)
	}
	argv := strings.Fields(strings.ReplaceAll(execStart, "@SBINDIR@/ipop3d", testbin.Path(t, "ipop3d")))
	addr := sandbox.FreePort(t)
	args := append([]string{"--inetd", "--accept", "--listen=" + addr}, argv...)
	args = append(args, "-C", s.Conf)
	cmd := exec.Command(sandbox.NeedPeer(t, "systemd-socket-activate"), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	background(t, cmd)
	waitListening(t, s, addr)
	return addr
}

// unitValue reads Key= from a file under dist/.
func unitValue(t *testing.T, file, key string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testbin.Root(), "dist", file))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+"="); ok {
			return v
		}
	}
	t.Fatalf("dist/%s has no %s=", file, key)
	return ""
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

// underXinetd serves ipop3d as dist/xinetd.d/ipop3d says, on a free port
// (an UNLISTED service, since the test has no /etc/services entry).
func underXinetd(t *testing.T, s *sandbox.Sandbox) string {
	t.Helper()
	xinetd := sandbox.NeedPeer(t, "xinetd")
	b, err := os.ReadFile(filepath.Join(testbin.Root(), "dist", "xinetd.d", "ipop3d"))
	if err != nil {
		t.Fatal(err)
	}
	addr := sandbox.FreePort(t)
	_, port, _ := net.SplitHostPort(addr)
	svc := strings.ReplaceAll(string(b), "@SBINDIR@/ipop3d", testbin.Path(t, "ipop3d"))
	svc = strings.Replace(svc, "service pop3\n{\n", "service pop3\n{\n\ttype = UNLISTED\n\tport = "+port+"\n\tbind = 127.0.0.1\n\tserver_args = -C "+s.Conf+"\n", 1)
	if os.Getuid() != 0 {
		svc = strings.Replace(svc, "\tuser\t\t= root\n", "", 1)
	}
	conf := s.WriteFile("xinetd.conf", "defaults\n{\n}\n"+svc, 0o644)
	cmd := exec.Command(xinetd, "-dontfork", "-f", conf, "-pidfile", filepath.Join(s.Dir, "xinetd.pid"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	background(t, cmd)
	waitListening(t, s, addr)
	return addr
}
