package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"unixmail/internal/sandbox"
)

// parserAccount is the smtpd_user of these tests, a system account made
// here as make install makes unixmail-smtpd.
func parserAccount(t *testing.T) (name string, uid, gid int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to parse SMTP as another account")
	}
	name = "u12smtpd"
	for i := 0; ; i++ {
		if u, err := user.Lookup(name); err == nil {
			uid, _ = strconv.Atoi(u.Uid)
			gid, _ = strconv.Atoi(u.Gid)
			return name, uid, gid
		}
		out, err := exec.Command("useradd", "--system", "--user-group", "--no-create-home",
			"--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name).CombinedOutput()
		if err != nil && (i == 50 || !strings.Contains(string(out), "lock")) {
			t.Fatalf("useradd %s: %v: %s", name, err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// status reads the Uid, Gid and Groups lines of /proc/PID/status.
func status(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	st := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		st[k] = strings.Join(strings.Fields(v), " ")
	}
	return st
}

func TestTheDaemonParsesEachConnectionAsItsUnprivilegedAccount(t *testing.T) {
	name, uid, gid := parserAccount(t)
	sb := sandbox.New(t, "alice")
	sb.AddUser("nemo", 65534, 65534)
	sb.Set("smtpd_user", name)
	d := sb.StartDaemon("")
	c, err := smtp.Dial(d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	parsers := childrenOf(t, d.Pid(), uid)
	if len(parsers) != 1 {
		t.Fatalf("the daemon has %d children running as %s, want the connection's parser", len(parsers), name)
	}
	st := status(t, parsers[0])
	ids := func(n int) string { return strings.TrimSpace(strings.Repeat(strconv.Itoa(n)+" ", 4)) }
	if st["Uid"] != ids(uid) || st["Gid"] != ids(gid) || st["Groups"] != "" {
		t.Fatalf("the parser runs with Uid %q Gid %q Groups %q, want %s, %s and none", st["Uid"], st["Gid"], st["Groups"], ids(uid), ids(gid))
	}

	// Deliver-before-ack: the 250 comes once nemo's mailbox has it.
	if err := c.SendMail("alice@test.example", []string{"nemo@test.example"}, strings.NewReader("Subject: parsed unprivileged\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "nemo's mailbox at the 250", sb.ReadMailbox("nemo"), "Subject: parsed unprivileged")
	if err := c.Mail("alice@test.example", nil); err != nil {
		t.Fatal(err)
	}
	var se *smtp.SMTPError
	if err := c.Rcpt("nosuch@test.example", nil); !errors.As(err, &se) || se.EnhancedCode != (smtp.EnhancedCode{5, 1, 1}) {
		t.Errorf("RCPT of an unknown user, asked of the privileged side: %v", err)
	}

	// What the parser's credentials can read: not the shadow file, not a
	// user's mailbox.
	for _, path := range []string{"/etc/shadow", sb.Mailbox("nemo")} {
		cmd := exec.Command("cat", path)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "Permission denied") {
			t.Errorf("as %s, cat %s: %v: %s", name, path, err, out)
		}
	}
}

// AUTH and STARTTLS work through the split: the password is checked on
// the privileged side, the key pair handed over by it.
func TestTheSplitDaemonChecksPasswordsOnThePrivilegedSide(t *testing.T) {
	name, _, _ := parserAccount(t)
	near, far, addr := authMTAs(t, "smtpd_user", name)
	r := swaksTo(t, addr, "relayed through the split", "--tls", "--auth", "PLAIN",
		"--auth-user", "carol", "--auth-password", carolPassword)
	if r.Code != 0 {
		t.Fatalf("swaks AUTH: %d\n%s%s\nlog:\n%s", r.Code, r.Stdout, r.Stderr, near.Log())
	}
	mustContain(t, "bob@b.example", far.WaitMail("bob", 1), "Subject: relayed through the split")
	r = swaksTo(t, addr, "should not go", "--tls", "--auth", "PLAIN", "--auth-user", "carol", "--auth-password", "wrong")
	mustContain(t, "swaks with a wrong password", r.Stdout, "535 5.7.8")
}

// Each connection's parser is a process of its own, yet when half of
// client_connection_limit is in use root tells every parser, and a client
// sitting idle (five minutes allowed otherwise) hears 421 after
// client_busy_timeout.
func TestTheSplitDaemonCutsAnIdleClientShortWhenItTurnsBusy(t *testing.T) {
	name, _, _ := parserAccount(t)
	sb := sandbox.New(t, "alice")
	sb.Set("smtpd_user", name, "client_connection_limit", "4", "client_busy_timeout", "1s")
	d := sb.StartDaemon("")
	dial := func() *bufio.Reader {
		c, err := net.Dial("tcp", d.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		// Far past client_busy_timeout, far short of the five minutes.
		c.SetReadDeadline(time.Now().Add(60 * time.Second))
		r := bufio.NewReader(c)
		if line, err := r.ReadString('\n'); !strings.HasPrefix(line, "220 ") {
			t.Fatalf("greeting %q: %v", line, err)
		}
		return r
	}
	idle := dial()
	dial() // two of four: busy
	line, err := idle.ReadString('\n')
	if !strings.HasPrefix(line, "421 ") {
		t.Fatalf("the idle client got %q (%v), want a 421", line, err)
	}
	if _, err := idle.ReadByte(); err != io.EOF {
		t.Errorf("after the 421 the connection is still open (%v)", err)
	}
}
