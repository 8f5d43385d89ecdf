package imapstore

import (
	"bytes"
	"encoding/base64"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	gomessage "github.com/emersion/go-message"

	"unixmail/pkg/mbox"
)

// needle is a SEARCH string made ready for matching: RFC 3501 asks for
// substrings ignoring case, which here is the text and the needle both
// made lower case by Unicode's rules (bytes.ToLower).
type needle struct {
	lower []byte
	ascii bool
	// rare is the position of the needle's byte least likely in text,
	// the one the scan looks for.
	rare int
	// lines: the needle holds a line end, so the text must have the CRLF
	// line ends a client sees.
	lines bool
}

func newNeedle(s string) *needle {
	n := &needle{lower: bytes.ToLower([]byte(s)), ascii: true, lines: strings.ContainsAny(s, "\r\n")}
	for i, c := range n.lower {
		if c >= utf8.RuneSelf {
			n.ascii = false
		}
		if rarity(c) > rarity(n.lower[n.rare]) {
			n.rare = i
		}
	}
	return n
}

// rarity ranks bytes by how seldom they appear in mail text: letters by
// their frequency in English, the space lowest, anything else high.
func rarity(c byte) int {
	if 'a' <= c && c <= 'z' {
		return 1 + strings.IndexByte("etaoinshrdlcumwfgypbvkjxqz", c)
	}
	if c == ' ' {
		return 0
	}
	return 30
}

// foldsToASCII are the letters outside ASCII whose lower case is an
// ASCII letter (the Kelvin sign, the capital I with dot above), in UTF-8:
// text holding one may match an ASCII needle that the ASCII scan misses.
var foldsToASCII = []struct {
	utf8  string
	lower byte
}{{"\u212a", 'k'}, {"\u0130", 'i'}}

// in reports whether the needle is in text.
func (n *needle) in(text []byte) bool {
	if len(n.lower) == 0 {
		return true
	}
	if !n.ascii {
		return bytes.Contains(bytes.ToLower(text), n.lower)
	}
	if indexFold(text, n.lower, n.rare) >= 0 {
		return true
	}
	for _, f := range foldsToASCII {
		if bytes.IndexByte(n.lower, f.lower) >= 0 && bytes.Contains(text, []byte(f.utf8)) {
			return bytes.Contains(bytes.ToLower(text), n.lower)
		}
	}
	return false
}

// inReader is in over a stream, read in pieces that overlap by enough to
// see a match across two.
func (n *needle) inReader(r io.Reader) bool {
	if len(n.lower) == 0 {
		return true
	}
	buf := make([]byte, 0, 256<<10)
	keep := len(n.lower) + utf8.UTFMax
	for {
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if m > 0 && n.in(buf) {
			return true
		}
		if err != nil {
			return false
		}
		if len(buf) > cap(buf)-4096 {
			buf = buf[:copy(buf, buf[len(buf)-keep:])]
		}
	}
}

// indexFold finds lower (ASCII, lower case) in s ignoring ASCII case. It
// scans for the needle's rare byte, in either case, and compares around
// each one found.
func indexFold(s, lower []byte, rare int) int {
	c := lower[rare]
	other := c
	if 'a' <= c && c <= 'z' {
		other = c - 'a' + 'A'
	}
	last := len(s) - len(lower) + rare // the last place the rare byte can be
	nextC, nextO := -1, -1
	for j := rare; j <= last; {
		if nextC < j {
			nextC = indexFrom(s, c, j)
		}
		if nextO < j {
			nextO = indexFrom(s, other, j)
		}
		p := min(nextC, nextO)
		if p > last {
			return -1
		}
		if start := p - rare; equalFoldASCII(s[start:start+len(lower)], lower) {
			return start
		}
		j = p + 1
	}
	return -1
}

// indexFrom is the index of c in s at or after from, or len(s).
func indexFrom(s []byte, c byte, from int) int {
	if i := bytes.IndexByte(s[from:], c); i >= 0 {
		return from + i
	}
	return len(s)
}

func equalFoldASCII(s, lower []byte) bool {
	for i, c := range s {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// unquote appends to dst stored mbox text as it was before it was stored
// (one ">" off each ">From ", ">>From "... line) and, with crlf, every
// line end as CRLF: the text a client sees. src starts at a line start.
func unquote(dst, src []byte, crlf bool) []byte {
	if !crlf {
		// Copy the runs between quoted lines whole.
		if mbox.QuotedFrom(src) {
			src = src[1:]
		}
		for len(src) > 0 {
			i := indexLineStart(src, '>')
			if i < 0 {
				return append(dst, src...)
			}
			dst = append(dst, src[:i+1]...)
			src = src[i+1:]
			if mbox.QuotedFrom(src) {
				src = src[1:]
			}
		}
		return dst
	}
	for len(src) > 0 {
		line := src
		if i := bytes.IndexByte(src, '\n'); i >= 0 {
			line = src[:i+1]
		}
		src = src[len(line):]
		if line[0] == '>' && mbox.QuotedFrom(line) {
			line = line[1:]
		}
		if crlf && line[len(line)-1] == '\n' && (len(line) < 2 || line[len(line)-2] != '\r') {
			dst = append(append(dst, line[:len(line)-1]...), '\r', '\n')
			continue
		}
		dst = append(dst, line...)
	}
	return dst
}

// quoted reports whether stored text has a line that unquote changes.
func quoted(b []byte) bool {
	if len(b) > 0 && b[0] == '>' && mbox.QuotedFrom(b) {
		return true
	}
	for i := 0; ; {
		j := indexLineStart(b[i:], '>')
		if j < 0 {
			return false
		}
		i += j + 1
		if mbox.QuotedFrom(b[i:]) {
			return true
		}
	}
}

// indexLineStart is the index of the first "\n" followed by c in s, or -1.
// It looks for c, which in mail text is much rarer than a line end.
func indexLineStart(s []byte, c byte) int {
	for i := 1; i < len(s); {
		j := bytes.IndexByte(s[i:], c)
		if j < 0 {
			return -1
		}
		if i += j; s[i-1] == '\n' {
			return i - 1
		}
		i++
	}
	return -1
}

// decodeQP appends the quoted-printable text src, decoded, to dst. It
// reads as mime/quotedprintable does (soft line breaks "=\r\n" and "=\n",
// trailing white space dropped, a "=" not followed by two hex digits
// taken as itself) but goes on past what that stops at: control bytes,
// lines of any length.
func decodeQP(dst, src []byte) []byte {
	for len(src) > 0 {
		line := src
		if i := bytes.IndexByte(src, '\n'); i >= 0 {
			line = src[:i+1]
		}
		src = src[len(line):]
		eol := line[len(line)-int(lineEnd(line)):]
		text := line
		for len(text) > 0 && isQPSpace(text[len(text)-1]) {
			text = text[:len(text)-1]
		}
		soft := bytes.HasSuffix(text, []byte("="))
		if soft {
			text = text[:len(text)-1]
		}
		for len(text) > 0 {
			i := bytes.IndexByte(text, '=')
			if i < 0 {
				dst = append(dst, text...)
				break
			}
			dst = append(dst, text[:i]...)
			text = text[i:]
			if len(text) >= 3 && isHex(text[1]) && isHex(text[2]) {
				dst = append(dst, unhex(text[1])<<4|unhex(text[2]))
				text = text[3:]
				continue
			}
			dst = append(dst, '=')
			text = text[1:]
		}
		if !soft {
			dst = append(dst, eol...)
		}
	}
	return dst
}

func isQPSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// decodeBase64 appends the base64 text src, decoded, to dst, up to the
// first byte that is not base64: line ends are skipped, and spaces and
// tabs (which some writers indent with) too, as go-message reads it.
func decodeBase64(dst, src []byte) []byte {
	start := len(dst)
	dst = slices.Grow(dst, base64.StdEncoding.DecodedLen(len(src)))
	dst = dst[:start+base64.StdEncoding.DecodedLen(len(src))]
	n, err := base64.StdEncoding.Decode(dst[start:], src)
	if err != nil && bytes.ContainsAny(src, " \t") {
		clean := bytes.Map(func(r rune) rune {
			if r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, src)
		n, _ = base64.StdEncoding.Decode(dst[start:], clean)
	}
	return dst[:start+n]
}

// transferDecoded is body with the transfer encoding enc (lower case)
// undone, made in *buf when it must be made; not ok when enc is not one
// it knows, and then body as it is.
func transferDecoded(buf *[]byte, enc string, body []byte) ([]byte, bool) {
	start := len(*buf)
	switch enc {
	case "quoted-printable":
		*buf = decodeQP(*buf, body)
	case "base64":
		*buf = decodeBase64(*buf, body)
	case "", "7bit", "8bit", "binary":
		return body, true
	default:
		return body, false
	}
	return (*buf)[start:], true
}

// leafText is a part's body (stored text, from a line start) with its
// transfer encoding and charset undone: the text SEARCH BODY looks in.
// It is body itself when nothing needs undoing, else made in *buf. An
// encoding it does not know leaves the text as stored, as go-message
// does; a charset it does not know, the text as decoded.
func leafText(buf *[]byte, pt *part, body []byte, crlf bool) []byte {
	enc := strings.ToLower(strings.TrimSpace(pt.header.Get("Content-Transfer-Encoding")))
	if strings.HasPrefix(pt.mediaType, "multipart/") {
		enc = ""
	}
	if quoted(body) || crlf {
		start := len(*buf)
		*buf = unquote(*buf, body, crlf)
		body = (*buf)[start:]
	}
	text, known := transferDecoded(buf, enc, body)
	if !known {
		return body
	}
	cs, ok := pt.params["charset"]
	if !strings.HasPrefix(pt.mediaType, "text/") || !ok {
		return text
	}
	switch cs = strings.ToLower(cs); cs {
	case "utf-8", "us-ascii":
		return text
	}
	r, err := gomessage.CharsetReader(cs, bytes.NewReader(text))
	if err != nil || r == nil {
		return text
	}
	var out bytes.Buffer
	io.Copy(&out, r)
	return out.Bytes()
}
