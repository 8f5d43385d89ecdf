package smtpout

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseRelayhost(t *testing.T) {
	for _, tc := range []struct {
		in    string
		want  relayhost
		isErr bool
	}{
		{"smart.example", relayhost{"smart.example", 0, true}, false},
		{"smart.example:587", relayhost{"smart.example", 587, true}, false},
		{"[smart.example]", relayhost{"smart.example", 0, false}, false},
		{"[192.0.2.1]:2525", relayhost{"192.0.2.1", 2525, false}, false},
		{"[2001:db8::1]:25", relayhost{"2001:db8::1", 25, false}, false},
		{"[192.0.2.1", relayhost{}, true},
		{"[192.0.2.1]x", relayhost{}, true},
		{"[192.0.2.1]:", relayhost{}, true},
		{"host:", relayhost{}, true},
		{"host:99999", relayhost{}, true},
		{":25", relayhost{}, true},
		{"2001:db8::1", relayhost{}, true},
	} {
		got, err := parseRelayhost(tc.in)
		if (err != nil) != tc.isErr || (!tc.isErr && got != tc.want) {
			t.Errorf("parseRelayhost(%q) = %+v, %v", tc.in, got, err)
		}
	}
}

func FuzzParseRelayhost(f *testing.F) {
	for _, s := range []string{"smart.example:587", "[192.0.2.1]:2525", "[x", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseRelayhost(s)
		if err != nil {
			return
		}
		if r.host == "" || r.port < 0 || r.port > 65535 || strings.ContainsAny(r.host, "[] \t") {
			t.Fatalf("parseRelayhost(%q) = %+v", s, r)
		}
	})
}

func TestCopyLinesSendsCRLFAndNeutralisesStrayCR(t *testing.T) {
	for _, tc := range []struct{ in, out string }{
		{"a\nb\n", "a\r\nb\r\n"},
		{"a\r\nb", "a\r\nb\r\n"},
		{"a\rb\r\n.\r\n", "a b\r\n.\r\n"},
		{"\r\n.\r\r\n", "\r\n. \r\n"},
		{"", ""},
	} {
		var b bytes.Buffer
		s, err := copyLines(&b, strings.NewReader(tc.in))
		if err != nil || b.String() != tc.out || s.size != int64(len(tc.out)) {
			t.Errorf("copyLines(%q) = %q, %+v, %v; want %q", tc.in, b.String(), s, err, tc.out)
		}
	}
	s, _ := copyLines(&bytes.Buffer{}, strings.NewReader("Subject: caf\xc3\xa9\n\nbody\n"))
	if !s.eightBit || !s.eightHeader {
		t.Errorf("8-bit header not seen: %+v", s)
	}
}

// FuzzCopyLines: the output is CRLF lines with no other CR or LF, none
// longer than 998 octets, or the copy fails.
func FuzzCopyLines(f *testing.F) {
	for _, s := range []string{"a\nb", "x\r\n.\r\n", "\r\r\n\n", strings.Repeat("z", 999)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var b bytes.Buffer
		s, err := copyLines(&b, bytes.NewReader(in))
		if err != nil {
			return
		}
		out := b.Bytes()
		if int64(len(out)) != s.size || (len(out) > 0 && !bytes.HasSuffix(out, []byte("\r\n"))) {
			t.Fatalf("copyLines(%q) = %q", in, out)
		}
		for _, line := range bytes.Split(bytes.TrimSuffix(out, []byte("\r\n")), []byte("\r\n")) {
			if len(line) > maxLine || bytes.ContainsAny(line, "\r\n") {
				t.Fatalf("copyLines(%q) has line %q", in, line)
			}
		}
	})
}
