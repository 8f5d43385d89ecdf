package imapstore

import (
	"bufio"
	"bytes"
	"io"
	"strings"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// maxDepth is how deep MIME nesting is followed; deeper parts are shown as
// plain leaves, so a message nested 10,000 deep costs no more than one
// nested 50 deep, and its BODYSTRUCTURE stays small enough for clients.
const maxDepth = 50

// maxHeader is how much of one part's header is kept for parsing.
const maxHeader = 256 << 10

// part is one MIME part of a message, located by offsets in the message as
// IMAP shows it (CRLF line ends, mbox quoting undone), so that any section
// can be streamed from the file without holding it.
type part struct {
	hdrStart, bodyStart, end int64
	lines                    int64
	header                   textproto.Header
	mediaType                string
	params                   map[string]string
	children                 []*part
	msg                      *part // the message inside a message/rfc822 part
}

// partParser reads a message once, line by line, finding its parts.
type partParser struct {
	br      *bufio.Reader
	off     int64 // offset of the next unread byte
	lineNo  int64
	held    []byte // a line read ahead and given back
	heldOff int64
	lastEOL int64 // length of the line end of the last line consumed
	bounds  []string
}

func parseParts(r io.Reader) *part {
	p := &partParser{br: bufio.NewReaderSize(r, 64<<10)}
	return p.part(0, "")
}

// next returns the next line (line end included) and its offset.
func (p *partParser) next() ([]byte, int64, bool) {
	if p.held != nil {
		l, o := p.held, p.heldOff
		p.held = nil
		p.consume(l)
		return l, o, true
	}
	start := p.off
	var line []byte
	for {
		chunk, err := p.br.ReadSlice('\n')
		line = append(line, chunk...)
		if err == bufio.ErrBufferFull {
			if len(line) > 1<<20 {
				// A huge line: only its start matters for boundaries.
				break
			}
			continue
		}
		if err != nil && len(line) == 0 {
			return nil, start, false
		}
		break
	}
	p.consume(line)
	return line, start, true
}

func (p *partParser) consume(line []byte) {
	p.off += int64(len(line))
	switch {
	case bytes.HasSuffix(line, []byte("\r\n")):
		p.lastEOL = 2
		p.lineNo++
	case bytes.HasSuffix(line, []byte("\n")):
		p.lastEOL = 1
		p.lineNo++
	default:
		p.lastEOL = 0
	}
}

func (p *partParser) unread(line []byte, off int64) {
	p.held, p.heldOff = line, off
	p.off = off
	p.lineNo--
}

// boundary reports which enclosing boundary line is (its index in
// p.bounds, innermost last), and whether it closes its multipart.
func (p *partParser) boundary(line []byte) (int, bool, bool) {
	if len(p.bounds) == 0 || !bytes.HasPrefix(line, []byte("--")) {
		return 0, false, false
	}
	rest := line[2:]
	for i := len(p.bounds) - 1; i >= 0; i-- {
		b := p.bounds[i]
		if !bytes.HasPrefix(rest, []byte(b)) {
			continue
		}
		tail := rest[len(b):]
		closing := bytes.HasPrefix(tail, []byte("--"))
		if closing {
			tail = tail[2:]
		}
		if len(bytes.TrimRight(tail, " \t\r\n")) == 0 {
			return i, closing, true
		}
	}
	return 0, false, false
}

func blank(line []byte) bool {
	return len(line) == 0 || len(bytes.TrimRight(line, "\r\n")) == 0 && bytes.HasSuffix(line, []byte("\n"))
}

// part reads one part from the current position: its header, then its
// body, stopping at EOF or a boundary of an enclosing multipart (left
// unread). parent is the enclosing multipart's media type.
func (p *partParser) part(depth int, parent string) *part {
	pt := &part{hdrStart: p.off}
	var hdr []byte
	for {
		line, off, ok := p.next()
		if !ok {
			break
		}
		if _, _, isB := p.boundary(line); isB {
			p.unread(line, off)
			break
		}
		if blank(line) {
			break
		}
		if len(hdr) < maxHeader {
			hdr = append(hdr, line...)
		}
	}
	pt.bodyStart = p.off
	pt.header = parseHeader(hdr)
	pt.mediaType, pt.params = contentType(pt.header, parent)
	startLine := p.lineNo
	switch {
	case strings.HasPrefix(pt.mediaType, "multipart/") && pt.params["boundary"] != "" && depth < maxDepth:
		p.multipart(pt, depth)
	case (pt.mediaType == "message/rfc822" || pt.mediaType == "message/global") && depth < maxDepth:
		pt.msg = p.part(depth+1, "")
		p.skipToBoundary()
	default:
		p.skipToBoundary()
	}
	pt.end = p.partEnd(pt.bodyStart)
	pt.lines = p.lineNo - startLine
	return pt
}

// skipToBoundary reads up to an enclosing boundary or EOF.
func (p *partParser) skipToBoundary() {
	for {
		line, off, ok := p.next()
		if !ok {
			return
		}
		if _, _, isB := p.boundary(line); isB {
			p.unread(line, off)
			return
		}
	}
}

// partEnd is where a part stopped: the line end before a boundary belongs
// to the boundary (RFC 2046 5.1.1).
func (p *partParser) partEnd(bodyStart int64) int64 {
	end := p.off
	if p.held != nil && end-p.lastEOL >= bodyStart {
		end -= p.lastEOL
	}
	return end
}

func (p *partParser) multipart(pt *part, depth int) {
	me := len(p.bounds)
	p.bounds = append(p.bounds, pt.params["boundary"])
	defer func() { p.bounds = p.bounds[:me] }()
	// The preamble, up to the first boundary.
	for {
		line, off, ok := p.next()
		if !ok {
			return
		}
		i, closing, isB := p.boundary(line)
		if !isB {
			continue
		}
		if i != me {
			p.unread(line, off)
			return
		}
		if closing {
			p.epilogue(me)
			return
		}
		break
	}
	for {
		child := p.part(depth+1, pt.mediaType)
		pt.children = append(pt.children, child)
		line, off, ok := p.next()
		if !ok {
			return
		}
		i, closing, _ := p.boundary(line)
		if i != me {
			p.unread(line, off)
			return
		}
		if closing {
			p.epilogue(me)
			return
		}
	}
}

// epilogue skips what follows a closing boundary, up to an outer one.
func (p *partParser) epilogue(me int) {
	for {
		line, off, ok := p.next()
		if !ok {
			return
		}
		if i, _, isB := p.boundary(line); isB && i < me {
			p.unread(line, off)
			return
		}
	}
}

func parseHeader(raw []byte) textproto.Header {
	h, err := textproto.ReadHeader(bufio.NewReader(io.MultiReader(bytes.NewReader(raw), strings.NewReader("\r\n"))))
	if err != nil {
		// A header with a malformed line still gives the fields before it.
		return h
	}
	return h
}

// contentType is a part's media type, lower case, with the defaults of RFC
// 2045 (text/plain) and RFC 2046 5.1.5 (message/rfc822 in a digest).
func contentType(h textproto.Header, parent string) (string, map[string]string) {
	mh := gomessage.Header{Header: h}
	if !h.Has("Content-Type") {
		if parent == "multipart/digest" {
			return "message/rfc822", map[string]string{}
		}
		return "text/plain", map[string]string{"charset": "us-ascii"}
	}
	t, params, err := mh.ContentType()
	if err != nil || !strings.Contains(t, "/") || strings.ContainsAny(t, " \t\"()") {
		return "text/plain", map[string]string{"charset": "us-ascii"}
	}
	if params == nil {
		params = map[string]string{}
	}
	return strings.ToLower(t), params
}

// find gives the part a section path names (RFC 3501 6.4.5): numbers go
// into multiparts, and into the message of a message/rfc822 part; "1" of
// a message that is not multipart is its body.
func (pt *part) find(path []int) *part {
	cur := pt
	for _, n := range path {
		if cur.msg != nil {
			cur = cur.msg
		}
		if len(cur.children) == 0 {
			if n != 1 {
				return nil
			}
			continue
		}
		if n < 1 || n > len(cur.children) {
			return nil
		}
		cur = cur.children[n-1]
	}
	return cur
}
