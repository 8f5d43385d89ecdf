// Package compose builds the messages mail(1) sends: an RFC 5322 header
// with Date and Message-ID, RFC 2047 encoded words for non-ASCII subjects
// and display names, a MIME (RFC 2045, 2046) text body that is 7bit when it
// can be and quoted-printable when it must, and file attachments in
// multipart/mixed with RFC 2183 dispositions and RFC 2231 file names.
//
// Output has LF line ends, the form `sendmail -t -i` reads from a pipe.
package compose

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// ErrHeaderInjection is returned, wrapped with the field's name, when a
// value would add header lines of its own (a CR or LF in it).
var ErrHeaderInjection = errors.New("header injection")

// Message is what the user gave mail to send.
type Message struct {
	From        string      // "Name <addr>" or addr; "" leaves it to sendmail
	To, Cc, Bcc []string    // addresses as typed, one per element, display names allowed
	Subject     string      // in InputCharset
	Headers     [][2]string // extra fields (In-Reply-To, References, ...), in order
	Body        []byte      // the text as typed, in InputCharset, LF line ends
	Attachments []string    // file paths
	Hostname    string      // right side of the Message-ID; "" = this host's name
	Date        time.Time   // zero = now
	// InputCharset is the charset Subject and Body are typed in: the
	// locale's; "" is UTF-8.
	InputCharset string
	// SendCharsets are the charsets the text may go out in, tried in
	// order (mail's sendcharsets, as s-nail's); UTF-8 when none fits.
	SendCharsets []string
}

// maxLine is RFC 5322 2.1.1's limit on a line, without its line end.
const maxLine = 998

// Build writes m as a complete message to w. Bcc is kept: `sendmail -t`
// removes it. Nothing is written when a field is refused or an attachment
// cannot be read.
func Build(w io.Writer, m *Message) error {
	fields, err := headerFields(m)
	if err != nil {
		return err
	}
	atts := make([]attachment, 0, len(m.Attachments))
	for _, p := range m.Attachments {
		a, err := readAttachment(p)
		if err != nil {
			return err
		}
		atts = append(atts, a)
	}
	body, charset := normalizeBody(m.Body), "us-ascii"
	if !isASCII(string(body)) {
		if body, charset, err = textCharset(body, m.InputCharset, m.SendCharsets); err != nil {
			return err
		}
	}
	cte := transferEncoding(body)
	textType := mime.FormatMediaType("text/plain", map[string]string{"charset": charset})

	lw := &lfWriter{w: w}
	if len(atts) == 0 {
		fields = append(fields, [2]string{"Content-Type", textType}, [2]string{"Content-Transfer-Encoding", cte})
		err = writeSingle(lw, fields, cte, body)
	} else {
		if charset != "us-ascii" && charset != "utf-8" {
			// go-message writes parts in UTF-8 only: the text goes
			// as that, converted, and labelled so.
			if body, err = toUTF8(body, charset); err != nil {
				return err
			}
			textType = mime.FormatMediaType("text/plain", map[string]string{"charset": "utf-8"})
		}
		err = writeMixed(lw, fields, [2]string{textType, cte}, body, atts)
	}
	if err == nil {
		err = lw.flush()
	}
	if err != nil {
		return fmt.Errorf("write message: %w", err)
	}
	return nil
}

// headerFields checks and formats the message's header, in the order it is
// written.
func headerFields(m *Message) ([][2]string, error) {
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	host := m.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	if host == "" {
		host = "localhost"
	}
	if err := checkValue("Message-ID", host); err != nil {
		return nil, err
	}
	if strings.ContainsAny(host, " \t<>@\"()[]\\,;:") {
		return nil, fmt.Errorf("hostname %q cannot be used in a Message-ID", host)
	}
	var mh mail.Header
	if err := mh.GenerateMessageIDWithHostname(host); err != nil {
		return nil, fmt.Errorf("make Message-ID: %w", err)
	}
	fields := [][2]string{
		{"Date", date.Format(time.RFC1123Z)},
		{"Message-ID", mh.Get("Message-Id")},
	}
	if m.From != "" {
		from, err := formatAddresses("From", []string{m.From})
		if err != nil {
			return nil, err
		}
		fields = append(fields, [2]string{"From", from})
	}
	for _, f := range []struct {
		name  string
		addrs []string
	}{{"To", m.To}, {"Cc", m.Cc}, {"Bcc", m.Bcc}} {
		v, err := formatAddresses(f.name, f.addrs)
		if err != nil {
			return nil, err
		}
		if v != "" {
			fields = append(fields, [2]string{f.name, v})
		}
	}
	if err := checkValue("Subject", m.Subject); err != nil {
		return nil, err
	}
	if m.Subject != "" {
		subject, ok, err := decodeText([]byte(m.Subject), m.InputCharset)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("Subject: %w: it is not valid in the locale's charset", ErrCharset)
		}
		if !isASCII(subject) {
			subject = encodeWords("Subject", subject)
		}
		fields = append(fields, [2]string{"Subject", subject})
	}
	for _, f := range m.Headers {
		if !isFieldName(f[0]) {
			return nil, fmt.Errorf("header field name %q: %w", f[0], ErrHeaderInjection)
		}
		if err := checkValue(f[0], f[1]); err != nil {
			return nil, err
		}
		v := f[1]
		if !isASCII(v) {
			v = encodeWords(f[0], v)
		}
		fields = append(fields, [2]string{f[0], v})
	}
	return append(fields, [2]string{"MIME-Version", "1.0"}), nil
}

// checkValue refuses a value with a line break (or NUL, which ends C
// strings in other programs' header handling) in it.
func checkValue(field, v string) error {
	if strings.ContainsAny(v, "\r\n\x00") {
		return fmt.Errorf("%s: %w: value contains a line break", field, ErrHeaderInjection)
	}
	return nil
}

// isFieldName: printable ASCII but colon (RFC 5322 2.2).
func isFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 || s[i] == ':' {
			return false
		}
	}
	return true
}

// formatAddresses joins the addresses of one field, each with its display
// name encoded (RFC 2047 5(3)) when it is not plain ASCII.
func formatAddresses(field string, addrs []string) (string, error) {
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		if err := checkValue(field, a); err != nil {
			return "", err
		}
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, formatAddress(a))
		}
	}
	return strings.Join(out, ", "), nil
}

// formatAddress writes one address as typed in RFC 5322 form. Local names
// without a domain ("bob", "Bob <bob>") are valid for sendmail, which
// qualifies them, though net/mail rejects them; they are kept as typed.
func formatAddress(a string) string {
	if p, err := mail.ParseAddress(a); err == nil {
		if p.Name == "" {
			return p.Address
		}
		return p.String()
	}
	i := strings.LastIndexByte(a, '<')
	if i < 0 || !strings.HasSuffix(a, ">") {
		return a
	}
	name := strings.Trim(strings.TrimSpace(a[:i]), `"`)
	addr := strings.TrimSpace(a[i+1 : len(a)-1])
	if name == "" {
		return addr
	}
	// net/mail formats the name; the address is kept as typed.
	n := (&mail.Address{Name: name, Address: "x@x"}).String()
	return strings.TrimSuffix(n, "<x@x>") + "<" + addr + ">"
}

// normalizeBody gives the body LF line ends and a final line end.
func normalizeBody(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	return b
}

// transferEncoding picks the text part's transfer encoding: 7bit when the
// text allows it, otherwise quoted-printable, needed for 8-bit bytes,
// lines over 998 octets, NUL and bare CR (RFC 2045 2.7), none of which
// survive every transport.
func transferEncoding(b []byte) string {
	lineLen := 0
	for _, c := range b {
		switch {
		case c == '\n':
			lineLen = 0
			continue
		case c >= 0x80, c == 0, c == '\r':
			return "quoted-printable"
		}
		if lineLen++; lineLen > maxLine {
			return "quoted-printable"
		}
	}
	return "7bit"
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

type attachment struct {
	name string
	typ  string
	data []byte
}

// readAttachment reads a file to attach and guesses its type from the
// extension, else from its content.
func readAttachment(path string) (attachment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return attachment{}, fmt.Errorf("attach %s: %w", path, err)
	}
	name := safeFileName(filepath.Base(path))
	return attachment{name: name, typ: guessType(name, data), data: data}, nil
}

// guessType names a file's media type. A text type gets the charset the
// content really has rather than the table's UTF-8 guess.
func guessType(name string, data []byte) string {
	t := mime.TypeByExtension(filepath.Ext(name))
	if t == "" {
		t = http.DetectContentType(data)
	}
	typ, params, err := mime.ParseMediaType(t)
	if err != nil {
		return "application/octet-stream"
	}
	delete(params, "charset")
	if strings.HasPrefix(typ, "text/") {
		switch {
		case isASCII(string(data)):
			params["charset"] = "us-ascii"
		case utf8.Valid(data):
			params["charset"] = "utf-8"
		}
	}
	return mime.FormatMediaType(typ, params)
}

// safeFileName replaces control characters, which a file name may hold but
// a header must not.
func safeFileName(name string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '_'
		}
		return r
	}, name)
}

// writeSingle writes a one-part message: the header as go-message formats
// and folds it, then the text in its transfer encoding (written here, as
// go-message's writer takes no charset but UTF-8 and US-ASCII).
func writeSingle(w io.Writer, fields [][2]string, cte string, body []byte) error {
	if err := textproto.WriteHeader(w, header(fields).Header); err != nil {
		return err
	}
	if cte != "quoted-printable" {
		_, err := w.Write(body)
		return err
	}
	qw := quotedprintable.NewWriter(w)
	if _, err := qw.Write(body); err != nil {
		return err
	}
	return qw.Close()
}

func writeMixed(w io.Writer, fields [][2]string, text [2]string, body []byte, atts []attachment) error {
	boundary, err := newBoundary()
	if err != nil {
		return err
	}
	fields = append(fields, [2]string{"Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": boundary})})
	mw, err := message.CreateWriter(w, header(fields))
	if err != nil {
		return err
	}
	if err := writePart(mw, header([][2]string{
		{"Content-Type", text[0]},
		{"Content-Transfer-Encoding", text[1]},
		{"Content-Disposition", "inline"},
	}), body); err != nil {
		return err
	}
	for _, a := range atts {
		// RFC 2183 filename, and the older Content-Type name for readers
		// that look only there; mime.FormatMediaType uses RFC 2231 for
		// non-ASCII values.
		typ, params, _ := mime.ParseMediaType(a.typ)
		params["name"] = a.name
		if err := writePart(mw, header([][2]string{
			{"Content-Type", mime.FormatMediaType(typ, params)},
			{"Content-Transfer-Encoding", "base64"},
			{"Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": a.name})},
		}), a.data); err != nil {
			return err
		}
	}
	if err := mw.Close(); err != nil {
		return err
	}
	_, err = io.WriteString(w, "\n") // end the closing delimiter's line
	return err
}

func writePart(mw *message.Writer, h message.Header, data []byte) error {
	pw, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := pw.Write(data); err != nil {
		return err
	}
	return pw.Close()
}

// header makes a go-message header that writes fields in the given order
// (textproto.Header writes the field added last first).
func header(fields [][2]string) message.Header {
	var h message.Header
	for i := len(fields) - 1; i >= 0; i-- {
		h.Add(fields[i][0], fields[i][1])
	}
	return h
}

func newBoundary() (string, error) {
	var b [15]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make MIME boundary: %w", err)
	}
	return "=-" + hex.EncodeToString(b[:]), nil
}

// lfWriter turns the CRLF line ends go-message writes into LF. A CR that
// ends one Write is held until the next shows whether LF follows.
type lfWriter struct {
	w  io.Writer
	cr bool
}

func (l *lfWriter) Write(p []byte) (int, error) {
	out := make([]byte, 0, len(p)+1)
	if l.cr && len(p) > 0 {
		if p[0] != '\n' {
			out = append(out, '\r')
		}
		l.cr = false
	}
	for i, c := range p {
		if c == '\r' {
			if i+1 == len(p) {
				l.cr = true
				continue
			}
			if p[i+1] == '\n' {
				continue
			}
		}
		out = append(out, c)
	}
	if _, err := l.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (l *lfWriter) flush() error {
	if l.cr {
		l.cr = false
		_, err := l.w.Write([]byte{'\r'})
		return err
	}
	return nil
}
