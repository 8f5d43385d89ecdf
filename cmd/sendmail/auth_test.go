package main

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"unixmail/internal/sandbox"
	"unixmail/internal/testcert"
)

const carolPassword = "Tr0ub4dor&3-sasl"

// authMTAs is a near MTA (with conf's extra key-value pairs) whose user carol has a $6$ password (made by
// openssl) and which has a self-signed certificate, relaying to a far MTA
// for b.example. Loopback is not in near's mynetworks, so only AUTH lets
// a client relay. It returns near, far and near's daemon address.
func authMTAs(t *testing.T, conf ...string) (near, far *sandbox.Sandbox, addr string) {
	openssl := sandbox.NeedPeer(t, "openssl")
	farAddr := sandbox.FreePort(t)
	near, far = twoMTAs(t, farAddr)
	far.StartDaemon(farAddr)
	near.AddUser("carol", near.UID, near.GID)

	r := sandbox.RunCmd(t, exec.Command(openssl, "passwd", "-6", "-stdin"), carolPassword+"\n")
	hash := strings.TrimSpace(r.Stdout)
	if r.Code != 0 || !strings.HasPrefix(hash, "$6$") {
		t.Fatalf("openssl passwd: %d %s%s", r.Code, r.Stdout, r.Stderr)
	}
	passwd := filepath.Join(near.Dir, "passwd")
	b, err := os.ReadFile(passwd)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), "carol:x:", "carol:"+hash+":", 1))
	if err := os.WriteFile(passwd, b, 0o600); err != nil {
		t.Fatal(err)
	}

	cert, key := testcert.New(t, "test.example").WriteFiles(t, near.Dir)
	near.Set(append([]string{"tls_cert", cert, "tls_key", key, "mynetworks", "192.0.2.0/24"}, conf...)...)
	return near, far, near.StartDaemon("").Addr
}

// swaksTo runs swaks against addr with extra arguments, from carol to
// bob@b.example (a remote domain for near).
func swaksTo(t *testing.T, addr, subject string, extra ...string) sandbox.Result {
	swaks := sandbox.NeedPeer(t, "swaks")
	args := append([]string{"--server", addr, "--from", "carol@test.example", "--to", "bob@b.example",
		"--header", "Subject: " + subject}, extra...)
	return sandbox.RunCmd(t, exec.Command(swaks, args...), "")
}

func TestAnAuthenticatedClientRelaysOverSTARTTLS(t *testing.T) {
	near, far, addr := authMTAs(t)
	for i, mech := range []string{"PLAIN", "LOGIN"} {
		r := swaksTo(t, addr, "relayed with "+mech, "--tls", "--auth", mech,
			"--auth-user", "carol", "--auth-password", carolPassword)
		if r.Code != 0 {
			t.Fatalf("swaks AUTH %s: %d\n%s%s", mech, r.Code, r.Stdout, r.Stderr)
		}
		mustContain(t, "swaks", r.Stdout, "220 ", "235 ", "250 2.0.0 Ok: queued as")
		mustContain(t, "bob@b.example", far.WaitMail("bob", i+1), "Subject: relayed with "+mech)
		mustContain(t, "near log", near.Log(), "[127.0.0.1], sasl_method="+mech+", sasl_username=carol")
	}
	// Neither the password nor the PLAIN or LOGIN response carrying it.
	mustNotContain(t, "near log", near.Log(), carolPassword,
		base64.StdEncoding.EncodeToString([]byte("\x00carol\x00"+carolPassword)),
		base64.StdEncoding.EncodeToString([]byte(carolPassword)))
}

func TestAWrongPasswordGets535AndIsLoggedWithoutThePassword(t *testing.T) {
	near, far, addr := authMTAs(t)
	const wrong = "Tr0ub4dor&4-guess"
	for _, c := range []struct{ user, pass string }{
		{"carol", wrong},
		{"carol", ""},
		{"nosuchuser", carolPassword},
	} {
		r := swaksTo(t, addr, "should not go", "--tls", "--auth", "PLAIN", "--auth-user", c.user, "--auth-password", c.pass)
		if r.Code == 0 {
			t.Fatalf("swaks as %s succeeded:\n%s", c.user, r.Stdout)
		}
		mustContain(t, "swaks as "+c.user, r.Stdout, "535 5.7.8")
	}
	log := near.Log()
	mustContain(t, "near log", log, "[127.0.0.1]: SASL PLAIN authentication failed: user=<carol>: authentication failed",
		"user=<nosuchuser>: authentication failed")
	mustNotContain(t, "near log", log, wrong, carolPassword)
	if mb := far.ReadMailbox("bob"); mb != "" {
		t.Fatalf("mail relayed without authentication:\n%s", mb)
	}
}

func TestWithoutAuthLoopbackOutsideMynetworksMayNotRelay(t *testing.T) {
	_, _, addr := authMTAs(t)
	r := swaksTo(t, addr, "no auth", "--tls")
	mustContain(t, "swaks", r.Stdout, "554 5.7.1")
}

// A client outside loopback is only reachable here in a network namespace
// of our own: the daemon listens on 192.0.2.1 (TEST-NET-1) bound to that
// namespace's lo, and the client joins the namespace with nsenter.
func TestAuthBeforeSTARTTLSFromANonLoopbackClientIsRefused(t *testing.T) {
	py := sandbox.NeedPeer(t, "python3")
	unshare, nsenter := sandbox.NeedPeer(t, "unshare"), sandbox.NeedPeer(t, "nsenter")
	if os.Geteuid() != 0 {
		t.Skip("a network namespace needs root")
	}
	near, _, _ := authMTAs(t)
	const listen = "192.0.2.1:25"
	d := near.Command("sendmail", "-bd", "-o", "smtp_listen="+listen, "-o", "mynetworks=127.0.0.0/8")
	d.Args = append([]string{unshare, "-n", "sh", "-c",
		`ip link set lo up && ip addr add 192.0.2.1/32 dev lo && exec "$0" "$@"`, d.Path}, d.Args[1:]...)
	d.Path = unshare
	d.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Process.Signal(syscall.SIGTERM); d.Wait() })
	near.WaitFor("the daemon in its namespace", func() bool {
		return strings.Contains(near.Log(), "listening on "+listen)
	})

	script := `
import base64, smtplib, ssl, sys
s = smtplib.SMTP("192.0.2.1", 25, local_hostname="client.example")
s.ehlo()
print("auth offered before TLS:", s.has_extn("auth"))
plain = base64.b64encode(b"\0carol\0" + sys.argv[1].encode()).decode()
print("AUTH before TLS:", *s.docmd("AUTH PLAIN", plain))
s.mail("carol@test.example")
print("relay before TLS:", *s.rcpt("bob@b.example"))
s.rset()
s.starttls(context=ssl._create_unverified_context())
s.ehlo()
print("auth offered after TLS:", s.has_extn("auth"))
print("AUTH after TLS:", *s.docmd("AUTH PLAIN", plain))
s.mail("carol@test.example")
print("relay after TLS:", *s.rcpt("bob@b.example"))
s.quit()
`
	cmd := exec.Command(nsenter, "--net=/proc/"+strconv.Itoa(d.Process.Pid)+"/ns/net", py, "-c", script, carolPassword)
	r := sandbox.RunCmd(t, cmd, "")
	if r.Code != 0 {
		t.Fatalf("python: %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	mustContain(t, "python", r.Stdout,
		"auth offered before TLS: False",
		"AUTH before TLS: 538 b'5.7.11",
		"relay before TLS: 554 b'5.7.1",
		"auth offered after TLS: True",
		"AUTH after TLS: 235",
		"relay after TLS: 250")
	mustContain(t, "near log", near.Log(), "[192.0.2.1]: AUTH PLAIN refused without TLS")
	mustNotContain(t, "near log", near.Log(), carolPassword)
}
