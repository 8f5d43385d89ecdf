package smtpd

import (
	"encoding/base64"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func plainAuth(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

func checkPassword(user, pass string) error {
	if user == "alice" && pass == "s3cret" {
		return nil
	}
	return errors.New("bad password")
}

// sendMessage runs one transaction and returns the reply to the data.
func (d *dialog) sendMessage(from, to, data string) string {
	d.t.Helper()
	d.cmd("MAIL FROM:<"+from+">", "250 ")
	d.cmd("RCPT TO:<"+to+">", "250 ")
	d.cmd("DATA", "354 ")
	d.send(data)
	return d.reply()
}

func TestEHLOAdvertisesTheExtensions(t *testing.T) {
	p := basePolicy()
	p.TLSConfig = selfSigned(t)
	p.Authenticate = checkPassword
	ts := startServer(t, p)
	d := dial(t, ts.addr)
	r := d.cmd("EHLO client.example", "250-")
	for _, ext := range []string{"PIPELINING", "8BITMIME", "SIZE 10485760", "ENHANCEDSTATUSCODES", "DSN", "STARTTLS", "AUTH PLAIN LOGIN"} {
		if !strings.Contains(r, "250-"+ext+"\r\n") && !strings.Contains(r, "250 "+ext+"\r\n") {
			t.Errorf("EHLO reply lacks %s:\n%s", ext, r)
		}
	}
}

func TestEHLOOffersNeitherSTARTTLSNorAUTHWithoutConfiguration(t *testing.T) {
	ts := startServer(t, basePolicy())
	d := dial(t, ts.addr)
	r := d.cmd("EHLO client.example", "250-")
	if strings.Contains(r, "STARTTLS") || strings.Contains(r, "AUTH") {
		t.Errorf("EHLO reply offers what is not configured:\n%s", r)
	}
}

func TestAUTHIsRefusedBeforeTLSOnARemoteConnection(t *testing.T) {
	p := basePolicy()
	p.TLSConfig = selfSigned(t)
	p.Authenticate = checkPassword
	p.MyNetworks = nil
	p.isLoopback = func(netip.Addr) bool { return false }
	ts := startServer(t, p)
	d := dial(t, ts.addr)
	if r := d.cmd("EHLO client.example", "250-"); strings.Contains(r, "AUTH") {
		t.Fatalf("AUTH offered in clear text to a remote client:\n%s", r)
	}
	d.cmd("AUTH PLAIN "+plainAuth("alice", "s3cret"), "538 5.7.11 ")

	d.cmd("STARTTLS", "220 ")
	d.startTLS()
	if r := d.cmd("EHLO client.example", "250-"); !strings.Contains(r, "AUTH PLAIN LOGIN") {
		t.Fatalf("AUTH not offered after TLS:\n%s", r)
	}
	d.cmd("AUTH PLAIN "+plainAuth("alice", "wrong-pass"), "535 5.7.8 ")
	d.cmd("AUTH PLAIN "+plainAuth("alice", "s3cret"), "235 ")
	// Authenticated clients may relay.
	if r := d.sendMessage("alice@example.org", "carol@elsewhere.example", "Subject: hi\r\n\r\nhi\r\n.\r\n"); !strings.HasPrefix(r, "250 2.0.0 Ok: queued as ") {
		t.Fatalf("relay after AUTH: %q", r)
	}
	d.cmd("QUIT", "221 ")

	log := ts.log.text()
	if strings.Contains(log, "wrong-pass") || strings.Contains(log, "s3cret") {
		t.Errorf("a password reached the log:\n%s", log)
	}
	if !strings.Contains(log, "SASL PLAIN authentication failed: user=<alice>") {
		t.Errorf("failed AUTH not logged:\n%s", log)
	}
	envs, msgs := ts.q.messages()
	if len(envs) != 1 || envs[0].AuthUser != "alice" || envs[0].Protocol != "ESMTPSA" {
		t.Fatalf("queued %+v", envs)
	}
	if !strings.Contains(msgs[0], "(using TLS") {
		t.Errorf("Received lacks the TLS comment:\n%s", msgs[0])
	}
}

func TestAUTHLOGINWorksOnLoopbackWithoutTLS(t *testing.T) {
	p := basePolicy()
	p.Authenticate = checkPassword
	p.MyNetworks = nil
	ts := startServer(t, p)
	d := dial(t, ts.addr)
	d.cmd("EHLO client.example", "250-")
	b64 := base64.StdEncoding.EncodeToString
	d.cmd("AUTH LOGIN", "334 "+b64([]byte("Username:")))
	d.cmd(b64([]byte("alice")), "334 "+b64([]byte("Password:")))
	d.cmd(b64([]byte("s3cret")), "235 ")
	d.cmd("MAIL FROM:<alice@example.org>", "250 ")
	d.cmd("RCPT TO:<carol@elsewhere.example>", "250 ")
}

func TestRelayIsDeniedOutsideMyNetworks(t *testing.T) {
	p := basePolicy()
	p.MyNetworks = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	ts := startServer(t, p)
	d := dial(t, ts.addr)
	d.cmd("EHLO client.example", "250-")
	d.cmd("MAIL FROM:<spammer@bad.example>", "250 ")
	d.cmd("RCPT TO:<victim@elsewhere.example>", "554 5.7.1 <victim@elsewhere.example>: Relay access denied")
	// The local domain still takes mail from anyone.
	d.cmd("RCPT TO:<bob@example.org>", "250 ")
	d.cmd("RCPT TO:<Bob@EXAMPLE.ORG.>", "550 5.1.1 ")
	want := "reject: RCPT from localhost[127.0.0.1]: 554 5.7.1 <victim@elsewhere.example>: Relay access denied; from=<spammer@bad.example> to=<victim@elsewhere.example> proto=ESMTP helo=<client.example>"
	if !strings.Contains(ts.log.text(), want) {
		t.Errorf("log lacks %q:\n%s", want, ts.log.text())
	}
}

func TestRelayIsAllowedFromMyNetworksAndForTrustedClients(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Policy)
	}{
		{"mynetworks", func(*Policy) {}},
		{"trusted", func(p *Policy) { p.MyNetworks, p.Trusted = nil, true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := basePolicy()
			tc.change(&p)
			ts := startServer(t, p)
			d := dial(t, ts.addr)
			d.cmd("EHLO client.example", "250-")
			d.cmd("MAIL FROM:<alice@example.org>", "250 ")
			d.cmd("RCPT TO:<carol@elsewhere.example>", "250 ")
		})
	}
}

func TestRecipientChecksAnswerWithTheRightCodes(t *testing.T) {
	ts := startServer(t, basePolicy())
	d := dial(t, ts.addr)
	d.cmd("EHLO client.example", "250-")
	d.cmd("MAIL FROM:<-oQ/tmp/x@bad.example>", "553 5.1.7 ")
	d.cmd("MAIL FROM:<alice@example.org>", "250 ")
	for _, tc := range []struct{ rcpt, reply string }{
		{"nobody@example.org", "550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown"},
		{"broken@example.org", "451 4.3.0 "},
		{"-oQ/tmp/x@example.org", "553 5.1.3 "},
		{"bob@mx.example.org", "250 "},
	} {
		d.cmd("RCPT TO:<"+tc.rcpt+">", tc.reply)
	}
	if !strings.Contains(ts.log.text(), "alias database unreadable") {
		t.Errorf("lookup failure not logged:\n%s", ts.log.text())
	}
}

func TestAMessageIsQueuedWithAReceivedHeader(t *testing.T) {
	ts := startServer(t, basePolicy())
	d := dial(t, ts.addr)
	d.cmd("EHLO client.example", "250-")
	if r := d.sendMessage("alice@example.org", "bob@example.org", "Subject: hi\r\n\r\n..dot\r\nbody\r\n.\r\n"); r != "250 2.0.0 Ok: queued as Q0001\r\n" {
		t.Fatalf("reply %q", r)
	}
	d.cmd("MAIL FROM:<>", "250 ")
	d.cmd("RCPT TO:<bob@example.org>", "250 ")
	d.cmd("RCPT TO:<postmaster@example.org>", "250 ")
	d.cmd("DATA", "354 ")
	d.send("Subject: two\r\n\r\nx\r\n.\r\n")
	d.expect("250 2.0.0 Ok: queued as Q0002")
	d.cmd("QUIT", "221 ")
	ts.log.waitFor("info: disconnect from localhost[127.0.0.1]")

	envs, msgs := ts.q.messages()
	if len(msgs) != 2 {
		t.Fatalf("queued %d messages", len(msgs))
	}
	e := envs[0]
	if e.From != "alice@example.org" || len(e.Rcpts) != 1 || e.Rcpts[0] != "bob@example.org" ||
		e.ClientAddr != "127.0.0.1" || e.ClientName != "localhost" || e.Helo != "client.example" || e.Protocol != "ESMTP" {
		t.Errorf("envelope %+v", e)
	}
	wantStart := "Received: from client.example ([127.0.0.1])\r\n\tby mx.example.org with ESMTP\r\n\tfor <bob@example.org>; "
	if !strings.HasPrefix(msgs[0], wantStart) {
		t.Errorf("message 1 starts\n%q\nwant\n%q", msgs[0], wantStart)
	}
	if !strings.HasSuffix(msgs[0], "\r\nSubject: hi\r\n\r\n.dot\r\nbody\r\n") {
		t.Errorf("message 1 body %q", msgs[0])
	}
	if envs[1].From != "" || strings.Contains(msgs[1], "\tfor <") {
		t.Errorf("message 2: %+v\n%q", envs[1], msgs[1])
	}
	for _, want := range []string{"info: connect from localhost[127.0.0.1]", "info: Q0001: client=localhost[127.0.0.1]"} {
		if !strings.Contains(ts.log.text(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func TestHELOClientsAreLoggedAsSMTP(t *testing.T) {
	ts := startServer(t, basePolicy())
	d := dial(t, ts.addr)
	d.cmd("HELO old.example", "250 ")
	d.sendMessage("a@old.example", "bob@example.org", "x\r\n.\r\n")
	envs, msgs := ts.q.messages()
	if len(envs) != 1 || envs[0].Protocol != "SMTP" || !strings.Contains(msgs[0], "with SMTP\r\n") {
		t.Fatalf("%+v %q", envs, msgs)
	}
}

func TestDSNParametersAreAccepted(t *testing.T) {
	ts := startServer(t, basePolicy())
	d := dial(t, ts.addr)
	d.cmd("EHLO client.example", "250-")
	d.cmd("MAIL FROM:<alice@example.org> RET=HDRS ENVID=abc+2Bdef BODY=8BITMIME SIZE=100", "250 ")
	d.cmd("RCPT TO:<bob@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@example.org", "250 ")
	d.cmd("RCPT TO:<postmaster@example.org> NOTIFY=NEVER", "250 ")
	d.cmd("DATA", "354 ")
	d.send("x\r\n.\r\n")
	d.expect("250 ")
	envs, _ := ts.q.messages()
	e := envs[0]
	if e.Ret != "HDRS" || e.EnvID != "abc+def" || e.Notify["bob@example.org"] != "SUCCESS,FAILURE" || e.Notify["postmaster@example.org"] != "NEVER" {
		t.Errorf("envelope %+v", e)
	}
}

func TestPipelinedCommandsAreAnsweredInOrder(t *testing.T) {
	ts := startServer(t, basePolicy())
	d := dial(t, ts.addr)
	d.cmd("EHLO client.example", "250-")
	d.send("MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\nRCPT TO:<nobody@example.org>\r\nRCPT TO:<postmaster@example.org>\r\nDATA\r\n")
	for _, want := range []string{"250 ", "250 ", "550 5.1.1 ", "250 ", "354 "} {
		d.expect(want)
	}
	d.send("Subject: p\r\n\r\nbody\r\n.\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n")
	for _, want := range []string{"250 2.0.0 Ok: queued as Q0001", "250 ", "250 ", "354 "} {
		d.expect(want)
	}
	d.send("second\r\n.\r\nQUIT\r\n")
	d.expect("250 2.0.0 Ok: queued as Q0002")
	d.expect("221 ")
	envs, _ := ts.q.messages()
	if len(envs) != 2 || len(envs[0].Rcpts) != 2 {
		t.Fatalf("queued %+v", envs)
	}
}

func TestSTARTTLSDiscardsCommandsPipelinedBeforeTheHandshake(t *testing.T) {
	p := basePolicy()
	p.TLSConfig = selfSigned(t)
	ts := startServer(t, p)
	d := dial(t, ts.addr)
	d.cmd("EHLO client.example", "250-")
	// CVE-2011-0411: a man in the middle appends commands to STARTTLS in
	// the clear, hoping they run inside the TLS session.
	d.send("STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\n")
	d.expect("220 ")
	d.startTLS()
	// The session starts over: EHLO first, and no MAIL was given.
	d.cmd("MAIL FROM:<alice@example.org>", "502 5.5.1 ")
	if r := d.cmd("EHLO client.example", "250-"); strings.Contains(r, "STARTTLS") {
		t.Errorf("STARTTLS offered again inside TLS:\n%s", r)
	}
	d.cmd("RCPT TO:<bob@example.org>", "502 5.5.1 ")
	if r := d.sendMessage("alice@example.org", "bob@example.org", "x\r\n.\r\n"); !strings.HasPrefix(r, "250 ") {
		t.Fatalf("reply %q", r)
	}
	envs, _ := ts.q.messages()
	if len(envs) != 1 || envs[0].From != "alice@example.org" || envs[0].Protocol != "ESMTPS" {
		t.Fatalf("queued %+v", envs)
	}
	if n := strings.Count(ts.log.text(), "info: connect from"); n != 1 {
		t.Errorf("STARTTLS logged as %d connections:\n%s", n, ts.log.text())
	}
}
