package mimeview

import (
	"bytes"
	"strings"
	"testing"
)

func TestSafeWriterNeutralisesEscapesWhateverTheWriteSizes(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"escape sequences", "Subject: \x1b]0;owned\x07hi\n\x1b[2J", "Subject: ^[]0;owned^Ghi\n^[[2J"},
		{"CRLF becomes LF, a lone CR goes", "a\r\nb\rc\n", "a\nb" + "c\n"},
		{"UTF-8 kept, C1 replaced", "caf\xc3\xa9 \xc2\x9b2J \xe2\x82\xac\n", "café \ufffd2J €\n"},
		{"invalid bytes replaced", "Latin-1 \xe9t\xe9\n", "Latin-1 \ufffdt\ufffd\n"},
		{"tabs and DEL", "a\tb\x7f\n", "a\tb^?\n"},
	}
	for _, tt := range tests {
		for _, size := range []int{1, 2, 3, 1 << 10} {
			var out bytes.Buffer
			w := NewSafeWriter(&out)
			for i := 0; i < len(tt.in); i += size {
				if _, err := w.Write([]byte(tt.in[i:min(i+size, len(tt.in))])); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("%s, writes of %d: %q, want %q", tt.name, size, out.String(), tt.want)
			}
		}
	}
}

func TestRenderRawIsSafeUnlessVerbatimIsAsked(t *testing.T) {
	msg := "Subject: x\n\n\x1b[31mred\n"
	for _, tt := range []struct {
		verbatim bool
		want     string
	}{{false, "^[[31mred"}, {true, "\x1b[31mred"}} {
		var out bytes.Buffer
		if err := Render(&out, strings.NewReader(msg), Options{Raw: true, Verbatim: tt.verbatim}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), tt.want) {
			t.Errorf("Verbatim %v: %q lacks %q", tt.verbatim, out.String(), tt.want)
		}
	}
}

func TestAHugeHeaderLineIsShownCut(t *testing.T) {
	msg := "From: a@example.org\nSubject: " + strings.Repeat("x", 10<<20) + "\nX-After: kept\n\nthe body\n"
	var out bytes.Buffer
	if err := Render(&out, strings.NewReader(msg), Options{}); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if len(got) > 2*maxHeaderLine || !strings.Contains(got, "x"+cutMark) || !strings.Contains(got, "the body") || !strings.Contains(got, "X-After: kept") {
		t.Errorf("rendered %d bytes: %.200q", len(got), got)
	}
}

func TestHeaderCutterPassesOrdinaryMessagesUnchanged(t *testing.T) {
	for _, msg := range []string{
		"Subject: a\r\n\r\nbody\r\n" + strings.Repeat("long body line ", 2000) + "\n",
		"A: b\n continued\n\n\n",
		"",
		"no header at all",
	} {
		var out bytes.Buffer
		if _, err := out.ReadFrom(cutHeaderLines(strings.NewReader(msg))); err != nil {
			t.Fatal(err)
		}
		if out.String() != msg {
			t.Errorf("%.40q changed to %.40q", msg, out.String())
		}
	}
}

// FuzzSafeWriter: the output never holds ESC or another C0 control but
// tab and LF, whatever the message and the write sizes, and does not
// depend on the write sizes.
func FuzzSafeWriter(f *testing.F) {
	f.Add([]byte("a\x1b[2J\r\n\xc2\x9b\xe2\x82"), 1)
	f.Add([]byte("caf\xc3\xa9\r"), 4)
	f.Fuzz(func(t *testing.T, in []byte, size int) {
		if size <= 0 || size > len(in) {
			size = 1
		}
		var out bytes.Buffer
		w := NewSafeWriter(&out)
		for i := 0; i < len(in); i += size {
			w.Write(in[i:min(i+size, len(in))])
		}
		w.Close()
		for _, c := range out.Bytes() {
			if c < 0x20 && c != '\t' && c != '\n' || c == 0x7f {
				t.Fatalf("control %#x passed in %q", c, out.Bytes())
			}
		}
		if want := Sanitize(string(in)); out.String() != want {
			t.Fatalf("in writes of %d: %q, at once: %q", size, out.String(), want)
		}
	})
}

// FuzzHeaderCutter: no header line comes out longer than the cut, the
// body is untouched, and a message without long header lines passes as
// it is.
func FuzzHeaderCutter(f *testing.F) {
	f.Add("Subject: x\r\n\r\nbody", 100)
	f.Add("A: b\n\n", 1)
	f.Fuzz(func(t *testing.T, msg string, long int) {
		if long > 0 && long < 1<<16 {
			msg = "X: " + strings.Repeat("y", long) + "\n" + msg
		}
		var out bytes.Buffer
		if _, err := out.ReadFrom(cutHeaderLines(strings.NewReader(msg))); err != nil {
			t.Fatal(err)
		}
		header, body, hasBody := strings.Cut(msg, "\n\n")
		if !hasBody && strings.Contains(msg, "\n\r\n") {
			return // a CRLF message: checked line by line below
		}
		for _, line := range strings.Split(out.String(), "\n") {
			if strings.TrimRight(line, "\r") == "" {
				break
			}
			if n := len(strings.ReplaceAll(line, "\r", "")); n > maxHeaderLine+len(cutMark) {
				t.Fatalf("a header line of %d bytes came out", n)
			}
		}
		if hasBody && !strings.HasSuffix(out.String(), "\n\n"+body) {
			t.Fatalf("the body changed")
		}
		if !strings.Contains(out.String(), cutMark) && out.String() != msg {
			t.Fatalf("%.60q changed without a cut (header %d bytes)", msg, len(header))
		}
	})
}
