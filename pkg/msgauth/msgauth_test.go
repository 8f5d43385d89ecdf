package msgauth

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"

	"unixmail/pkg/config"
)

func TestStripForgedRemovesOnlyFieldsNamingUs(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"ours removed", "Authentication-Results: mx.example.org; spf=pass\r\nFrom: a@b\r\n\r\nbody\r\n",
			"From: a@b\r\n\r\nbody\r\n"},
		{"folded, case and dot", "From: a@b\nauthentication-results: MX.Example.Org.;\n\tdkim=pass\nTo: c@d\n\nAuthentication-Results: mx.example.org; in the body\n",
			"From: a@b\nTo: c@d\n\nAuthentication-Results: mx.example.org; in the body\n"},
		{"after a comment", "Authentication-Results: (forged) mx.example.org 1; none\nX: y\n\n", "X: y\n\n"},
		{"other hosts kept", "Authentication-Results: mx.example.org.evil; none\nAuthentication-Results: other.org; spf=fail\n\n",
			"Authentication-Results: mx.example.org.evil; none\nAuthentication-Results: other.org; spf=fail\n\n"},
		{"no header end", "Authentication-Results: mx.example.org; none", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := string(StripForged([]byte(c.in), "mx.example.org")); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestAuthServIDIsTheFirstTokenPastComments(t *testing.T) {
	for in, want := range map[string]string{
		"example.org; spf=pass":           "example.org",
		"example.org 1; none":             "example.org",
		"(a (nested) comment) x.org;":     "x.org",
		"  x.org.":                        "x.org",
		"(unclosed comment x.org; none":   "",
		`(esc \) paren) y.org; dkim=none`: "y.org",
	} {
		if got := AuthServID(in); got != want {
			t.Errorf("AuthServID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAlignmentComparesOrganizationalDomainsUnlessStrict(t *testing.T) {
	cases := []struct {
		auth, from string
		mode       dmarc.AlignmentMode
		want       bool
	}{
		{"example.org", "example.org", dmarc.AlignmentStrict, true},
		{"mail.example.org", "example.org", dmarc.AlignmentRelaxed, true},
		{"mail.example.org", "example.org", dmarc.AlignmentStrict, false},
		{"a.example.co.uk", "b.example.co.uk", dmarc.AlignmentRelaxed, true},
		{"example.co.uk", "other.co.uk", dmarc.AlignmentRelaxed, false},
		{"", "example.org", dmarc.AlignmentRelaxed, false},
		{"EXAMPLE.org", "example.ORG", dmarc.AlignmentStrict, true},
	}
	for _, c := range cases {
		if got := aligned(c.auth, c.from, c.mode); got != c.want {
			t.Errorf("aligned(%q, %q, %q) = %v", c.auth, c.from, c.mode, got)
		}
	}
}

func TestDecideRefusesOnlyWhatThePolicySays(t *testing.T) {
	rejectAll := Policy{SPF: "reject", DMARC: "reject", TempError: "defer"}
	markOnly := Policy{SPF: "off", DMARC: "header", TempError: "accept"}
	cases := []struct {
		name   string
		policy Policy
		vd     Verdict
		want   string // enhanced code, "" = accepted
	}{
		{"spf fail refused", rejectAll, Verdict{SPF: spf.Fail}, "5.7.23"},
		{"spf fail marked", markOnly, Verdict{SPF: spf.Fail}, ""},
		{"spf softfail accepted", rejectAll, Verdict{SPF: spf.SoftFail}, ""},
		{"dmarc reject refused", rejectAll, Verdict{SPF: spf.Pass, DMARC: authres.ResultFail, DMARCPolicy: dmarc.PolicyReject}, "5.7.1"},
		{"dmarc quarantine accepted", rejectAll, Verdict{DMARC: authres.ResultFail, DMARCPolicy: dmarc.PolicyQuarantine}, ""},
		{"dmarc reject marked", markOnly, Verdict{DMARC: authres.ResultFail, DMARCPolicy: dmarc.PolicyReject}, ""},
		{"spf temperror deferred", rejectAll, Verdict{SPF: spf.TempError}, "4.4.3"},
		{"dkim temperror deferred", rejectAll, Verdict{SPF: spf.Pass, DKIM: []DKIMResult{{Value: authres.ResultTempError}}}, "4.4.3"},
		{"temperror accepted", markOnly, Verdict{SPF: spf.TempError, DMARC: authres.ResultTempError}, ""},
		{"refusal before temperror", rejectAll, Verdict{SPF: spf.Fail, DMARC: authres.ResultTempError}, "5.7.23"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := (&Verifier{Policy: c.policy}).decide(&c.vd)
			got := ""
			if r != nil {
				got = fmt.Sprintf("%d.%d.%d", r.Enhanced[0], r.Enhanced[1], r.Enhanced[2])
			}
			if got != c.want {
				t.Errorf("decide = %q, want %q", got, c.want)
			}
		})
	}
}

func writeKey(t *testing.T, pemKey []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(p, pemKey, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOurSignatureVerifiesAndAnyChangeBreaksIt(t *testing.T) {
	for _, alg := range []string{RSA, Ed25519} {
		t.Run(alg, func(t *testing.T) {
			pemKey, err := GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			s, err := LoadSigner([]config.DKIMKey{{Domain: "example.org", Selector: "s1", File: writeKey(t, pemKey, 0o600)}})
			if err != nil {
				t.Fatal(err)
			}
			key, _ := ParseKey(pemKey)
			record, err := TXTRecord(key)
			if err != nil {
				t.Fatal(err)
			}
			lookup := func(name string) ([]string, error) {
				if name != "s1._domainkey.example.org" {
					t.Errorf("looked up %s", name)
				}
				return []string{record}, nil
			}
			for _, eol := range []string{"\r\n", "\n"} {
				msg := strings.ReplaceAll("From: A <a@Example.ORG>\nTo: b@example.net\nSubject: hi\n\nbody\n", "\n", eol)
				sig, domain, err := s.Sign([]byte(msg))
				if err != nil || domain != "example.org" {
					t.Fatalf("Sign: %q %v", domain, err)
				}
				if !bytes.HasSuffix(sig, []byte(eol)) || (eol == "\n" && bytes.Contains(sig, []byte("\r"))) {
					t.Errorf("signature line endings differ from the message's: %q", sig)
				}
				for change, want := range map[string]bool{"": true, "body": false, "Subject: hi": false} {
					signed := string(sig) + msg
					if change != "" {
						signed = strings.Replace(signed, change, change+"!", 1)
					}
					v, err := dkim.VerifyWithOptions(strings.NewReader(signed), &dkim.VerifyOptions{LookupTXT: lookup})
					if err != nil || len(v) != 1 {
						t.Fatalf("verify: %v %v", v, err)
					}
					if (v[0].Err == nil) != want {
						t.Errorf("change %q: verification error %v", change, v[0].Err)
					}
				}
				// Oversigning: a second Subject added after signing fails.
				added := string(sig) + "Subject: other\r\n" + msg
				if v, _ := dkim.VerifyWithOptions(strings.NewReader(added), &dkim.VerifyOptions{LookupTXT: lookup}); len(v) != 1 || v[0].Err == nil {
					t.Errorf("an added Subject still verifies")
				}
			}
		})
	}
}

func TestSignLeavesOtherDomainsUnsigned(t *testing.T) {
	pemKey, _ := GenerateKey(Ed25519)
	s, err := LoadSigner([]config.DKIMKey{{Domain: "example.org", Selector: "s1", File: writeKey(t, pemKey, 0o400)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, from := range []string{"a@example.net", "a@sub.example.org", "a@example.org, b@example.net", "no address"} {
		if sig, d, err := s.Sign([]byte("From: " + from + "\n\nx\n")); sig != nil || d != "" || err != nil {
			t.Errorf("From: %s signed for %q (%v)", from, d, err)
		}
	}
}

func TestKeysAreRefusedUnlessPrivateAndStrong(t *testing.T) {
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)})
	good, _ := GenerateKey(Ed25519)
	cases := []struct {
		name string
		data []byte
		mode os.FileMode
		want string
	}{
		{"group-readable", good, 0o640, "refused, a private key must be owned by root and mode 0600"},
		{"world-readable", good, 0o604, "mode 0604"},
		{"RSA 1024", smallPEM, 0o600, "RSA key of 1024 bits: refused"},
		{"not PEM", []byte("hello"), 0o600, "no PEM block"},
		{"a certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), 0o600, "want PRIVATE KEY"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadKey(writeKey(t, c.data, c.mode))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("ReadKey: %v, want %q", err, c.want)
			}
		})
	}
}

func TestKeyRecordMakesAKeyOnceAndPrintsItsRecord(t *testing.T) {
	file := filepath.Join(t.TempDir(), "k.pem")
	keys := []config.DKIMKey{{Domain: "example.org", Selector: "s1", File: file}}
	line, made, err := KeyRecord(keys, "Example.org.", RSA)
	if err != nil || !made {
		t.Fatalf("KeyRecord: %v %v", made, err)
	}
	if !strings.HasPrefix(line, "s1._domainkey.example.org.\tIN\tTXT\t( \"v=DKIM1; k=rsa; p=") {
		t.Errorf("line %q", line)
	}
	for _, q := range strings.Split(line, "\"")[1:] {
		if len(q) > 255 {
			t.Errorf("a string of %d octets", len(q))
		}
	}
	again, made, err := KeyRecord(keys, "example.org", Ed25519)
	if err != nil || made || again != line {
		t.Errorf("second KeyRecord made a key or changed: %v %v", made, err)
	}
	if _, _, err := KeyRecord(keys, "example.net", RSA); err == nil || !strings.Contains(err.Error(), "no entry for example.net") {
		t.Errorf("unknown domain: %v", err)
	}
	if _, _, err := KeyRecord([]config.DKIMKey{{Domain: "x.org", Selector: "s", File: file + "2"}}, "x.org", "dsa"); err == nil {
		t.Error("dsa made a key")
	}
}

func TestHeaderAndLogNoteCarryEveryVerdict(t *testing.T) {
	vd := &Verdict{SPF: spf.Pass, SPFDomain: "example.net",
		DKIM:  []DKIMResult{{Value: authres.ResultFail, Domain: "example.org", Reason: "body hash did not verify"}},
		DMARC: authres.ResultFail, DMARCPolicy: dmarc.PolicyQuarantine, From: "example.org"}
	want := "Authentication-Results: mx.example.org;\r\n\tspf=pass smtp.mailfrom=example.net;\r\n" +
		"\tdkim=fail reason=\"body hash did not verify\" header.d=example.org;\r\n" +
		"\tdmarc=fail reason=\"p=quarantine\" header.from=example.org\r\n"
	if got := vd.Header("mx.example.org", "\r\n"); got != want {
		t.Errorf("Header =\n%q\nwant\n%q", got, want)
	}
	if got := vd.LogNote(); got != "spf=pass, dkim=fail (example.org), dmarc=fail (p=quarantine)" {
		t.Errorf("LogNote = %q", got)
	}
	// The header we write is one our own parser reads back.
	id, results, err := authres.Parse(strings.TrimPrefix(strings.ReplaceAll(want, "\r\n", ""), "Authentication-Results: "))
	if err != nil || id != "mx.example.org" || len(results) != 3 {
		t.Errorf("authres.Parse: %q %v %v", id, results, err)
	}
}

func FuzzStripForged(f *testing.F) {
	f.Add([]byte("Authentication-Results: mx.example.org; none\r\nFrom: a@b\r\n\r\nbody"))
	f.Add([]byte("X: y\n\tcont\nAuthentication-Results: (c) MX.example.org.; spf=pass\n\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		out := StripForged(msg, "mx.example.org")
		fields, _ := splitHeader(out)
		for _, fl := range fields {
			if strings.EqualFold(fl.name(), "Authentication-Results") && strings.EqualFold(AuthServID(fl.value()), "mx.example.org") {
				t.Fatalf("a forged field survived: %q", fl)
			}
		}
		if len(out) > len(msg) {
			t.Fatalf("grew")
		}
		if again := StripForged(out, "mx.example.org"); !bytes.Equal(again, out) {
			t.Fatalf("not idempotent")
		}
	})
}
