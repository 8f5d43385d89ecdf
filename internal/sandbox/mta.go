package sandbox

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Daemon is a running `sendmail -bd` of a sandbox.
type Daemon struct {
	Addr string // host:port it listens on
	cmd  *exec.Cmd
}

var listening = regexp.MustCompile(`daemon started -- listening on (\S+)`)

// Pid is the daemon's process id.
func (d *Daemon) Pid() int { return d.cmd.Process.Pid }

// StartDaemon runs `sendmail -bd` with extra flags on listen (a free
// loopback port when "") and waits until it listens. It is stopped
// at the end of the test.
func (s *Sandbox) StartDaemon(listen string, flags ...string) *Daemon {
	s.t.Helper()
	if listen == "" {
		listen = FreePort(s.t)
	}
	before := len(listening.FindAllStringSubmatch(s.Log(), -1))
	args := append([]string{"-bd", "-o", "smtp_listen=" + listen}, flags...)
	cmd := s.Command("sendmail", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start sendmail -bd: %v", err)
	}
	d := &Daemon{cmd: cmd}
	s.t.Cleanup(d.Stop)
	s.WaitFor("sendmail -bd to listen", func() bool {
		m := listening.FindAllStringSubmatch(s.Log(), -1)
		if len(m) > before {
			d.Addr = m[len(m)-1][1]
			return true
		}
		return false
	})
	return d
}

// Stop ends the daemon and waits for it.
func (d *Daemon) Stop() {
	if d.cmd.Process == nil || d.cmd.ProcessState != nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// Port is the daemon's port.
func (d *Daemon) Port() string {
	_, p, _ := net.SplitHostPort(d.Addr)
	return p
}

// WaitFor polls cond until it holds, failing the test (with the log)
// after a minute. It is for "until delivered", never a speed check.
func (s *Sandbox) WaitFor(what string, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s; log:\n%s", what, s.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitMail waits until user's mailbox holds want messages and returns it.
func (s *Sandbox) WaitMail(user string, want int) string {
	s.t.Helper()
	var mbox string
	s.WaitFor(user+"'s mail", func() bool {
		mbox = s.ReadMailbox(user)
		return CountMessages(mbox) >= want
	})
	return mbox
}

// CountMessages counts the From_ lines of an mbox.
func CountMessages(mbox string) int {
	n := 0
	for _, l := range strings.Split(mbox, "\n") {
		if strings.HasPrefix(l, "From ") {
			n++
		}
	}
	return n
}

// FreePort returns a loopback address nothing listens on now.
func FreePort(t testing.TB) string {
	t.Helper()
	return FreePortOn(t, "127.0.0.1")
}

// FreePortOn returns an address of ip nothing listens on now.
func FreePortOn(t testing.TB, ip string) string {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// WriteFile writes a file under the sandbox and returns its path.
func (s *Sandbox) WriteFile(name, content string, mode os.FileMode) string {
	s.t.Helper()
	p := filepath.Join(s.Dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		s.t.Fatal(err)
	}
	return p
}

// NonLoopback is an address of this host that is not loopback: one it
// has, or one on a dummy interface made for the test (as root).
func NonLoopback(t testing.TB) string {
	t.Helper()
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	if os.Getuid() != 0 {
		t.Skip("no address but loopback, and no root to add one")
	}
	ip := NeedPeer(t, "ip")
	// Named by the process: test binaries of several packages run at once.
	dev := fmt.Sprintf("umdummy%d", os.Getpid())
	for _, args := range [][]string{{"link", "add", dev, "type", "dummy"}, {"addr", "add", "198.51.100.9/32", "dev", dev}, {"link", "set", dev, "up"}} {
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	t.Cleanup(func() { exec.Command(ip, "link", "del", dev).Run() })
	return "198.51.100.9"
}
