package mailx

import "testing"

func TestShowauthShowsOnlyOurOwnVerdictInShort(t *testing.T) {
	ours := "Authentication-Results: mx.example.org;\n\tspf=fail smtp.mailfrom=example.com;\n\tdkim=pass header.d=x.org;\n\tdmarc=fail header.from=example.com\n"
	cases := []struct {
		name, hdr, want string
		set             bool
	}{
		{"ours", ours, "Authentication: spf=fail dkim=pass dmarc=fail (From: example.com)\n", true},
		{"unset", ours, "", false},
		{"forged by another host only", "Authentication-Results: evil.example; dmarc=pass header.from=bank.example\n",
			"Authentication: none (not checked here)\n", true},
		{"the first of ours counts", "Authentication-Results: MX.example.org.; spf=pass\n" + ours, "Authentication: spf=pass\n", true},
		{"unparsable is skipped", "Authentication-Results: mx.example.org; spf\n", "Authentication: none (not checked here)\n", true},
		{"none", "Authentication-Results: mx.example.org; none\n", "Authentication: none\n", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &Session{vars: map[string]string{}, o: Options{Hostname: "mx.example.org"}}
			if c.set {
				s.vars["showauth"] = ""
			}
			hdr := "From a@b Thu Dec  3 10:00:00 2026\n" + c.hdr + "Subject: x\n\n"
			if got := s.authLine([]byte(hdr)); got != c.want {
				t.Errorf("authLine = %q, want %q", got, c.want)
			}
		})
	}
}
