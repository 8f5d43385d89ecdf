package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"unixmail/internal/sandbox"
)

// dkimPython is the python3 that has dkimpy and dnspython (Debian's
// python3-dkim), whatever python3 comes first in PATH.
func dkimPython(t *testing.T) string {
	t.Helper()
	sandbox.NeedPeer(t, "dkimverify")
	return "/usr/bin/python3"
}

func dkimTool(t *testing.T, stdin string, args ...string) sandbox.Result {
	t.Helper()
	tool, err := filepath.Abs(filepath.Join("testdata", "dkimtool.py"))
	if err != nil {
		t.Fatal(err)
	}
	return sandbox.RunCmd(t, exec.Command(dkimPython(t), append([]string{tool}, args...)...), stdin)
}

// zoneStrings reads the quoted strings of the zone line sendmail -bk
// printed: the one TXT record to publish.
func zoneStrings(t *testing.T, line string) (name string, strs []string) {
	t.Helper()
	f := strings.Fields(line)
	if len(f) < 4 || f[1] != "IN" || f[2] != "TXT" {
		t.Fatalf("not a zone line: %q", line)
	}
	for _, m := range regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(line, -1) {
		strs = append(strs, m[1])
	}
	return strings.TrimSuffix(f[0], "."), strs
}

// lastMessage is the last message of an mbox without its From_ line,
// with mboxrd quoting undone: the bytes as delivered.
func lastMessage(t *testing.T, mbox string) string {
	t.Helper()
	i := strings.LastIndex(mbox, "\nFrom ")
	if i < 0 {
		i = 0
	} else {
		i++
	}
	msg := mbox[i:]
	msg = msg[strings.IndexByte(msg, '\n')+1:]
	return regexp.MustCompile(`(?m)^>(>*From )`).ReplaceAllString(msg, "$1")
}

func TestOurSignatureVerifiesWithDkimpyAgainstTheRecordOurKeyCommandPrinted(t *testing.T) {
	for _, alg := range []string{"rsa", "ed25519"} {
		t.Run(alg, func(t *testing.T) {
			sb := sandbox.New(t, "alice")
			key := filepath.Join(sb.Dir, "example.test.pem")
			sb.Set("dkim_keys", "example.test:s2026:"+key)
			r := sb.Run("", "sendmail", "-bk", "example.test", alg)
			if r.Code != 0 {
				t.Fatalf("sendmail -bk: %d %s", r.Code, r.Stderr)
			}
			if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("key file: %v %v", fi, err)
			}
			name, strs := zoneStrings(t, r.Stdout)
			if name != "s2026._domainkey.example.test" {
				t.Fatalf("record name %q", name)
			}
			again := sb.Run("", "sendmail", "-bk", "example.test")
			if again.Code != 0 || again.Stdout != r.Stdout {
				t.Fatalf("a second -bk must print the same record, not make a key: %q %s", again.Stdout, again.Stderr)
			}
			dns := sandbox.StartDNS(t, sandbox.DNSRecords{TXT: map[string][]string{name: strs}, Zones: []string{"example.test"}})
			msg := "From: Alice <alice@example.test>\nTo: alice@test.example\nSubject: signed " + alg + "\n\nhello\n.dot line\n"
			if r := sb.Run(msg, "sendmail", "-t", "-i"); r.Code != 0 {
				t.Fatal(r.Stderr)
			}
			got := lastMessage(t, sb.WaitMail("alice", 1))
			mustContain(t, "delivered", got, "DKIM-Signature: ", "d=example.test", "s=s2026", "c=relaxed/relaxed")
			mustContain(t, "log", sb.Log(), "DKIM-Signature field added (d=example.test)")
			if v := dkimTool(t, got, "verify", dns.Addr); v.Code != 0 || strings.TrimSpace(v.Stdout) != "pass" {
				t.Fatalf("dkimpy says %q %s\n%s", v.Stdout, v.Stderr, got)
			}
			tampered := strings.Replace(got, "hello", "hullo", 1)
			if v := dkimTool(t, tampered, "verify", dns.Addr); !strings.HasPrefix(v.Stdout, "fail: body hash mismatch") {
				t.Fatalf("dkimpy passes an altered body: %q %s", v.Stdout, v.Stderr)
			}
		})
	}
}

func TestAKeyFileOthersMayReadIsRefused(t *testing.T) {
	sb := sandbox.New(t, "alice")
	key := filepath.Join(sb.Dir, "k.pem")
	sb.Set("dkim_keys", "example.test:s:"+key)
	if r := sb.Run("", "sendmail", "-bk", "example.test"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	os.Chmod(key, 0o644)
	r := sb.Run("", "sendmail", "-bk", "example.test")
	if r.Code != 78 {
		t.Fatalf("exit %d, want 78: %s", r.Code, r.Stderr)
	}
	mustContain(t, "stderr", r.Stderr, "refused", "0644")
	// Mail still goes, unsigned, and the log says why.
	if r := sb.Run("From: alice@example.test\nSubject: x\n\nx\n", "sendmail", "alice"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	mustNotContain(t, "mailbox", sb.WaitMail("alice", 1), "DKIM-Signature")
	mustContain(t, "log", sb.Log(), "not signed: dkim_keys example.test:", "refused")
}

func TestRelayedMailIsNeverSigned(t *testing.T) {
	sb := sandbox.New(t, "alice")
	key := filepath.Join(sb.Dir, "k.pem")
	sb.Set("dkim_keys", "test.example:s:"+key)
	if r := sb.Run("", "sendmail", "-bk", "test.example"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	d := sb.StartDaemon("", "-o", "msgauth_checks=no")
	// From mynetworks (loopback), unauthenticated: relayed, not ours.
	r := swaksTo(t, d.Addr, "relayed", "--from", "alice@test.example", "--to", "alice@test.example",
		"--header", "From: alice@test.example")
	if r.Code != 0 {
		t.Fatal(r.Stdout, r.Stderr)
	}
	mustNotContain(t, "mailbox", sb.WaitMail("alice", 1), "DKIM-Signature")
}

// authDomains are the test domains of the incoming checks, served by a
// real dnsmasq.
func authDNS(t *testing.T, signedKey string) *sandbox.DNS {
	return sandbox.StartDNS(t, sandbox.DNSRecords{
		Zones: []string{"test"},
		TXT: map[string][]string{
			"good.test":                  {"v=spf1 ip4:127.0.0.1 -all"},
			"_dmarc.good.test":           {"v=DMARC1; p=reject"},
			"fail.test":                  {"v=spf1 ip4:192.0.2.1 -all"},
			"soft.test":                  {"v=spf1 ip4:192.0.2.1 ~all"},
			"reject.test":                {"v=spf1 -all"},
			"_dmarc.reject.test":         {"v=DMARC1; p=reject"},
			"quarantine.test":            {"v=spf1 -all"},
			"_dmarc.quarantine.test":     {"v=DMARC1; p=quarantine"},
			"pnone.test":                 {"v=spf1 -all"},
			"_dmarc.pnone.test":          {"v=DMARC1; p=none"},
			"signed.test":                {"v=spf1 ip4:127.0.0.1 -all"},
			"sel._domainkey.signed.test": splitTXT(signedKey),
		},
		A:        map[string]string{"mx.good.test": "127.0.0.1"},
		MX:       map[string][]string{"good.test": {"mx.good.test,10"}},
		TempFail: []string{"tempfail.test"},
	})
}

func splitTXT(s string) []string {
	var out []string
	for len(s) > 200 {
		out = append(out, s[:200])
		s = s[200:]
	}
	return append(out, s)
}

// rsaKeyPair makes a key for dkimpy to sign with (PKCS #1 PEM, which it
// reads) and its DKIM record.
func rsaKeyPair(t *testing.T, dir, name string) (keyFile, record string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyFile = filepath.Join(dir, name)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	if err := os.WriteFile(keyFile, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return keyFile, "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
}

// inbound is a daemon that treats every client as outside: mynetworks is
// empty, so a client on loopback is checked like one on the Internet.
func inbound(t *testing.T, dns *sandbox.DNS, kv ...string) (*sandbox.Sandbox, *sandbox.Daemon) {
	sb := sandbox.New(t, "alice")
	sb.Set(append([]string{"mynetworks", "", "dns_resolver", dns.Addr}, kv...)...)
	return sb, sb.StartDaemon("")
}

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func TestIncomingVerdictsGiveTheDocumentedRepliesAndHeaders(t *testing.T) {
	dir := t.TempDir()
	key, record := rsaKeyPair(t, dir, "signer.pem")
	dns := authDNS(t, record)
	sb, d := inbound(t, dns)
	cases := []struct {
		name, mailFrom, from string
		reply                string // what the client hears
		header               []string
		log                  string
	}{
		{"SPF pass, DMARC pass", "bob@good.test", "bob@good.test", "250",
			[]string{"spf=pass smtp.mailfrom=good.test", "dkim=none", "dmarc=pass header.from=good.test"}, "spf=pass, dkim=none, dmarc=pass"},
		{"SPF fail is refused", "bob@fail.test", "bob@fail.test", "550 5.7.23 SPF validation failed for fail.test",
			nil, "550 5.7.23 SPF validation failed for fail.test (spf=fail"},
		{"SPF softfail is accepted and marked", "bob@soft.test", "bob@soft.test", "250",
			[]string{"spf=softfail smtp.mailfrom=soft.test", "dmarc=none"}, "spf=softfail"},
		{"SPF none", "bob@nodns.test", "bob@nodns.test", "250",
			[]string{"spf=none smtp.mailfrom=nodns.test"}, "spf=none"},
		{"SPF temperror defers", "bob@tempfail.test", "bob@good.test", "451 4.4.3",
			nil, "spf=temperror"},
		{"DMARC p=reject failing is refused", "bob@good.test", "ceo@reject.test", "550 5.7.1 Rejected by the DMARC policy of reject.test",
			nil, "dmarc=fail (p=reject)"},
		{"DMARC of the organizational domain covers a subdomain", "bob@good.test", "ceo@sub.reject.test", "550 5.7.1 Rejected by the DMARC policy of sub.reject.test",
			nil, "Rejected by the DMARC policy of sub.reject.test"},
		{"DMARC p=quarantine failing is marked", "bob@good.test", "ceo@quarantine.test", "250",
			[]string{"spf=pass", `dmarc=fail reason="p=quarantine" header.from=quarantine.test`}, "dmarc=fail (p=quarantine)"},
		{"DMARC p=none failing is marked", "bob@good.test", "ceo@pnone.test", "250",
			[]string{`dmarc=fail reason="p=none" header.from=pnone.test`}, "dmarc=fail"},
	}
	delivered := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := crlf("From: " + c.from + "\nTo: alice@test.example\nSubject: " + c.name + "\n\nbody\n")
			r := dkimTool(t, msg, "send", d.Addr, "client.test", c.mailFrom, "alice@test.example")
			if !strings.HasPrefix(r.Stdout, c.reply) {
				t.Fatalf("reply %q %s, want %q", r.Stdout, r.Stderr, c.reply)
			}
			sb.WaitFor("the log line", func() bool { return strings.Contains(sb.Log(), c.log) })
			if c.reply != "250" {
				return
			}
			delivered++
			got := lastMessage(t, sb.WaitMail("alice", delivered))
			mustContain(t, "delivered", got, "Subject: "+c.name, "Authentication-Results: test.example;")
			mustContain(t, "Authentication-Results", got, c.header...)
		})
	}

	t.Run("DKIM signed by dkimpy", func(t *testing.T) {
		otherKey, _ := rsaKeyPair(t, dir, "other.pem")
		sign := func(msg, keyFile string) string {
			r := dkimTool(t, crlf(msg), "sign", "sel", "signed.test", keyFile)
			if r.Code != 0 {
				t.Fatal(r.Stderr)
			}
			return r.Stdout
		}
		base := "From: ann@signed.test\nTo: alice@test.example\nSubject: %s\nDate: Fri, 04 Dec 2026 10:00:00 +0000\n\nsigned body\n"
		good := sign(strings.Replace(base, "%s", "good", 1), key)
		cases := []struct{ name, msg, want string }{
			{"good", good, "dkim=pass header.d=signed.test"},
			{"body altered", strings.Replace(sign(strings.Replace(base, "%s", "body altered", 1), key), "signed body", "changed body", 1),
				`dkim=fail reason="body hash did not verify" header.d=signed.test`},
			{"header altered", strings.Replace(sign(strings.Replace(base, "%s", "header altered", 1), key), "header altered", "header ALTERED", 1),
				`dkim=fail reason="signature did not verify`},
			{"wrong key", sign(strings.Replace(base, "%s", "wrong key", 1), otherKey),
				`dkim=fail reason="signature did not verify`},
		}
		for _, c := range cases {
			r := dkimTool(t, c.msg, "send", d.Addr, "client.test", "ann@signed.test", "alice@test.example")
			if !strings.HasPrefix(r.Stdout, "250") {
				t.Fatalf("%s: reply %q %s", c.name, r.Stdout, r.Stderr)
			}
			delivered++
			got := lastMessage(t, sb.WaitMail("alice", delivered))
			mustContain(t, c.name, got, "spf=pass smtp.mailfrom=signed.test", c.want)
		}
	})

	t.Run("a forged Authentication-Results naming us is removed", func(t *testing.T) {
		msg := crlf("Authentication-Results: test.example; dkim=pass header.d=bank.test\n" +
			"Authentication-Results: (comment) TEST.example.;\n\tspf=pass smtp.mailfrom=bank.test\n" +
			"Authentication-Results: elsewhere.test; spf=pass\n" +
			"From: bob@good.test\nTo: alice@test.example\nSubject: forged\n\nx\n")
		if r := dkimTool(t, msg, "send", d.Addr, "client.test", "bob@good.test", "alice@test.example"); !strings.HasPrefix(r.Stdout, "250") {
			t.Fatalf("reply %q %s", r.Stdout, r.Stderr)
		}
		delivered++
		got := lastMessage(t, sb.WaitMail("alice", delivered))
		mustNotContain(t, "delivered", got, "bank.test")
		mustContain(t, "delivered", got, "Authentication-Results: elsewhere.test; spf=pass", "Authentication-Results: test.example;\n\tspf=pass smtp.mailfrom=good.test")
		if n := strings.Count(got, "Authentication-Results: test.example"); n != 1 {
			t.Fatalf("%d of our headers:\n%s", n, got)
		}
	})

	t.Run("mail shows our verdict in short with showauth", func(t *testing.T) {
		script := "set showauth\np $\np /DMARC p=quarantine\nx\n"
		r := sandbox.RunCmd(t, sb.Mail("alice", "-N", "-f", sb.Mailbox("alice")), script)
		mustContain(t, "mail", r.Stdout,
			"Authentication: spf=pass dkim=none dmarc=pass (From: good.test)",
			"Authentication: spf=pass dkim=none dmarc=fail (From: quarantine.test)")
		mustNotContain(t, "mail", r.Stdout, "bank.test")
		r = sandbox.RunCmd(t, sb.Mail("alice", "-N", "-f", sb.Mailbox("alice")), "p 1\nx\n")
		mustNotContain(t, "mail without showauth", r.Stdout, "Authentication:")
	})
}

func TestPoliciesSwitchedOffOnlyMark(t *testing.T) {
	_, record := rsaKeyPair(t, t.TempDir(), "k.pem")
	dns := authDNS(t, record)
	sb, d := inbound(t, dns, "spf_policy", "off", "dmarc_policy", "header", "dns_temperror_policy", "accept")
	for i, c := range []struct{ mailFrom, from, want string }{
		{"bob@fail.test", "bob@fail.test", "spf=fail smtp.mailfrom=fail.test"},
		{"bob@good.test", "ceo@reject.test", `dmarc=fail reason="p=reject" header.from=reject.test`},
		{"bob@tempfail.test", "bob@good.test", "spf=temperror smtp.mailfrom=tempfail.test"},
	} {
		msg := crlf("From: " + c.from + "\nTo: alice@test.example\nSubject: marked\n\nx\n")
		if r := dkimTool(t, msg, "send", d.Addr, "client.test", c.mailFrom, "alice@test.example"); !strings.HasPrefix(r.Stdout, "250") {
			t.Fatalf("%s: reply %q %s", c.want, r.Stdout, r.Stderr)
		}
		mustContain(t, "delivered", lastMessage(t, sb.WaitMail("alice", i+1)), c.want)
	}
}

func TestOutgoingMailFindsItsMXThroughDNSResolver(t *testing.T) {
	// The MX host must be reached on port 25: a loopback address of its
	// own keeps it apart from anything else on the machine.
	const mxAddr = "127.0.0.113"
	dns := sandbox.StartDNS(t, sandbox.DNSRecords{
		Zones: []string{"test"},
		MX:    map[string][]string{"mxonly.test": {"smtp.mxonly.test,10"}},
		A:     map[string]string{"smtp.mxonly.test": mxAddr},
	})
	far := sandbox.New(t, "bob")
	far.Set("hostname", "smtp.mxonly.test", "mydestination", "mxonly.test")
	far.StartDaemon(mxAddr + ":25")
	near := sandbox.New(t, "alice")
	near.Set("dns_resolver", dns.Addr, "smtp_tls", "none")
	if r := near.Run("Subject: by MX\n\nx\n", "sendmail", "bob@mxonly.test"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	mustContain(t, "bob", far.WaitMail("bob", 1), "Subject: by MX")
	mustContain(t, "near log", near.Log(), "relay=smtp.mxonly.test["+mxAddr+"]:25")
	mustContain(t, "dnsmasq log", dns.Log(), "query[MX] mxonly.test")
}

func TestAnAuthenticatedClientsMailIsSigned(t *testing.T) {
	near, far, _ := authMTAs(t)
	near.Set("dkim_keys", "test.example:sel:"+filepath.Join(near.Dir, "dkim.pem"))
	if r := near.Run("", "sendmail", "-bk", "test.example", "ed25519"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	d := near.StartDaemon("")
	r := swaksTo(t, d.Addr, "signed for carol", "--tls", "--auth", "PLAIN", "--auth-user", "carol",
		"--auth-password", carolPassword, "--header", "From: Carol <carol@test.example>")
	if r.Code != 0 {
		t.Fatalf("swaks: %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	mustContain(t, "far", far.WaitMail("bob", 1), "DKIM-Signature: ", "a=ed25519-sha256", "d=test.example", "s=sel", "Subject: signed for carol")
}

func TestTheKeyCommandRefusesWhatItCannotDo(t *testing.T) {
	sb := sandbox.New(t, "alice")
	sb.Set("dkim_keys", "example.test:s:"+filepath.Join(sb.Dir, "k.pem"))
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"-bk"}, 64, "usage: sendmail -bk domain [rsa|ed25519]"},
		{[]string{"-bk", "other.test"}, 78, "dkim_keys has no entry for other.test"},
		{[]string{"-bk", "example.test", "dsa"}, 64, `key type "dsa": want rsa or ed25519`},
	} {
		r := sb.Run("", "sendmail", c.args...)
		if r.Code != c.code || !strings.Contains(r.Stderr, c.msg) {
			t.Errorf("sendmail %v: exit %d %q, want %d %q", c.args, r.Code, r.Stderr, c.code, c.msg)
		}
	}
	if _, err := os.Stat(filepath.Join(sb.Dir, "k.pem")); !os.IsNotExist(err) {
		t.Errorf("a refused command left a key file: %v", err)
	}
}

func TestANullSenderIsCheckedByItsHelo(t *testing.T) {
	_, record := rsaKeyPair(t, t.TempDir(), "k.pem")
	dns := authDNS(t, record)
	sb, d := inbound(t, dns)
	msg := crlf("From: bob@good.test\nTo: alice@test.example\nSubject: bounce\n\nx\n")
	if r := dkimTool(t, msg, "send", d.Addr, "fail.test", "", "alice@test.example"); !strings.HasPrefix(r.Stdout, "550 5.7.23 SPF validation failed for fail.test") {
		t.Fatalf("reply %q %s", r.Stdout, r.Stderr)
	}
	if r := dkimTool(t, msg, "send", d.Addr, "good.test", "", "alice@test.example"); !strings.HasPrefix(r.Stdout, "250") {
		t.Fatalf("reply %q %s", r.Stdout, r.Stderr)
	}
	mustContain(t, "delivered", sb.WaitMail("alice", 1), "spf=pass smtp.helo=good.test")
}
