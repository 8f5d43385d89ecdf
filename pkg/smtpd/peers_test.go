package smtpd

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Real clients: swaks, python's smtplib, and swaks --pipe against -bs.

// stdioDirEnv makes the test binary serve one -bs session on its standard
// input and output, queueing into that directory, so that swaks --pipe
// can drive ServeStdio as a real process.
const stdioDirEnv = "SMTPD_TEST_STDIO_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(stdioDirEnv); dir != "" {
		p := basePolicy()
		p.MyNetworks, p.Trusted, p.TrustedUser = nil, true, "alice"
		err := ServeStdio(p, dirQueue(dir), stderrLog{}, os.Stdin, os.Stdout)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// dirQueue writes each message into a file, for the -bs helper process.
type dirQueue string

func (q dirQueue) Enqueue(env *Envelope, msg io.Reader) (string, error) {
	b, err := io.ReadAll(msg)
	if err != nil {
		return "", err
	}
	id := fmt.Sprintf("S%d", os.Getpid())
	head := fmt.Sprintf("from=%s rcpts=%s proto=%s\n", env.From, strings.Join(env.Rcpts, ","), env.Protocol)
	return id, os.WriteFile(filepath.Join(string(q), id), append([]byte(head), b...), 0o600)
}

// stderrLog: the -bs helper must keep standard output for the protocol.
type stderrLog struct{}

func (stderrLog) Info(f string, a ...any)  { fmt.Fprintf(os.Stderr, f+"\n", a...) }
func (stderrLog) Warn(f string, a ...any)  { fmt.Fprintf(os.Stderr, f+"\n", a...) }
func (stderrLog) Error(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }

func needPeer(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

func run(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	return string(out)
}

func TestSwaksDeliversAMessage(t *testing.T) {
	swaks := needPeer(t, "swaks")
	ts := startServer(t, basePolicy())
	run(t, exec.Command(swaks, "--server", ts.addr, "--ehlo", "swaks.example",
		"--from", "alice@example.org", "--to", "bob@example.org",
		"--header", "Subject: from swaks", "--body", "hello from swaks"))
	envs, msgs := ts.q.messages()
	if len(msgs) != 1 || envs[0].Rcpts[0] != "bob@example.org" || !strings.Contains(msgs[0], "Subject: from swaks") {
		t.Fatalf("queued %+v %q", envs, msgs)
	}
}

func TestSwaksAuthenticatesOverSTARTTLSAndRelays(t *testing.T) {
	swaks := needPeer(t, "swaks")
	p := basePolicy()
	p.TLSConfig = selfSigned(t)
	p.Authenticate = checkPassword
	p.MyNetworks = nil
	p.isLoopback = func(netip.Addr) bool { return false }
	ts := startServer(t, p)
	for _, mech := range []string{"PLAIN", "LOGIN"} {
		run(t, exec.Command(swaks, "--server", ts.addr, "--ehlo", "swaks.example", "--tls",
			"--auth", mech, "--auth-user", "alice", "--auth-password", "s3cret",
			"--from", "alice@example.org", "--to", "carol@elsewhere.example"))
	}
	// Without AUTH the same relay is refused.
	cmd := exec.Command(swaks, "--server", ts.addr, "--tls", "--from", "alice@example.org", "--to", "carol@elsewhere.example")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "554 5.7.1") {
		t.Errorf("relay without AUTH: %v\n%s", err, out)
	}
	envs, _ := ts.q.messages()
	if len(envs) != 2 || envs[0].Protocol != "ESMTPSA" || envs[1].AuthUser != "alice" {
		t.Fatalf("queued %+v", envs)
	}
}

func TestPythonSmtplibSendsOverSTARTTLSWithLogin(t *testing.T) {
	python := needPeer(t, "python3")
	p := basePolicy()
	p.TLSConfig = selfSigned(t)
	p.Authenticate = checkPassword
	p.MyNetworks = nil
	ts := startServer(t, p)
	host, port, _ := strings.Cut(ts.addr, ":")
	script := `
import smtplib, ssl, sys
from email.message import EmailMessage
m = EmailMessage()
m["From"] = "alice@example.org"
m["To"] = "bob@example.org, carol@elsewhere.example"
m["Subject"] = "from python"
m.set_content("caf\u00e9 8bit body\n.leading dot\n")
s = smtplib.SMTP(sys.argv[1], int(sys.argv[2]))
s.ehlo("python.example")
assert s.has_extn("starttls") and s.has_extn("pipelining") and s.has_extn("dsn")
s.starttls(context=ssl._create_unverified_context())
s.ehlo("python.example")
s.login("alice", "s3cret")
refused = s.send_message(m, mail_options=["BODY=8BITMIME"], rcpt_options=["NOTIFY=FAILURE"])
assert not refused, refused
try:
    s.sendmail("alice@example.org", ["nobody@example.org"], "Subject: x\r\n\r\nx\r\n")
    raise SystemExit("unknown user accepted")
except smtplib.SMTPRecipientsRefused as e:
    assert e.recipients["nobody@example.org"][0] == 550, e.recipients
s.quit()
`
	run(t, exec.Command(python, "-c", script, host, port))
	envs, msgs := ts.q.messages()
	if len(msgs) != 1 || len(envs[0].Rcpts) != 2 || envs[0].Notify["carol@elsewhere.example"] != "FAILURE" {
		t.Fatalf("queued %+v", envs)
	}
	if !strings.Contains(msgs[0], "\r\n.leading dot\r\n") {
		t.Errorf("body lost its dot line:\n%s", msgs[0])
	}
}

func TestSwaksPipeDrivesTheStdioSession(t *testing.T) {
	swaks := needPeer(t, "swaks")
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(swaks, "--pipe", self, "--ehlo", "local.example",
		"--from", "alice@example.org", "--to", "carol@elsewhere.example", "--header", "Subject: via -bs")
	cmd.Env = append(os.Environ(), stdioDirEnv+"="+dir)
	out := run(t, cmd)
	files, err := os.ReadDir(dir)
	if err != nil || len(files) != 1 {
		t.Fatalf("queue dir has %v (%v); swaks said:\n%s", files, err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, files[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{"from=alice@example.org rcpts=carol@elsewhere.example proto=ESMTP\n",
		"Received: from local.example\r\n\t(from user alice)\r\n\tby mx.example.org with ESMTP\r\n", "Subject: via -bs"} {
		if !strings.Contains(got, want) {
			t.Errorf("queued message lacks %q:\n%s", want, got)
		}
	}
}
