package compose

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// pyParse has python3's email package (policy.default, the modern strict
// parser) read a message file and report what a receiving MUA would see.
const pyParse = `
import email, email.policy, hashlib, json, sys
def view(path):
    msg = email.message_from_binary_file(open(path, 'rb'), policy=email.policy.default)
    out = {'defects': [str(d) for d in msg.defects], 'headers': {}, 'parts': []}
    for k in ('Subject', 'From', 'To', 'Cc', 'Bcc', 'Date', 'Message-ID', 'MIME-Version', 'In-Reply-To'):
        if msg[k] is not None:
            out['headers'][k] = str(msg[k])
    for part in msg.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        p = {'type': part.get_content_type(), 'cte': str(part.get('Content-Transfer-Encoding', '')),
             'charset': part.get_content_charset(), 'filename': part.get_filename(),
             'disposition': part.get_content_disposition(), 'sha256': hashlib.sha256(payload).hexdigest(),
             'defects': [str(d) for d in part.defects]}
        if part.get_content_maintype() == 'text':
            p['text'] = part.get_content()
        out['parts'].append(p)
    return out
json.dump([view(p) for p in sys.argv[1:]], sys.stdout)
`

type pyPart struct {
	Type        string   `json:"type"`
	CTE         string   `json:"cte"`
	Charset     string   `json:"charset"`
	Filename    string   `json:"filename"`
	Disposition string   `json:"disposition"`
	SHA256      string   `json:"sha256"`
	Text        string   `json:"text"`
	Defects     []string `json:"defects"`
}

type pyMessage struct {
	Defects []string          `json:"defects"`
	Headers map[string]string `json:"headers"`
	Parts   []pyPart          `json:"parts"`
}

func python(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("python3 not installed")
		}
		t.Fatal("python3 not installed")
	}
	return p
}

// parseWithPython builds each message and returns python's view of them
// (one python run for all: it is slow to start) and the built bytes.
func parseWithPython(t *testing.T, msgs ...*Message) ([]pyMessage, [][]byte) {
	t.Helper()
	py := python(t)
	dir := t.TempDir()
	args := []string{"-c", pyParse}
	var raws [][]byte
	for i, m := range msgs {
		var buf bytes.Buffer
		if err := Build(&buf, m); err != nil {
			t.Fatalf("Build: %v", err)
		}
		f := filepath.Join(dir, fmt.Sprintf("msg%d.eml", i))
		if err := os.WriteFile(f, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, f)
		raws = append(raws, buf.Bytes())
	}
	out, err := exec.Command(py, args...).Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	var pms []pyMessage
	if err := json.Unmarshal(out, &pms); err != nil || len(pms) != len(msgs) {
		t.Fatalf("python output %q: %v", out, err)
	}
	for i, pm := range pms {
		if len(pm.Defects) > 0 {
			t.Errorf("python found defects %v in\n%s", pm.Defects, raws[i])
		}
		for _, p := range pm.Parts {
			if len(p.Defects) > 0 {
				t.Errorf("python found defects %v in part %s of\n%s", p.Defects, p.Type, raws[i])
			}
		}
	}
	return pms, raws
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestBuildWithAttachmentsIsReadExactlyByPythonEmail(t *testing.T) {
	pdf, err := os.ReadFile("testdata/attachment.pdf")
	if err != nil {
		t.Fatal(err)
	}
	// A second copy under a non-ASCII name, which needs RFC 2231.
	umlautPDF := filepath.Join(t.TempDir(), "Bericht für Köln.pdf")
	if err := os.WriteFile(umlautPDF, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	body := "Hallo Anna,\n\nviele Grüße aus Köln! € 🙂\nFrom here on a line starts with From.\n"
	m := &Message{
		From:        "Jürgen Müller <juergen@example.de>",
		To:          []string{"Anna Beispiel <anna@example.de>", "bob@example.net"},
		Cc:          []string{`"Müller, Erika" <erika@example.de>`},
		Subject:     "Grüße aus Köln",
		Headers:     [][2]string{{"In-Reply-To", "<abc@example.net>"}},
		Body:        []byte(body),
		Attachments: []string{"testdata/attachment.pdf", umlautPDF},
		Hostname:    "example.net",
	}
	pms, raws := parseWithPython(t, m)
	pm, raw := pms[0], raws[0]

	for k, want := range map[string]string{
		"Subject":      "Grüße aus Köln",
		"From":         "Jürgen Müller <juergen@example.de>",
		"To":           "Anna Beispiel <anna@example.de>, bob@example.net",
		"Cc":           `"Müller, Erika" <erika@example.de>`,
		"MIME-Version": "1.0",
		"In-Reply-To":  "<abc@example.net>",
	} {
		if got := pm.Headers[k]; got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if !strings.HasSuffix(pm.Headers["Message-ID"], "@example.net>") {
		t.Errorf("Message-ID = %q, want <...@example.net>", pm.Headers["Message-ID"])
	}
	if len(pm.Parts) != 3 {
		t.Fatalf("python sees %d parts, want 3:\n%s", len(pm.Parts), raw)
	}
	text := pm.Parts[0]
	if text.Type != "text/plain" || text.Charset != "utf-8" || text.Text != body {
		t.Errorf("text part = %+v, want text/plain utf-8 %q", text, body)
	}
	for i, name := range []string{"attachment.pdf", "Bericht für Köln.pdf"} {
		p := pm.Parts[i+1]
		if p.Type != "application/pdf" || p.Filename != name || p.Disposition != "attachment" || p.CTE != "base64" {
			t.Errorf("attachment %d = %+v, want application/pdf %q attachment base64", i+1, p, name)
		}
		if p.SHA256 != sha(pdf) {
			t.Errorf("attachment %d decodes to sha256 %s, want %s", i+1, p.SHA256, sha(pdf))
		}
	}
}

func TestBuildPicksTheLightestBodyEncodingThatIsSafe(t *testing.T) {
	long := strings.Repeat("x", 1200)
	cases := []struct {
		name, body, charset, cte string
		input                    string   // the locale's charset
		send                     []string // sendcharsets
		text                     string   // what it reads as, when not body
	}{
		{name: "plain ASCII", body: "Hello Bob.\nSee you.\n", charset: "us-ascii", cte: "7bit"},
		{name: "ASCII with a 998-octet line", body: strings.Repeat("y", 998) + "\n", charset: "us-ascii", cte: "7bit"},
		{name: "UTF-8", body: "Grüße\n", charset: "utf-8", cte: "quoted-printable"},
		{name: "a line over 998 octets", body: "short\n" + long + "\n", charset: "us-ascii", cte: "quoted-printable"},
		{name: "a NUL byte", body: "nul\x00here\n", charset: "us-ascii", cte: "quoted-printable"},
		{name: "a bare CR", body: "over\rwrite\n", charset: "us-ascii", cte: "quoted-printable"},
		{name: "Latin-1 typed in a Latin-1 locale goes out as UTF-8", body: "Gr\xfc\xdfe\n", input: "ISO-8859-1",
			charset: "utf-8", cte: "quoted-printable", text: "Grüße\n"},
		{name: "Latin-1 typed in a Latin-1 locale, sendcharsets=iso-8859-1", body: "Gr\xfc\xdfe\n", input: "ISO-8859-1",
			send: []string{"iso-8859-1"}, charset: "iso-8859-1", cte: "quoted-printable", text: "Grüße\n"},
		{name: "Latin-1 bytes in a UTF-8 locale take the 8-bit charset of sendcharsets", body: "Gr\xfc\xdfe\n", input: "UTF-8",
			send: []string{"utf-8", "iso-8859-1"}, charset: "iso-8859-1", cte: "quoted-printable", text: "Grüße\n"},
		{name: "UTF-8 goes out in the first of sendcharsets that holds it", body: "5 €\n",
			send: []string{"iso-8859-1", "iso-8859-15"}, charset: "iso-8859-15", cte: "quoted-printable"},
		{name: "UTF-8 that no charset of sendcharsets holds goes out as UTF-8", body: "Ω\n",
			send: []string{"iso-8859-1"}, charset: "utf-8", cte: "quoted-printable"},
	}
	var msgs []*Message
	for _, tc := range cases {
		msgs = append(msgs, &Message{To: []string{"bob@example.net"}, Subject: "s", Body: []byte(tc.body), Hostname: "h.example",
			InputCharset: tc.input, SendCharsets: tc.send})
	}
	pms, raws := parseWithPython(t, msgs...)
	for i, tc := range cases {
		p := pms[i].Parts[0]
		if p.Charset != tc.charset || p.CTE != tc.cte {
			t.Errorf("%s: charset %q, encoding %q; want %q, %q", tc.name, p.Charset, p.CTE, tc.charset, tc.cte)
		}
		want := tc.text
		if want == "" {
			want = strings.ReplaceAll(tc.body, "\r", "\n") // QP has no bare CR: it becomes a line end
		}
		if p.Text != want {
			t.Errorf("%s: python decodes the body to %q, want %q", tc.name, p.Text, want)
		}
		for _, line := range bytes.Split(raws[i], []byte("\n")) {
			if len(line) > maxLine {
				t.Errorf("%s: output has a %d-octet line", tc.name, len(line))
			}
		}
	}
}

func TestBuildRefusesHeaderInjection(t *testing.T) {
	for _, tc := range []struct {
		field string
		m     Message
	}{
		{"Subject", Message{Subject: "hi\nBcc: victim@example.com"}},
		{"Subject", Message{Subject: "hi\rBcc: victim@example.com"}},
		{"From", Message{From: "me@example.com\nBcc: victim@example.com"}},
		{"To", Message{To: []string{"ok@example.com", "bob@example.com\r\nBcc: victim@example.com"}}},
		{"Cc", Message{Cc: []string{"a@example.com\n"}}},
		{"Bcc", Message{Bcc: []string{"a@example.com\nX: y"}}},
		{"References", Message{Headers: [][2]string{{"References", "<a@b>\n\nbody"}}}},
		{"header field name", Message{Headers: [][2]string{{"X-Evil\nBcc", "v@example.com"}}}},
		{"header field name", Message{Headers: [][2]string{{"Bad:Name", "v"}}}},
		{"Message-ID", Message{Hostname: "host\nBcc: victim@example.com"}},
	} {
		t.Run(tc.field, func(t *testing.T) {
			var buf bytes.Buffer
			err := Build(&buf, &tc.m)
			if !errors.Is(err, ErrHeaderInjection) {
				t.Fatalf("Build = %v, want ErrHeaderInjection", err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q does not name the field %s", err, tc.field)
			}
			if buf.Len() != 0 {
				t.Errorf("Build wrote %d bytes before refusing", buf.Len())
			}
		})
	}
}

func TestBuildWritesHeaderInOrderWithLFLineEnds(t *testing.T) {
	var buf bytes.Buffer
	date := time.Date(2026, 11, 25, 17, 12, 0, 0, time.UTC)
	err := Build(&buf, &Message{
		From: "alice@example.org", To: []string{"bob"}, Cc: []string{"Carol <carol>"},
		Bcc: []string{"dave@example.org"}, Subject: "plain", Body: []byte("text"),
		Hostname: "example.org", Date: date,
	})
	if err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "\r") {
		t.Errorf("output has CR:\n%q", out)
	}
	var names []string
	hdr, body, _ := strings.Cut(out, "\n\n")
	for _, line := range strings.Split(hdr, "\n") {
		name, _, _ := strings.Cut(line, ":")
		names = append(names, strings.ToLower(name))
	}
	want := "date message-id from to cc bcc subject mime-version content-type content-transfer-encoding"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("header fields %q, want %q", got, want)
	}
	for _, line := range []string{
		"Date: Wed, 25 Nov 2026 17:12:00 +0000", "To: bob", `Cc: "Carol" <carol>`,
		"Bcc: dave@example.org", "Content-Type: text/plain; charset=us-ascii",
	} {
		if !strings.Contains(hdr, line+"\n") && !strings.HasSuffix(hdr, line) {
			t.Errorf("header lacks %q:\n%s", line, hdr)
		}
	}
	if body != "text\n" {
		t.Errorf("body %q, want %q", body, "text\n")
	}
}

func TestBuildFailsBeforeWritingWhenAnAttachmentIsMissing(t *testing.T) {
	var buf bytes.Buffer
	missing := filepath.Join(t.TempDir(), "nope.pdf")
	err := Build(&buf, &Message{To: []string{"bob"}, Attachments: []string{missing}})
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Build = %v, want an error naming %s", err, missing)
	}
	if buf.Len() != 0 {
		t.Errorf("Build wrote %d bytes", buf.Len())
	}
}

func TestGuessTypeUsesExtensionThenContent(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"report.pdf", "%PDF-1.4", "application/pdf"},
		{"notes.txt", "plain", "text/plain; charset=us-ascii"},
		{"notes.txt", "grüße", "text/plain; charset=utf-8"},
		{"notes.txt", "gr\xfc\xdfe", "text/plain"},
		{"noext", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"},
		{"noext", "\x00\x01\x02binary", "application/octet-stream"},
	} {
		if got := guessType(tc.name, []byte(tc.data)); got != tc.want {
			t.Errorf("guessType(%q, %q) = %q, want %q", tc.name, tc.data, got, tc.want)
		}
	}
}

// failWriter fails every write after the first n bytes.
type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		return 0, errors.New("disk full")
	}
	f.n -= len(p)
	return len(p), nil
}

func TestBuildReportsWriteErrors(t *testing.T) {
	err := Build(&failWriter{n: 10}, &Message{To: []string{"bob"}, Body: []byte("x"), Attachments: []string{"testdata/attachment.pdf"}})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Build = %v, want the write error", err)
	}
}

func TestLFWriterJoinsCRLFSplitAcrossWrites(t *testing.T) {
	var buf bytes.Buffer
	l := &lfWriter{w: &buf}
	for _, s := range []string{"a\r", "\nb\r", "", "c\r\n", "\r"} {
		if _, err := l.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), "a\nb\rc\n\r"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLongSubjectsAreFoldedIntoShortEncodedWordsThatPythonDecodes(t *testing.T) {
	subjects := []string{
		strings.Repeat("Grüße aus Köln, ", 13) + "Ende",                            // 209 characters
		strings.Repeat("日本語のメール", 12),                                              // three octets a character
		"x" + strings.Repeat("é", 40) + " " + strings.Repeat("a_b=c?d ", 10) + "€", // specials and spaces
	}
	var msgs []*Message
	for _, s := range subjects {
		msgs = append(msgs, &Message{To: []string{"bob@example.net"}, Subject: s, Body: []byte("x\n"), Hostname: "h.example"})
	}
	pms, raws := parseWithPython(t, msgs...)
	for i, s := range subjects {
		if got := pms[i].Headers["Subject"]; got != s {
			t.Errorf("python decodes the subject to %q, want %q", got, s)
		}
		head, _, _ := strings.Cut(string(raws[i]), "\n\n")
		for _, line := range strings.Split(head, "\n") {
			if len(line) >= 78 {
				t.Errorf("a header line of %d octets: %q", len(line), line)
			}
			for _, w := range regexp.MustCompile(`=\?[^ ]*\?=`).FindAllString(line, -1) {
				if len(w) > 75 {
					t.Errorf("an encoded word of %d octets: %q", len(w), w)
				}
			}
		}
	}
}

func TestTextInNoKnownCharsetIsRefusedNeverLabelledUTF8(t *testing.T) {
	var out bytes.Buffer
	err := Build(&out, &Message{To: []string{"bob@example.net"}, Subject: "s", Body: []byte("Gr\xfc\xdfe\n"), Hostname: "h.example"})
	if !errors.Is(err, ErrCharset) || !strings.Contains(err.Error(), "sendcharsets") || out.Len() != 0 {
		t.Fatalf("Latin-1 bytes in a UTF-8 locale: %v, wrote %d bytes", err, out.Len())
	}
	err = Build(&out, &Message{To: []string{"bob@example.net"}, Subject: "Gr\xfc\xdfe", Body: []byte("x\n"), Hostname: "h.example"})
	if !errors.Is(err, ErrCharset) || out.Len() != 0 {
		t.Fatalf("a Latin-1 subject in a UTF-8 locale: %v, wrote %d bytes", err, out.Len())
	}
}
