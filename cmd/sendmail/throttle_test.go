package main

import (
	"net"
	"os/exec"
	"strings"
	"testing"

	"unixmail/internal/sandbox"
)

// TestFloodsAreThrottledForPythonClients drives sendmail -bd with
// python3's socket and smtplib: past client_connection_count_limit a
// client hears 421; the third failed AUTH on a connection closes it, and
// each failure is logged with the address.
func TestFloodsAreThrottledForPythonClients(t *testing.T) {
	py := sandbox.NeedPeer(t, "python3")
	near, _, _ := authMTAs(t)
	addr := near.StartDaemon("", "-o", "client_connection_count_limit=2", "-o", "client_auth_failure_delay=0").Addr
	host, port, _ := net.SplitHostPort(addr)

	conns := `import socket, sys
socks = [socket.create_connection((sys.argv[1], int(sys.argv[2]))) for _ in range(3)]
print(" ".join(s.recv(200).decode()[:3] for s in socks))
`
	r := sandbox.RunCmd(t, exec.Command(py, "-c", conns, host, port), "")
	if strings.TrimSpace(r.Stdout) != "220 220 421" {
		t.Errorf("three connections from one address: %q %s, want 220 220 421", r.Stdout, r.Stderr)
	}

	auth := `import smtplib, sys
s = smtplib.SMTP(sys.argv[1], int(sys.argv[2]))
s.ehlo()
codes = []
for i in range(3):
    try:
        s.auth("PLAIN", lambda challenge=None: "\0carol\0wrong%d" % i)
        codes.append(235)
    except smtplib.SMTPAuthenticationError as e:
        codes.append(e.smtp_code)
try:
    s.noop()
    codes.append("open")
except smtplib.SMTPServerDisconnected:
    codes.append("closed")
print(" ".join(map(str, codes)))
`
	r = sandbox.RunCmd(t, exec.Command(py, "-c", auth, host, port), "")
	if strings.TrimSpace(r.Stdout) != "535 535 421 closed" {
		t.Errorf("three wrong passwords: %q %s, want 535 535 421 closed", r.Stdout, r.Stderr)
	}
	log := near.Log()
	if n := strings.Count(log, "localhost[127.0.0.1]: SASL PLAIN authentication failed: user=<carol>"); n != 3 {
		t.Errorf("%d failure lines with the address, want 3:\n%s", n, log)
	}
	mustContain(t, "log", log, "too many authentication failures, disconnecting", "too many connections from this address")
}
