package mimeview

import (
	"bufio"
	"bytes"
	"fmt"
	"mime"
	"strconv"
	"strings"

	"github.com/emersion/go-message/textproto"
)

// maxDepth bounds multipart and message/rfc822 nesting; deeper structure is
// shown as an opaque part instead of recursing without end on hostile input.
const maxDepth = 30

// entity is one node of a message's MIME tree. The message is held in memory
// (a reader shows one message at a time), which lets a damaged part be shown
// as far as it goes instead of losing everything after the damage.
type entity struct {
	num      string // IMAP part number; "" for a multipart container
	header   textproto.Header
	typ      string            // media type, lower case, e.g. "text/plain"
	params   map[string]string // Content-Type parameters, keys lower case
	cte      string            // Content-Transfer-Encoding, lower case
	disp     string            // Content-Disposition type, lower case
	name     string            // filename or name parameter, decoded
	body     []byte            // the body as it is in the message (still encoded)
	children []*entity         // parts of a multipart, or the message inside message/rfc822
	problems []string          // what was wrong with this node, for bracketed notes
}

func (e *entity) isMultipart() bool { return strings.HasPrefix(e.typ, "multipart/") }

// isMessage reports whether e encapsulates a whole message that is parsed
// and numbered further (RFC 2046 5.2.1; message/global is RFC 6532's form).
func (e *entity) isMessage() bool { return e.typ == "message/rfc822" || e.typ == "message/global" }

// parse builds the tree of one message or body part. leafNum is the part
// number e gets if it is not multipart; prefix is what its children's
// numbers start with if it is (IMAP numbers a single-part message's body 1,
// and the parts of a multipart 1, 2, ... under their parent's number).
func parse(raw []byte, leafNum, prefix string, depth int) *entity {
	hdr, body, problems := splitHeader(raw)
	e := &entity{body: body, problems: problems}
	e.header, _ = textproto.ReadHeader(bufio.NewReader(bytes.NewReader(hdr)))
	e.typ, e.params = mediaType(e.header.Get("Content-Type"))
	e.cte = strings.ToLower(strings.TrimSpace(e.header.Get("Content-Transfer-Encoding")))
	var dparams map[string]string
	e.disp, dparams = mediaDisposition(e.header.Get("Content-Disposition"))
	e.name = dparams["filename"]
	if e.name == "" {
		e.name = e.params["name"]
	}

	if depth >= maxDepth && (e.isMultipart() || e.isMessage()) {
		e.problems = append(e.problems, "nested too deeply, not opened")
		e.typ = "application/octet-stream"
	}
	switch {
	case e.isMultipart():
		parts, problems := splitMultipart(body, e.params["boundary"])
		e.problems = append(e.problems, problems...)
		if parts == nil {
			// No usable boundary: show the body as the text it probably is.
			e.typ, e.num = "text/plain", leafNum
			return e
		}
		for i, p := range parts {
			n := strconv.Itoa(i + 1)
			if prefix != "" {
				n = prefix + "." + n
			}
			e.children = append(e.children, parse(p, n, n, depth+1))
		}
	case e.isMessage():
		e.num = leafNum
		// RFC 2046 5.2.1 forbids encoding message/rfc822, but senders do it.
		inner, problem := decodeTransfer(e.cte, body)
		if problem != "" {
			e.problems = append(e.problems, problem)
		}
		e.children = []*entity{parse(inner, leafNum+".1", leafNum, depth+1)}
	default:
		e.num = leafNum
	}
	return e
}

// splitHeader cuts raw at the end of its header. Like Python's email
// parser, a line that is neither a field nor a continuation ends the header
// (and is kept as body) rather than failing the message. A leading mbox
// From_ line is skipped. The returned header block ends with an empty line,
// so textproto.ReadHeader always accepts it.
func splitHeader(raw []byte) (hdr, body []byte, problems []string) {
	rest := raw
	if bytes.HasPrefix(rest, []byte("From ")) {
		_, rest = cutLine(rest)
	}
	start := rest
	n := 0 // bytes of start that belong to the header
	for len(rest) > 0 {
		line, next := cutLine(rest)
		content := bytes.TrimRight(line, "\r\n")
		if len(content) == 0 {
			return headerBlock(start[:n]), next, problems
		}
		if (content[0] == ' ' || content[0] == '\t') && n > 0 {
			n += len(line)
			rest = next
			continue
		}
		if !isFieldLine(content) {
			problems = append(problems, fmt.Sprintf("malformed header line %q, header ends there", truncate(string(content), 40)))
			return headerBlock(start[:n]), rest, problems
		}
		n += len(line)
		rest = next
	}
	return headerBlock(start[:n]), nil, problems
}

func headerBlock(fields []byte) []byte {
	b := make([]byte, 0, len(fields)+2)
	b = append(b, fields...)
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	return append(b, '\n')
}

// isFieldLine reports whether line starts a header field: a name of
// printable ASCII other than colon (RFC 5322 2.2), then a colon. Space before
// the colon is tolerated (RFC 822's obsolete syntax).
func isFieldLine(line []byte) bool {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return false
	}
	name := bytes.TrimRight(line[:i], " \t")
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// cutLine returns the first line of b with its line end, and the rest.
func cutLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i+1], b[i+1:]
	}
	return b, nil
}

// splitMultipart cuts a multipart body into its parts' raw bytes (RFC 2046
// 5.1.1): the line end before a delimiter belongs to the delimiter, the
// preamble and epilogue are dropped. It returns nil parts when there is no
// usable boundary at all. go-message's multipart reader stops at the first
// damaged part; a reader for humans must show the parts after it too.
func splitMultipart(body []byte, boundary string) (parts [][]byte, problems []string) {
	if boundary == "" {
		return nil, []string{"multipart without a boundary parameter, shown as text"}
	}
	delim := []byte("--" + boundary)
	var cur []byte // the part being collected, nil before the first delimiter
	in := false
	closed := false
	rest := body
	for len(rest) > 0 {
		line, next := cutLine(rest)
		if kind := delimiterKind(line, delim); kind != 0 {
			if in {
				parts = append(parts, trimLineEnd(cur))
			}
			if kind == 2 {
				closed = true
				break
			}
			in, cur = true, next[:0]
			rest = next
			continue
		}
		if in {
			cur = cur[:len(cur)+len(line)] // cur is a window onto body
		}
		rest = next
	}
	if !closed && in {
		parts = append(parts, cur)
		problems = append(problems, fmt.Sprintf("closing boundary %q missing, message may be truncated", boundary))
	}
	if parts == nil {
		return nil, append(problems, fmt.Sprintf("boundary %q not found, shown as text", boundary))
	}
	return parts, problems
}

// delimiterKind is 1 for a part delimiter line, 2 for the closing one, 0
// for any other line. Trailing white space is allowed (RFC 2046 5.1.1).
func delimiterKind(line, delim []byte) int {
	if !bytes.HasPrefix(line, delim) {
		return 0
	}
	tail := bytes.TrimRight(line[len(delim):], " \t\r\n")
	switch {
	case len(tail) == 0:
		return 1
	case bytes.Equal(tail, []byte("--")):
		return 2
	}
	return 0
}

// trimLineEnd removes the line end that belongs to the following delimiter.
func trimLineEnd(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// mediaType parses a Content-Type value leniently: RFC 2045 5.2 says a
// missing or unparsable type is text/plain, and a bad parameter must not
// hide the good ones (a lost boundary would lose every part).
func mediaType(v string) (string, map[string]string) {
	typ, params := parseParams(v)
	if typ == "" || !strings.Contains(typ, "/") {
		return "text/plain", params
	}
	return typ, params
}

func mediaDisposition(v string) (string, map[string]string) {
	return parseParams(v)
}

// parseParams splits "type; k=v; ..." with mime.ParseMediaType, which
// handles RFC 2231 continuations and charsets; on failure it falls back to a
// plain split. Values that carry RFC 2047 words (common for name= although
// RFC 2047 5 forbids it) are decoded.
func parseParams(v string) (string, map[string]string) {
	if strings.TrimSpace(v) == "" {
		return "", map[string]string{}
	}
	typ, params, err := mime.ParseMediaType(v)
	if err != nil {
		typ, params = looseParams(v)
	}
	for k, p := range params {
		if strings.Contains(p, "=?") {
			params[k] = DecodeHeader(p)
		}
	}
	return strings.ToLower(typ), params
}

// looseParams is the fallback for values mime.ParseMediaType rejects
// (duplicate parameters, stray semicolons, unquoted specials).
func looseParams(v string) (string, map[string]string) {
	params := map[string]string{}
	fields := strings.Split(v, ";")
	typ := strings.ToLower(strings.TrimSpace(fields[0]))
	for _, f := range fields[1:] {
		k, val, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		val = strings.TrimSpace(val)
		if q, ok := strings.CutPrefix(val, `"`); ok {
			val, _, _ = strings.Cut(q, `"`)
		} else if i := strings.IndexAny(val, " \t("); i >= 0 {
			val = val[:i] // drop an RFC 822 comment
		}
		if k != "" {
			if _, dup := params[k]; !dup {
				params[k] = val
			}
		}
	}
	return typ, params
}

// find returns the node numbered num, or nil.
func (e *entity) find(num string) *entity {
	if e.num == num {
		return e
	}
	for _, c := range e.children {
		if f := c.find(num); f != nil {
			return f
		}
	}
	return nil
}

// leaves calls fn for every part that is neither multipart nor an opened
// message, in IMAP order.
func (e *entity) leaves(fn func(*entity)) {
	if len(e.children) == 0 {
		fn(e)
		return
	}
	for _, c := range e.children {
		c.leaves(fn)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
