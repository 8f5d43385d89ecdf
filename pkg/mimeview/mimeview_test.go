package mimeview

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func render(t *testing.T, msg []byte, o Options) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Render(&buf, bytes.NewReader(msg), o); err != nil {
		t.Fatalf("Render: %v", err)
	}
	return buf.String()
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRenderDecodesMessagesWrittenByRealMailers(t *testing.T) {
	latin1 := []string{
		"From: Jürgen Müller <juergen@example.de>\n",
		"Grüß Gott Anna,\n\nein Brief in ISO-8859-1: ä ö ü Ä Ö Ü ß « » ½ ©.\n",
	}
	for _, tc := range []struct {
		file    string
		want    []string
		notWant []string
	}{
		{"fixture-msg3.eml", []string{
			"From: Jürgen Müller <juergen@example.de>\n",
			"Subject: Schöne Grüße mit Anhang\n",
			"\n\nHallo Bob, schöne Grüße aus München! Ünïcödé: ✓ €\n",
			"\n[-- #2 application/octet-stream 59B data.bin --]\n",
		}, []string{"This is a multi-part message", "AAECAwQF", "\n--=-=fixture"}},
		{"fixture-msg4.eml", []string{
			"Subject: A message with a long folded header line that goes on and on and continues on a second physical line\n",
			"> This is the first fixture message.\n",
		}, nil},
		{"snail-composed-qp.eml", []string{
			"Subject: Grüße aus Köln\n",
			"Umlaute: ä ö ü Ä Ö Ü ß – Euro: € – Emoji: 🙂\n\nFrom here on",
			"[-- #2 application/pdf 502B attachment.pdf --]\n",
		}, []string{"=C3", "=46rom", "JVBER"}},
		{"snail-composed-8bit.eml", []string{"Subject: Grüße aus Köln (8bit)\n", "Emoji: 🙂\n"}, nil},
		{"snail-latin1-qp.eml", append(latin1, "Subject: Grüße aus Köln\n"), []string{"=FC", "\uFFFD"}},
		{"snail-latin1-base64.eml", append(latin1, "Subject: Grüße aus Köln (base64)\n"), []string{"R3L8", "\uFFFD"}},
		{"snail-latin1-8bit.eml", append(latin1, "Subject: Grüße (8bit)\n"), []string{"\uFFFD"}},
		{"py-html-only.eml", []string{
			"From: Zoë Dupont <zoe@example.fr>\n",
			"\n\nCafé news\n\nLine one\nLine two & more <tags>\n\nSee the menu <https://example.fr/menu>.\n\n* Crêpes\n* Galettes\n",
		}, []string{"alert", "color: red", "<p>", "Newsletter", "&amp;"}},
		{"py-alternative.eml", []string{"\n\nPlain text version: café ☕\n"}, []string{"Café news", "<p>", "[--"}},
		{"py-forward.eml", []string{
			"See the forwarded message below.\n\n[-- #2 message/rfc822 ",
			"--]\nFrom: Zoë Dupont <zoe@example.fr>\nTo: Bob Example <bob@example.net>\nSubject: Inner message\n",
			"\n\nInside the forwarded message: naïve.\n\n[-- #2.2 application/octet-stream 8B inner.bin --]\n",
			"[-- #3 application/pdf 13K Bericht für Köln.pdf --]\n",
		}, nil},
		{"py-mixed-related.eml", []string{
			"\n\nPlain alternative.\n\n[-- #2 text/plain 19B notes.txt --]\nnotes, with a name\n",
		}, []string{"HTML with", "image/png"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			out := render(t, readFile(t, tc.file), Options{})
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestRenderShowsOnlyTheFieldsAskedFor(t *testing.T) {
	out := render(t, readFile(t, "fixture-msg3.eml"), Options{ShowHeader: func(f string) bool {
		return strings.EqualFold(f, "subject") || strings.EqualFold(f, "from")
	}})
	want := "From: Jürgen Müller <juergen@example.de>\nSubject: Schöne Grüße mit Anhang\n\nHallo Bob"
	if !strings.HasPrefix(out, want) {
		t.Errorf("output starts %q, want %q", out[:min(len(out), len(want))], want)
	}
}

func TestRenderWithEveryFieldHiddenGivesTheBareBody(t *testing.T) {
	out := render(t, readFile(t, "fixture-msg4.eml"), Options{ShowHeader: func(string) bool { return false }})
	if !strings.HasPrefix(out, "Reply text.\n") {
		t.Errorf("output starts %q, want the body", out[:min(len(out), 20)])
	}
}

func TestRenderRawVerbatimShowsTheSourceUnchanged(t *testing.T) {
	for _, f := range []string{"fixture-msg3.eml", "snail-latin1-8bit.eml"} {
		src := readFile(t, f)
		if out := render(t, src, Options{Raw: true, Verbatim: true}); out != string(src) {
			t.Errorf("%s: Raw output differs from the source", f)
		}
	}
}

func TestRenderFitsLongFileNamesToTheWidth(t *testing.T) {
	msg := "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nhi\n--b\n" +
		"Content-Type: application/pdf\nContent-Disposition: attachment; filename=\"" +
		strings.Repeat("very-long-name-", 10) + "report.pdf\"\n\nx\n--b--\n"
	out := render(t, []byte(msg), Options{Width: 60})
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "[-- #2") {
			if n := len([]rune(line)); n > 60 {
				t.Errorf("part line is %d wide, want <= 60: %q", n, line)
			}
			if !strings.HasSuffix(line, "report.pdf --]") {
				t.Errorf("part line lost the extension: %q", line)
			}
			return
		}
	}
	t.Errorf("no part line in:\n%s", out)
}

func TestRenderShowsBrokenMIMEAndSaysWhatIsWrong(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  string
		want []string
	}{
		{"closing boundary missing",
			"Subject: cut\nContent-Type: multipart/mixed; boundary=XX\n\n--XX\n\nfirst part\n--XX\nContent-Type: text/plain\n\nsecond part, truncated",
			[]string{"first part\n", "second part, truncated\n", `[-- closing boundary "XX" missing, message may be truncated --]`}},
		{"boundary never appears",
			"Content-Type: multipart/mixed; boundary=nope\n\nJust text.\n",
			[]string{`[-- #1: boundary "nope" not found, shown as text --]`, "Just text.\n"}},
		{"no boundary parameter",
			"Content-Type: multipart/mixed\n\nJust text.\n",
			[]string{"[-- #1: multipart without a boundary parameter, shown as text --]", "Just text.\n"}},
		{"bad base64",
			"Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\nSGVsbG8gd29y!!bGQ\n",
			[]string{"[-- #1: bad base64 data, shown as far as it could be decoded --]", "Hello wor"}},
		{"unknown charset",
			"Content-Type: text/plain; charset=x-martian\n\nplain words\n",
			[]string{`[-- #1: unknown charset "x-martian", shown as is --]`, "plain words\n"}},
		{"unknown transfer encoding",
			"Content-Type: text/plain\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 f\n",
			[]string{`[-- #1: unknown transfer encoding "x-uuencode", shown undecoded --]`, "begin 644 f\n"}},
		{"malformed header line",
			"Subject: ok\nthis is not a header\nDate: later\n\nbody\n",
			[]string{"Subject: ok\n\n", `malformed header line "this is not a header", header ends there`, "this is not a header\nDate: later\n"}},
		{"bad encoded word",
			"Subject: =?utf-8?q?broken=ZZ?= and =?x-martian?q?alien?=\n\nbody\n",
			[]string{"Subject: ", "alien", "\n\nbody\n"}},
		{"duplicate parameter",
			"Content-Type: multipart/mixed; boundary=a; boundary=a\n\n--a\n\ninside\n--a--\n",
			[]string{"inside\n"}},
		{"escape sequences",
			"Subject: \x1b]0;owned\x07\n\nred \x1b[31malert\x1b[0m\n",
			[]string{"Subject: ^[]0;owned^G\n", "red ^[[31malert^[[0m\n"}},
		{"undeclared 8-bit text",
			"Subject: caf\xe9\n\ncaf\xe9 cr\xe8me\n",
			[]string{"Subject: café\n", "café crème\n"}},
		{"empty message", "", []string{""}},
		{"header only", "Subject: x", []string{"Subject: x\n\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := render(t, []byte(tc.msg), Options{})
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if _, err := Parts(strings.NewReader(tc.msg)); err != nil {
				t.Errorf("Parts: %v", err)
			}
		})
	}
}

func TestRenderStopsAtAbsurdNesting(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 200; i++ {
		b.WriteString("Content-Type: message/rfc822\n\n")
	}
	b.WriteString("deep\n")
	out := render(t, []byte(b.String()), Options{})
	if !strings.Contains(out, "nested too deeply") {
		t.Errorf("no note about nesting in:\n%s", out)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestRenderReturnsWriteErrors(t *testing.T) {
	for _, raw := range []bool{false, true} {
		err := Render(failingWriter{}, bytes.NewReader(readFile(t, "fixture-msg3.eml")), Options{Raw: raw})
		if err == nil || !strings.Contains(err.Error(), "broken pipe") {
			t.Errorf("Raw=%v: Render = %v, want the write error", raw, err)
		}
	}
}

// pyLeaves numbers the leaf parts the way IMAP does (RFC 3501 6.4.5), from
// python's own MIME tree.
const pyLeaves = `
import email, email.policy, json, sys
def leaves(part, num, prefix):
    if part.get_content_maintype() == 'multipart':
        for i, c in enumerate(part.get_payload(), 1):
            n = '%s.%d' % (prefix, i) if prefix else str(i)
            yield from leaves(c, n, n)
    elif part.get_content_type() == 'message/rfc822':
        yield from leaves(part.get_payload(0), num + '.1', num)
    else:
        yield {'Num': num, 'Type': part.get_content_type(), 'Name': part.get_filename() or '',
               'Size': len(part.get_payload(decode=True) or b'')}
def parse(path):
    return email.message_from_binary_file(open(path, 'rb'), policy=email.policy.default)
json.dump([list(leaves(parse(p), '1', '')) for p in sys.argv[1:]], sys.stdout)
`

func TestPartsAreNumberedAsPythonsTreeSaysIMAPWould(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("python3 not installed")
		}
		t.Fatal("python3 not installed")
	}
	files, _ := filepath.Glob("testdata/*.eml")
	out, err := exec.Command(py, append([]string{"-c", pyLeaves}, files...)...).Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	var wants [][]Part
	if err := json.Unmarshal(out, &wants); err != nil || len(wants) != len(files) {
		t.Fatalf("python output %q: %v", out, err)
	}
	for i, f := range files {
		want := wants[i]
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Parts(bytes.NewReader(src))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Errorf("%s: Parts = %+v\npython: %+v", f, got, want)
			continue
		}
		for j := range want {
			g := Part{Num: got[j].Num, Type: got[j].Type, Name: got[j].Name, Size: got[j].Size}
			if g != want[j] {
				t.Errorf("%s: part %d = %+v, python says %+v", f, j, g, want[j])
			}
		}
	}
}

func TestWritePartGivesTheAttachmentsBytes(t *testing.T) {
	pdf := readFile(t, "attachment.pdf")
	var buf bytes.Buffer
	if err := WritePart(&buf, bytes.NewReader(readFile(t, "snail-composed-qp.eml")), "2"); err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(buf.Bytes()) != sha256.Sum256(pdf) {
		t.Errorf("part 2 is not attachment.pdf (%d bytes, want %d)", buf.Len(), len(pdf))
	}

	buf.Reset()
	if err := WritePart(&buf, bytes.NewReader(readFile(t, "py-forward.eml")), "2"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "Subject: Inner message\n") {
		t.Errorf("part 2 is not the forwarded message:\n%s", buf.String())
	}
	buf.Reset()
	if err := WritePart(&buf, bytes.NewReader(readFile(t, "py-forward.eml")), "2.2"); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "\x00\x01binary" {
		t.Errorf("part 2.2 = %q", buf.String())
	}
}

func TestWritePartRefusesMissingPartsAndReportsDamage(t *testing.T) {
	for _, num := range []string{"", "0", "3", "1.1", "x"} {
		if err := WritePart(&bytes.Buffer{}, bytes.NewReader(readFile(t, "fixture-msg3.eml")), num); err == nil {
			t.Errorf("WritePart(%q) succeeded", num)
		}
	}
	var buf bytes.Buffer
	err := WritePart(&buf, strings.NewReader("Content-Transfer-Encoding: base64\n\nSGVsbG8*\n"), "1")
	if err == nil || buf.String() != "Hello" {
		t.Errorf("WritePart of bad base64 = %q, %v; want \"Hello\" and an error", buf.String(), err)
	}
}

func TestDecodeHeader(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"=?UTF-8?Q?Sch=C3=B6ne_Gr=C3=BC=C3=9Fe?=", "Schöne Grüße"},
		{"=?utf-8?B?R3LDvMOfZQ==?= aus =?utf-8?B?S8O2bG4=?=", "Grüße aus Köln"},
		{"=?iso-8859-1?Q?J=FCrgen?= =?iso-8859-1?Q?_M=FCller?=", "Jürgen Müller"},
		{"=?windows-1252?Q?=80_5?=", "€ 5"},
		{"=?koi8-r?B?8NLJ18XU?=", "Привет"},
		{"=?x-martian?Q?hi?= there", "hi there"},
		{"=?utf-8?q?no_end", "=?utf-8?q?no_end"},
		{"raw caf\xe9", "raw café"},
		{"raw UTF-8 café", "raw UTF-8 café"},
		{"line\r\nbreak\tand tab", "line break and tab"},
		{"=?utf-8?q?evil=0ABcc=3A_x?=", "evil Bcc: x"},
		{"=?utf-8?q?bell=07?=", "bell^G"},
		{"=?utf-8?q?c1=C2=9B?=", "c1\uFFFD"},
	} {
		if got := DecodeHeader(tc.in); got != tc.want {
			t.Errorf("DecodeHeader(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHTMLToText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"<p>a</p><p>b</p>", "a\n\nb\n"},
		{"x<br>y<BR/>z", "x\ny\nz\n"},
		{"  lots   of\n\n  space  ", "lots of space\n"},
		{"<pre>  keep\n   this</pre>", "  keep\n   this\n"},
		{"<SCRIPT>var a = '<p>';</SCRIPT>after", "after\n"},
		{"<style>b{}</style><b>bold</b>", "bold\n"},
		{"<!-- hidden <p> -->shown", "shown\n"},
		{`<a href="https://x.example/?a=1&amp;b=2">link</a>`, "link <https://x.example/?a=1&b=2>\n"},
		{`<a href="mailto:bob@x">bob@x</a>`, "bob@x\n"},
		{`<img alt="a > b" src=x>`, "[a > b]\n"},
		{"5 < 6 and 7 > 3", "5 < 6 and 7 > 3\n"},
		{"&lt;&eacute;&#233;&#xe9;&nbsp;&bogus;", "<ééé &bogus;\n"},
		{"<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\nc\n"},
		{"unclosed <b", "unclosed <b\n"},
		{"<script>never closed", ""},
	} {
		if got := htmlToText(tc.in); got != tc.want {
			t.Errorf("htmlToText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
