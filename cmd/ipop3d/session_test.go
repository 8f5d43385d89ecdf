package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"unixmail/internal/sandbox"
)

func TestMailDeliveredDuringASessionSurvivesQuit(t *testing.T) {
	s := box(t, 2)
	ss := pipeSession(t, s)
	if r := ss.login("bob"); !strings.HasPrefix(r, "+OK bob has 2 messages") {
		t.Fatalf("login: %q", r)
	}
	ss.do("DELE 1", false)
	ss.do("DELE 2", false)
	deliverTo(t, s, "bob", 3)
	if r, _ := ss.do("STAT", false); !strings.HasPrefix(r, "+OK 0 ") {
		t.Errorf("the new message shows in the session: %q", r)
	}
	if r, _ := ss.do("QUIT", false); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("QUIT: %q", r)
	}
	ss.cmd.Wait()
	box := s.ReadMailbox("bob")
	if left(s) != 1 || !strings.Contains(box, "Subject: message 3") {
		t.Errorf("after QUIT:\n%s", box)
	}
}

func TestAKilledSessionDeletesNothing(t *testing.T) {
	s := box(t, 3)
	before := s.ReadMailbox("bob")
	ss := pipeSession(t, s)
	ss.login("bob")
	for i := 1; i <= 3; i++ {
		ss.do(fmt.Sprintf("DELE %d", i), false)
	}
	ss.cmd.Process.Kill()
	ss.cmd.Wait()
	if after := s.ReadMailbox("bob"); after != before {
		t.Errorf("the mailbox changed:\n%s", after)
	}
	// The session lock went with the process.
	if r := pipeSession(t, s).login("bob"); !strings.HasPrefix(r, "+OK bob has 3") {
		t.Errorf("next login: %q", r)
	}
}

func TestASecondSessionGetsInUseUntilTheFirstQuits(t *testing.T) {
	s := box(t, 1)
	first := pipeSession(t, s)
	first.login("bob")
	if r := pipeSession(t, s).login("bob"); !strings.HasPrefix(r, "-ERR [IN-USE]") {
		t.Errorf("second session: %q", r)
	}
	// mail and deliver are not shut out meanwhile.
	deliverTo(t, s, "bob", 2)
	if r := sandbox.RunCmd(t, s.Mail("bob", "-H", "-f", s.Mailbox("bob")), ""); r.Code != 0 || !strings.Contains(r.Stdout, "message 2") {
		t.Errorf("mail -H during the session: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	first.do("QUIT", false)
	first.cmd.Wait()
	if r := pipeSession(t, s).login("bob"); !strings.HasPrefix(r, "+OK bob has 2") {
		t.Errorf("after QUIT: %q", r)
	}
}

// raw is a POP3 client on a TCP connection, for the tests that look at
// what a real client library would hide.
type raw struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *raw {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &raw{t: t, c: c, r: bufio.NewReader(c)}
	r.line()
	return r
}

func (r *raw) line() string {
	r.c.SetDeadline(time.Now().Add(time.Minute))
	l, err := r.r.ReadString('\n')
	if err != nil {
		return "EOF"
	}
	return strings.TrimRight(l, "\r\n")
}

func (r *raw) do(cmd string) string {
	fmt.Fprintf(r.c, "%s\r\n", cmd)
	return r.line()
}

func TestWrongPasswordsAreDelayedAndTheThirdCloses(t *testing.T) {
	s := box(t, 1)
	s.Set("client_auth_failure_delay", "1")
	c := dial(t, listen(t, s, "127.0.0.1:0"))
	start := time.Now()
	for i := 1; i <= 3; i++ {
		c.do("USER bob")
		if r := c.do("PASS guess" + fmt.Sprint(i)); r != "-ERR [AUTH] authentication failed" {
			t.Errorf("failure %d: %q", i, r)
		}
	}
	// 1 s, then 2, then 4: at least 7 s (a floor, not a speed check).
	if took := time.Since(start); took < 7*time.Second {
		t.Errorf("three failures answered in %v", took)
	}
	if r := c.line(); !strings.Contains(r, "too many failures") || c.line() != "EOF" {
		t.Errorf("after the third failure: %q, and the connection is open", r)
	}
	log := s.Log()
	if strings.Count(log, "login failed user=<bob> rip=127.0.0.1 method=USER") != 3 || strings.Contains(log, "guess") {
		t.Errorf("log:\n%s", log)
	}
}

func TestPlaintextIsRefusedOnANonLoopbackLinkWithoutTLS(t *testing.T) {
	s := box(t, 1)
	withTLS(t, s)
	c := dial(t, listen(t, s, net.JoinHostPort(sandbox.NonLoopback(t), "0")))
	c.do("CAPA")
	var caps []string
	for l := c.line(); l != "." && l != "EOF"; l = c.line() {
		caps = append(caps, l)
	}
	if strings.Contains(strings.Join(caps, " "), "USER") || strings.Contains(strings.Join(caps, " "), "SASL") || !strings.Contains(strings.Join(caps, " "), "STLS") {
		t.Errorf("CAPA: %v", caps)
	}
	for _, cmd := range []string{"USER bob", "AUTH PLAIN AGJvYgBjb3JyZWN0IGhvcnNl"} {
		if r := c.do(cmd); !strings.HasPrefix(r, "-ERR [AUTH] plaintext authentication is refused") {
			t.Errorf("%s: %q", cmd, r)
		}
	}
	if strings.Contains(s.Log(), "login user=") {
		t.Errorf("a login happened:\n%s", s.Log())
	}
}

func TestANonRootServerServesOnlyTheUserRunningIt(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run ipop3d as another user")
	}
	s := box(t, 1)                                   // bob is root's here
	os.Chmod(filepath.Join(s.Dir, "maillog"), 0o666) // for nobody's log lines
	cmd := s.Command("ipop3d")
	cmd.Args = []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", cmd.Path}
	cmd.Path = sandbox.NeedPeer(t, "setpriv")
	r := sandbox.RunCmd(t, cmd, "USER bob\r\nPASS "+password+"\r\nQUIT\r\n")
	if !strings.Contains(r.Stdout, "-ERR [AUTH] authentication failed") || strings.Contains(r.Stdout, "has 1 messages") {
		t.Errorf("as nobody, bob's login:\n%s", r.Stdout)
	}
	if !strings.Contains(s.Log(), "reason=not the user running the server") {
		t.Errorf("log:\n%s", s.Log())
	}
}

// TestASystemUserLogsInWithTheShadowHash logs in as a user made with
// useradd and chpasswd (Debian's default yescrypt hash in /etc/shadow), as
// root, and checks that the session ran as that user.
func TestASystemUserLogsInWithTheShadowHash(t *testing.T) {
	if os.Getuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI runs as root")
		}
		t.Skip("needs root for useradd")
	}
	const name = "u9pop"
	retry(t, "userdel", "-r", name)
	retry(t, "useradd", "-m", "-s", "/bin/sh", name)
	t.Cleanup(func() { retry(t, "userdel", "-r", name) })
	chpasswd := exec.Command("chpasswd")
	chpasswd.Stdin = strings.NewReader(name + ":" + password + "\n")
	if out, err := chpasswd.CombinedOutput(); err != nil {
		t.Fatalf("chpasswd: %v %s", err, out)
	}
	shadow, _ := os.ReadFile("/etc/shadow")
	if !strings.Contains(string(shadow), name+":$y$") {
		t.Errorf("chpasswd did not make a yescrypt hash")
	}
	s := sandbox.New(t)
	s.Set("user_db", "system", "mailbox", "~/Mailbox", "client_auth_failure_delay", "0")
	if r := s.Run("Subject: to a system user\n\nhello\n", "deliver", name); r.Code != 0 {
		t.Fatalf("deliver: %s", r.Stderr)
	}
	addr := listen(t, s, "127.0.0.1:0")
	out := poplib(t, "plain", addr, name, password, "", "uidl", "retr-all", "quit")
	if !strings.Contains(strings.Join(out, "\n"), "retr 1 Subject: to a system user") {
		t.Errorf("poplib:\n%s", strings.Join(out, "\n"))
	}
	// The index beside the mailbox was made after the drop: it is the user's.
	home := "/home/" + name
	st := mustStat(t, filepath.Join(home, ".Mailbox.index"))
	box := mustStat(t, filepath.Join(home, "Mailbox"))
	if st.Uid != box.Uid || st.Uid == 0 {
		t.Errorf("index owned by uid %d, mailbox by %d: the session did not run as the user", st.Uid, box.Uid)
	}
}

func retry(t *testing.T, name string, args ...string) {
	t.Helper()
	for i := 0; i < 20; i++ {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "lock") {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func mustStat(t *testing.T, path string) *syscall.Stat_t {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t)
}

func TestListenRefusesPastTheLimitsAndStopsGracefully(t *testing.T) {
	s := box(t, 1)
	s.Set("client_connection_count_limit", "1")
	cmd := s.Command("ipop3d", "--listen", "127.0.0.1:0")
	sandbox.Background(t, cmd)
	var addr string
	s.WaitFor("ipop3d to listen", func() bool {
		if m := listening.FindStringSubmatch(s.Log()); m != nil {
			addr = m[1]
		}
		return addr != ""
	})
	first := dial(t, addr)
	second, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	refused := &raw{t: t, c: second, r: bufio.NewReader(second)}
	if r := refused.line(); !strings.HasPrefix(r, "-ERR [SYS/TEMP] too many connections") || refused.line() != "EOF" {
		t.Errorf("a second connection from one address got %q, and stays open", r)
	}
	if !strings.Contains(s.Log(), "refused rip=127.0.0.1: too many connections from this address") {
		t.Errorf("log:\n%s", s.Log())
	}
	// SIGTERM: no new connections, the session in progress goes on.
	cmd.Process.Signal(syscall.SIGTERM)
	s.WaitFor("the listener to stop", func() bool { return strings.Contains(s.Log(), "stopping: no new connections") })
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("still accepting after SIGTERM")
	}
	first.do("USER bob")
	if r := first.do("PASS " + password); !strings.HasPrefix(r, "+OK bob has 1") {
		t.Errorf("the running session after SIGTERM: %q", r)
	}
	first.do("QUIT")
	s.WaitFor("the listener to end", func() bool { return strings.Contains(s.Log(), "ipop3d["+fmt.Sprint(cmd.Process.Pid)+"]: stopped") })
}

// client_login_timeout shortens the wait for a login (a minute by
// default): a client silent that long before it logs in is told why and
// disconnected.
func TestAClientSilentBeforeLoginIsLetGoAfterClientLoginTimeout(t *testing.T) {
	s := box(t, 1)
	s.Set("client_login_timeout", "1")
	ss := pipeSession(t, s)
	if r := ss.line(); r != "-ERR autologout: idle for too long" {
		t.Errorf("the silent client got %q, want the autologout", r)
	}
	if r := ss.line(); r != "EOF" {
		t.Errorf("the silent client's connection stays open: %q", r)
	}
	if err := ss.cmd.Wait(); err != nil {
		t.Errorf("ipop3d: %v", err)
	}
}

// TestAnIdleClientIsCutShortWhenTheListenerTurnsBusy: each --listen
// session is its own process, yet when half of client_connection_limit is
// in use the listener tells every session, and a client that logged in and
// sits idle (10 minutes allowed otherwise) is let go after
// client_busy_timeout.
func TestAnIdleClientIsCutShortWhenTheListenerTurnsBusy(t *testing.T) {
	s := box(t, 1)
	s.Set("client_connection_limit", "4", "client_busy_timeout", "1s")
	addr := listen(t, s, "127.0.0.1:0")
	idle := dial(t, addr)
	idle.do("USER bob")
	if r := idle.do("PASS " + password); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("login: %q", r)
	}
	dial(t, addr) // two of four: busy
	if r := idle.line(); !strings.Contains(r, "idle for too long") {
		t.Errorf("the idle client got %q, want the autologout", r)
	}
	if r := idle.line(); r != "EOF" {
		t.Errorf("the idle client's connection stays open: %q", r)
	}
}
