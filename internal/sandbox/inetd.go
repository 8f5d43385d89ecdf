package sandbox

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"unixmail/internal/testbin"
)

// Background starts cmd (in a process group of its own) and stops it when
// the test ends: SIGTERM, then, after 20 s, SIGKILL to the whole group.
func Background(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
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

// WaitListening waits until something accepts connections at addr.
func (s *Sandbox) WaitListening(addr string) {
	s.t.Helper()
	s.WaitFor("a listener on "+addr, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// UnderSocat serves one of our daemons (ipop3d, imapd) inetd-style on a
// free loopback port: socat accepts, forks, and execs it with the TCP
// socket as its standard input and output.
func (s *Sandbox) UnderSocat(daemon string) string {
	s.t.Helper()
	addr := FreePort(s.t)
	_, port, _ := net.SplitHostPort(addr)
	exe := testbin.Path(s.t, daemon)
	Background(s.t, exec.Command(NeedPeer(s.t, "socat"), "TCP-LISTEN:"+port+",bind=127.0.0.1,reuseaddr,fork", "EXEC:"+exe+" -C "+s.Conf+",nofork"))
	s.WaitListening(addr)
	return addr
}

// UnderSystemd serves a daemon as its unit in dist/systemd would, through
// systemd-socket-activate: the socket unit must say Accept=yes, and the
// service's ExecStart (with our binary) gets the socket on stdin and
// stdout. unit is "ipop3d", "imapds"...
func (s *Sandbox) UnderSystemd(unit string) string {
	s.t.Helper()
	if DistValue(s.t, "systemd/"+unit+".socket", "Accept") != "yes" {
		s.t.Fatalf("dist/systemd/%s.socket lacks Accept=yes", unit)
	}
	argv := strings.Fields(DistValue(s.t, "systemd/"+unit+"@.service", "ExecStart"))
	name, ok := strings.CutPrefix(argv[0], "@SBINDIR@/")
	if !ok {
		s.t.Fatalf("dist/systemd/%s@.service: ExecStart=%s does not start @SBINDIR@/...", unit, argv[0])
	}
	argv[0] = testbin.Path(s.t, name)
	addr := FreePort(s.t)
	args := append([]string{"--inetd", "--accept", "--listen=" + addr}, argv...)
	Background(s.t, exec.Command(NeedPeer(s.t, "systemd-socket-activate"), append(args, "-C", s.Conf)...))
	s.WaitListening(addr)
	return addr
}

// UnderXinetd serves a daemon as dist/xinetd.d/NAME says, on a free
// loopback port (an UNLISTED service: the test has no /etc/services entry).
func (s *Sandbox) UnderXinetd(name string) string {
	s.t.Helper()
	xinetd := NeedPeer(s.t, "xinetd")
	b, err := os.ReadFile(filepath.Join(testbin.Root(), "dist", "xinetd.d", name))
	if err != nil {
		s.t.Fatal(err)
	}
	addr := FreePort(s.t)
	_, port, _ := net.SplitHostPort(addr)
	svc := strings.ReplaceAll(string(b), "@SBINDIR@/"+name, testbin.Path(s.t, name))
	open := strings.Index(svc, "{\n")
	if open < 0 {
		s.t.Fatalf("dist/xinetd.d/%s: no service block", name)
	}
	svc = svc[:open+2] + "\ttype = UNLISTED\n\tport = " + port + "\n\tbind = 127.0.0.1\n\tserver_args = -C " + s.Conf + "\n" + svc[open+2:]
	if os.Getuid() != 0 {
		svc = strings.Replace(svc, "\tuser\t\t= root\n", "", 1)
	}
	conf := s.WriteFile("xinetd-"+name+".conf", "defaults\n{\n}\n"+svc, 0o644)
	// xinetd's sessions leave its process group: wait for them once it
	// is stopped (cleanups run last first), before the directory goes.
	s.t.Cleanup(s.waitUnused)
	Background(s.t, exec.Command(xinetd, "-dontfork", "-f", conf, "-pidfile", filepath.Join(s.Dir, "xinetd-"+name+".pid")))
	s.WaitListening(addr)
	return addr
}

// DistValue reads Key= from a file under dist/.
func DistValue(t testing.TB, file, key string) string {
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

// waitUnused waits (up to 10 s) until no other process has a file open
// under the sandbox, so that removing it does not race a session that is
// still writing its log.
func (s *Sandbox) waitUnused() {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if !s.inUse() {
			return
		}
	}
}

func (s *Sandbox) inUse() bool {
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	self := fmt.Sprintf("/proc/%d/", os.Getpid())
	for _, fd := range fds {
		if strings.HasPrefix(fd, self) {
			continue
		}
		if target, err := os.Readlink(fd); err == nil && strings.HasPrefix(target, s.Dir+"/") {
			return true
		}
	}
	return false
}
