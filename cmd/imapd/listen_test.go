package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"unixmail/internal/sandbox"
	"unixmail/internal/testbin"
	"unixmail/internal/testcert"
)

// withPassword gives the imap user a SHA-512 crypt password in user_db.
func (u *imapUser) withPassword(t *testing.T, password string) {
	t.Helper()
	hash, err := exec.Command(sandbox.NeedPeer(t, "openssl"), "passwd", "-6", "-salt", "unixmail10", password).Output()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(u.sb.Dir, "passwd")
	b, _ := os.ReadFile(path)
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if strings.HasPrefix(l, u.name+":x:") {
			l = u.name + ":" + strings.TrimSpace(string(hash)) + l[len(u.name)+2:]
		}
		lines = append(lines, l)
	}
	os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	u.sb.Set("auth", "userdb")
}

// listen starts imapd --listen with flags on a free loopback port and
// returns the address once it accepts connections.
func (u *imapUser) listen(t *testing.T, flags ...string) string {
	t.Helper()
	return u.listenOn(t, sandbox.FreePort(t), flags...)
}

// listenOn is listen on addr.
func (u *imapUser) listenOn(t *testing.T, addr string, flags ...string) string {
	t.Helper()
	cmd := exec.Command(testbin.Path(t, "imapd"), append([]string{"-C", u.sb.Conf, "--listen", addr}, flags...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 300; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("imapd --listen %s never listened", addr)
	return ""
}

func TestImaplibLogsInOverStartTLSAndImaps(t *testing.T) {
	u := newIMAPUser(t)
	u.withPassword(t, "s3cret pass")
	certFile, keyFile := testcert.New(t).WriteFiles(t, u.sb.Dir)
	u.sb.Set("tls_cert", certFile, "tls_key", keyFile)
	u.deliver(t, message("over tls", "secret body\n"))
	plain := u.listen(t)
	imaps := u.listen(t, "--tls")
	out := u.python(t, `
import imaplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
host, port = sys.argv[3].rsplit(":", 1)
M = imaplib.IMAP4(host, int(port))
print("PLAIN CAPS", " ".join(M.capabilities))
imaplib.Commands["ID"] = ("NONAUTH", "AUTH", "SELECTED")
typ, data = M._simple_command("ID", '("name" "Mac OS X Mail")') # Apple Mail's, before login
print("ID", typ, M.untagged_responses.pop("ID"))
M.starttls(ssl_context=ctx)
print("TLS CAPS", " ".join(M.capabilities))
try:
    M.login(sys.argv[5], "wrong")
except imaplib.IMAP4.error as e:
    print("BAD LOGIN", e)
typ, data = M.login(sys.argv[5], "s3cret pass")
print("LOGIN", typ, M.untagged_responses.get("CAPABILITY"))
M.select("INBOX")
typ, data = M.fetch("1", "(BODY.PEEK[TEXT])")
print("TEXT", repr(data[0][1]))
M.logout()
host, port = sys.argv[4].rsplit(":", 1)
S = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx)
typ, data = S.authenticate("PLAIN", lambda _: ("\0%s\0s3cret pass" % sys.argv[5]).encode())
print("AUTH PLAIN", typ)
typ, data = S.status("INBOX", "(MESSAGES)")
print("STATUS", data[0].decode())
S.logout()
`, certFile, plain, imaps, u.name)
	for _, want := range []string{
		"PLAIN CAPS IMAP4REV2 IMAP4REV1 ", "STARTTLS", "AUTH=PLAIN", `ID OK [b'("name" "unixmail imapd"`,
		"BAD LOGIN", "AUTHENTICATIONFAILED",
		"LOGIN OK", "IDLE", // the capabilities after login, from its OK
		`TEXT b'secret body\r\n'`,
		"AUTH PLAIN OK", `STATUS INBOX (MESSAGES 1)`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("session lacks %q:\n%s", want, out)
		}
	}
	if tls := out[strings.Index(out, "TLS CAPS"):]; strings.Contains(strings.Split(tls, "\n")[0], "STARTTLS") {
		t.Errorf("STARTTLS offered again after the handshake:\n%s", out)
	}
	log := u.log()
	if !strings.Contains(log, "login user=<"+u.name+">") || strings.Contains(log, "s3cret") {
		t.Errorf("log:\n%s", log)
	}
}

// client_login_timeout shortens the wait for a login (a minute by
// default): a client silent that long before it logs in is told why and
// disconnected.
func TestImaplibSilentBeforeLoginHearsBYEAfterClientLoginTimeout(t *testing.T) {
	u := newIMAPUser(t)
	u.sb.Set("client_login_timeout", "1")
	out := u.python(t, `
import imaplib, sys
host, port = sys.argv[2].rsplit(":", 1)
M = imaplib.IMAP4(host, int(port))
M.sock.settimeout(120) # a server that never lets go fails the test
print("GREETING", M.welcome.decode())
while True:
    l = M.readline()
    print("LINE", l.decode().rstrip())
    if not l:
        break
`, u.listen(t))
	if want := "GREETING * OK [CAPABILITY IMAP4rev2 "; !strings.HasPrefix(out, want) {
		t.Errorf("session does not begin with %q:\n%s", want, out)
	}
	if want := "\nLINE * BYE Autologout: idle for too long\nLINE \n"; !strings.HasSuffix(out, want) {
		t.Errorf("session does not end with %q:\n%s", want, out)
	}
}

// On a link that is not loopback, without TLS, a password may not be sent:
// the capabilities say LOGINDISABLED (and no AUTH=), LOGIN and AUTHENTICATE
// are refused; after STARTTLS both are offered and a login works.
func TestAPasswordIsRefusedInTheClearOffLoopbackUntilStartTLS(t *testing.T) {
	u := newIMAPUser(t)
	u.withPassword(t, "s3cret pass")
	certFile, keyFile := testcert.New(t).WriteFiles(t, u.sb.Dir)
	u.sb.Set("tls_cert", certFile, "tls_key", keyFile)
	addr := u.listenOn(t, sandbox.FreePortOn(t, sandbox.NonLoopback(t)))
	out := u.python(t, `
import imaplib, ssl, sys
host, port = sys.argv[3].rsplit(":", 1)
M = imaplib.IMAP4(host, int(port))
print("PLAIN CAPS", " ".join(M.capabilities))
for name, do in (("LOGIN", lambda: M.login(sys.argv[4], "s3cret pass")),
                 ("AUTHENTICATE", lambda: M.authenticate("PLAIN", lambda _: ("\0%s\0s3cret pass" % sys.argv[4]).encode()))):
    try:
        do()
        print(name, "accepted in the clear")
    except imaplib.IMAP4.error as e:
        print(name, "refused", e)
ctx = ssl.create_default_context(cafile=sys.argv[2])
ctx.check_hostname = False # the test certificate names the loopback address
M.starttls(ssl_context=ctx)
print("TLS CAPS", " ".join(M.capabilities))
typ, data = M.login(sys.argv[4], "s3cret pass")
print("LOGIN", typ)
M.logout()
`, certFile, addr, u.name)
	for _, want := range []string{"LOGINDISABLED", "STARTTLS", "LOGIN refused", "AUTHENTICATE refused", "TLS CAPS ", "AUTH=PLAIN", "LOGIN OK"} {
		if !strings.Contains(out, want) {
			t.Errorf("session lacks %q:\n%s", want, out)
		}
	}
	plain, _, _ := strings.Cut(out, "\n")
	if strings.Contains(plain, "AUTH=") {
		t.Errorf("AUTH= offered in the clear: %s", plain)
	}
	if tls := out[strings.Index(out, "TLS CAPS"):]; strings.Contains(strings.Split(tls, "\n")[0], "LOGINDISABLED") {
		t.Errorf("LOGINDISABLED after STARTTLS:\n%s", out)
	}
	if strings.Count(u.log(), "login user=") != 1 {
		t.Errorf("log:\n%s", u.log())
	}
}
