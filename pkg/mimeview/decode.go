package mimeview

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

// decodeTransfer undoes a Content-Transfer-Encoding (RFC 2045 6). It never
// fails: damaged data is decoded as far as possible and problem says what
// was wrong.
func decodeTransfer(cte string, body []byte) (data []byte, problem string) {
	switch cte {
	case "", "7bit", "8bit", "binary":
		return body, ""
	case "quoted-printable":
		data, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		if err != nil {
			return data, fmt.Sprintf("bad quoted-printable data (%v), shown as far as it goes", err)
		}
		return data, ""
	case "base64":
		return decodeBase64(body)
	}
	return body, fmt.Sprintf("unknown transfer encoding %q, shown undecoded", cte)
}

// decodeBase64 is lenient where senders are sloppy: it skips characters
// outside the alphabet (RFC 2045 6.8 says to ignore them), decodes data
// that was concatenated after padding, and keeps what precedes a truncation.
func decodeBase64(body []byte) ([]byte, string) {
	var out, chunk []byte
	bad := false
	flush := func() {
		if len(chunk)%4 == 1 {
			chunk, bad = chunk[:len(chunk)-1], true
		}
		n := base64.RawStdEncoding.DecodedLen(len(chunk))
		dst := make([]byte, n)
		n, err := base64.RawStdEncoding.Decode(dst, chunk)
		if err != nil {
			bad = true
		}
		out = append(out, dst[:n]...)
		chunk = chunk[:0]
	}
	for _, c := range body {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
			chunk = append(chunk, c)
		case c == '=':
			if len(chunk) > 0 {
				flush()
			}
		case c == ' ', c == '\t', c == '\r', c == '\n':
		default:
			bad = true
		}
	}
	if len(chunk) > 0 {
		flush()
	}
	if bad {
		return out, "bad base64 data, shown as far as it could be decoded"
	}
	return out, ""
}

// toUTF8 converts text in the named charset to UTF-8. Text without a
// charset, or labelled US-ASCII, that is not valid UTF-8 is taken as
// Windows-1252, the usual truth behind such labels; so is ISO-8859-1, whose
// C1 range Windows-1252 fills with the characters senders meant.
func toUTF8(data []byte, cs string) (string, string) {
	cs = strings.ToLower(strings.TrimSpace(cs))
	switch cs {
	case "", "us-ascii", "ascii", "utf-8", "utf8", "unknown-8bit", "x-unknown":
		if utf8.Valid(data) {
			return string(data), ""
		}
		if cs == "utf-8" || cs == "utf8" {
			return strings.ToValidUTF8(string(data), "\uFFFD"), "invalid UTF-8, bad bytes replaced"
		}
		cs = "windows-1252"
	case "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "l1":
		cs = "windows-1252"
	}
	r, err := charset.Reader(cs, bytes.NewReader(data))
	if err != nil {
		s, _ := toUTF8(data, "")
		return s, fmt.Sprintf("unknown charset %q, shown as is", cs)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return strings.ToValidUTF8(string(out), "\uFFFD"), fmt.Sprintf("charset %s: %v", cs, err)
	}
	return strings.ToValidUTF8(string(out), "\uFFFD"), ""
}

// wordDecoder decodes RFC 2047 encoded words. A word in a charset nobody
// knows keeps its bytes instead of failing the whole field.
var wordDecoder = mime.WordDecoder{CharsetReader: func(cs string, input io.Reader) (io.Reader, error) {
	if r, err := charset.Reader(cs, input); err == nil {
		return r, nil
	}
	return input, nil
}}

// DecodeHeader turns a header field value into display text: RFC 2047
// encoded words are decoded to UTF-8, a value that cannot be decoded is kept
// raw, stray 8-bit bytes are read as Latin-1, and line breaks and control
// characters are neutralised so the result is safe for one terminal line.
func DecodeHeader(v string) string {
	s := v
	if strings.Contains(v, "=?") {
		if d, err := wordDecoder.DecodeHeader(v); err == nil {
			s = d
		}
	}
	return sanitize(latin1Fallback(s), true)
}

// latin1Fallback replaces each byte that is not part of valid UTF-8 with
// the Latin-1 character of that value.
func latin1Fallback(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			r = rune(s[i])
		}
		b.WriteRune(r)
		i += n
	}
	return b.String()
}

// sanitize makes decoded text safe to put on a terminal: a sender must not
// be able to move the cursor, retitle the window or hide text with escape
// sequences. CRLF becomes LF and other CRs go; tabs stay; other C0 controls
// and DEL are shown in caret form (^[), C1 controls and invalid UTF-8 as
// U+FFFD. With oneLine, line breaks and tabs become spaces.
func sanitize(s string, oneLine bool) string {
	if isClean(s, oneLine) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case r == '\r' && i < len(s) && s[i] == '\n':
		case r == '\r':
			if oneLine {
				b.WriteByte(' ')
			}
		case r == '\n' || r == '\t':
			if oneLine {
				b.WriteByte(' ')
			} else {
				b.WriteRune(r)
			}
		case r < 0x20 || r == 0x7f:
			b.WriteByte('^')
			b.WriteByte(byte(r) ^ 0x40)
		case r >= 0x80 && r < 0xa0, r == utf8.RuneError:
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isClean is sanitize's fast path: printable ASCII, tabs and LFs (unless
// oneLine), and valid UTF-8 outside the C1 range need no work.
func isClean(s string, oneLine bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x20 && c < 0x7f:
		case (c == '\n' || c == '\t') && !oneLine:
		case c >= 0x80:
			if !utf8.ValidString(s[i:]) {
				return false
			}
			for _, r := range s[i:] {
				if r < 0x20 && !(r == '\n' || r == '\t') || r == 0x7f || r >= 0x80 && r < 0xa0 || (oneLine && r < 0x20) {
					return false
				}
			}
			return true
		default:
			return false
		}
	}
	return true
}
