package imapstore

import (
	"bufio"
	"bytes"
	"io"
	"strings"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

	"unixmail/pkg/mbox"
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

// lineSource gives the part parser a message's lines in order, from
// memory (a message read whole) or from a stream (one too big for that).
type lineSource interface {
	// next returns the next line, its line end included, and its length;
	// a line longer than maxLine comes cut short (its length still whole).
	next() (line []byte, n int64, ok bool)
	// skip passes over whole lines up to one that starts with "--" (the
	// only lines that can be boundaries) or the end, and says how many
	// lines and bytes it passed and the line end of the last one.
	skip() (lines, n int64, eol int64)
}

// maxLine is how much of one line the parser looks at: enough for any
// boundary or header field it keeps.
const maxLine = 1 << 20

// lineEnd is the length of a line's end: 2 for CRLF, 1 for LF, 0 for none.
func lineEnd(line []byte) int64 {
	switch {
	case bytes.HasSuffix(line, []byte("\r\n")):
		return 2
	case bytes.HasSuffix(line, []byte("\n")):
		return 1
	}
	return 0
}

// memLines is a lineSource over a message in memory; skip jumps from one
// "\n--" to the next without looking at the lines between.
type memLines struct {
	b   []byte
	pos int
}

func (m *memLines) next() ([]byte, int64, bool) {
	rest := m.b[m.pos:]
	if len(rest) == 0 {
		return nil, 0, false
	}
	line := rest
	if i := bytes.IndexByte(rest, '\n'); i >= 0 {
		line = rest[:i+1]
	}
	m.pos += len(line)
	return line, int64(len(line)), true
}

func (m *memLines) skip() (lines, n, eol int64) {
	rest := m.b[m.pos:]
	if len(rest) == 0 || bytes.HasPrefix(rest, []byte("--")) {
		return 0, 0, 0
	}
	passed := rest
	for i := 0; ; i++ {
		j := indexLineStart(rest[i:], '-')
		if j < 0 {
			break
		}
		if i += j; i+2 < len(rest) && rest[i+2] == '-' {
			passed = rest[:i+1]
			break
		}
	}
	m.pos += len(passed)
	last := passed
	if i := bytes.LastIndexByte(passed[:len(passed)-1], '\n'); i >= 0 {
		last = passed[i+1:]
	}
	return int64(bytes.Count(passed, []byte("\n"))), int64(len(passed)), lineEnd(last)
}

// streamLines is a lineSource over a reader, for messages too big to hold.
type streamLines struct {
	br   *bufio.Reader
	line []byte
}

func (s *streamLines) next() ([]byte, int64, bool) {
	s.line = s.line[:0]
	var n int64
	for {
		chunk, err := s.br.ReadSlice('\n')
		n += int64(len(chunk))
		if room := maxLine - len(s.line); room > 0 {
			s.line = append(s.line, chunk[:min(room, len(chunk))]...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if n == 0 {
			return nil, 0, false
		}
		if int64(len(s.line)) < n && len(chunk) > 0 && chunk[len(chunk)-1] == '\n' {
			// Cut short: keep the line end, which the parser reads.
			end := []byte("\n")
			if bytes.HasSuffix(chunk, []byte("\r\n")) {
				end = []byte("\r\n")
			}
			s.line = append(s.line[:len(s.line)-len(end)], end...)
		}
		return s.line, n, true
	}
}

func (s *streamLines) skip() (lines, n, eol int64) {
	for {
		if b, _ := s.br.Peek(2); len(b) == 0 || string(b) == "--" {
			return lines, n, eol
		}
		line, ln, _ := s.next()
		lines, n, eol = lines+min(lineEnd(line), 1), n+ln, lineEnd(line)
	}
}

// partParser reads a message once, line by line, finding its parts.
type partParser struct {
	src     lineSource
	off     int64 // offset of the next unread byte
	lineNo  int64
	held    []byte // a line read ahead and given back
	heldOff int64
	heldLen int64
	lastEOL int64 // length of the line end of the last line consumed
	prevEOL int64 // and of the line before it
	bounds  []string
	// hideState leaves the mailbox's state fields out of the top header,
	// for a message read as stored rather than as a client sees it.
	hideState bool
	// mimeOnly keeps only the Content-* fields of each header: all that
	// finding and decoding the parts needs (SEARCH), parsed at less cost.
	mimeOnly bool
}

// parseParts finds the parts of a message as a client sees it (CRLF line
// ends, state fields hidden, quoting undone), streaming.
func parseParts(r io.Reader) *part {
	p := &partParser{src: &streamLines{br: bufio.NewReaderSize(r, 64<<10)}}
	return p.part(0, "")
}

// parseStored finds the parts of a message as stored in the mbox, held in
// memory, for SEARCH: offsets are into stored, and headers keep only their
// Content-* fields. The structure is the one parseParts finds in the
// client's view, since quoting and line ends never make or break a
// boundary.
func parseStored(stored []byte) *part {
	p := &partParser{src: &memLines{b: stored}, hideState: true, mimeOnly: true}
	return p.part(0, "")
}

// next returns the next line (line end included) and its offset.
func (p *partParser) next() ([]byte, int64, bool) {
	if p.held != nil {
		l, o, n := p.held, p.heldOff, p.heldLen
		p.held = nil
		p.consume(l, n)
		return l, o, true
	}
	start := p.off
	line, n, ok := p.src.next()
	if !ok {
		return nil, start, false
	}
	p.consume(line, n)
	return line, start, true
}

func (p *partParser) consume(line []byte, n int64) {
	p.off += n
	p.prevEOL, p.lastEOL = p.lastEOL, lineEnd(line)
	if p.lastEOL > 0 {
		p.lineNo++
	}
}

func (p *partParser) unread(line []byte, off int64) {
	p.held, p.heldOff, p.heldLen = line, off, p.off-off
	p.off = off
	p.lastEOL = p.prevEOL
	if lineEnd(line) > 0 {
		p.lineNo--
	}
}

// skipLines passes the lines that cannot be boundaries.
func (p *partParser) skipLines() {
	if p.held != nil {
		return
	}
	lines, n, eol := p.src.skip()
	if n > 0 {
		p.off += n
		p.lineNo += lines
		p.prevEOL, p.lastEOL = 0, eol
	}
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
	if len(line) == 0 {
		return true
	}
	if line[len(line)-1] != '\n' {
		return false
	}
	for _, c := range line {
		if c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// part reads one part from the current position: its header, then its
// body, stopping at EOF or a boundary of an enclosing multipart (left
// unread). parent is the enclosing multipart's media type.
func (p *partParser) part(depth int, parent string) *part {
	pt := &part{hdrStart: p.off}
	pt.header = p.header(depth == 0 && p.hideState, p.mimeOnly)
	pt.bodyStart = p.off
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
	if n := len(pt.children); n > 0 {
		pt.children[n-1].clamp(pt.end)
	}
	if pt.msg != nil {
		pt.msg.clamp(pt.end)
	}
	return pt
}

// clamp keeps a last sub-part within its parent's end: an empty part
// right at the boundary that ends both starts after the line end that
// the boundary takes from the parent.
func (pt *part) clamp(end int64) {
	if pt.end <= end {
		return
	}
	pt.hdrStart, pt.bodyStart, pt.end = min(pt.hdrStart, end), min(pt.bodyStart, end), end
	if n := len(pt.children); n > 0 {
		pt.children[n-1].clamp(end)
	}
	if pt.msg != nil {
		pt.msg.clamp(end)
	}
}

// header reads a part's header, up to the blank line after it, or an
// enclosing boundary (left unread) when there is no blank line.
func (p *partParser) header(hideState, mimeOnly bool) textproto.Header {
	var hdr []byte
	hiding := false
	keep := newMIMEFilter(mimeOnly)
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
		if hideState {
			if hiding = mbox.StateFieldLine(line, hiding); hiding {
				continue
			}
		}
		if len(hdr) < maxHeader && keep.line(line) {
			hdr = append(hdr, line...)
		}
	}
	return parseHeader(hdr)
}

// mimeFilter picks the lines of the Content-* fields from a header. It
// stops where textproto.ReadHeader stops (a line that is no field), so the
// fields kept are the ones a parse of the whole header would give.
type mimeFilter struct {
	on, in, stopped, started bool
}

func newMIMEFilter(on bool) *mimeFilter { return &mimeFilter{on: on} }

func (f *mimeFilter) line(line []byte) bool {
	if !f.on {
		return true
	}
	first := !f.started
	f.started = true
	if f.stopped {
		return false
	}
	if line[0] == ' ' || line[0] == '\t' {
		if first {
			f.stopped = true
		}
		return f.in
	}
	name, _, ok := bytes.Cut(line, []byte(":"))
	name = bytes.Trim(name, " \t")
	for _, c := range name {
		if c <= ' ' || c > '~' {
			ok = false
		}
	}
	if !ok {
		f.stopped = true
		return false
	}
	f.in = len(name) >= 8 && bytes.EqualFold(name[:8], []byte("content-"))
	return f.in
}

// skipToBoundary reads up to an enclosing boundary or EOF.
func (p *partParser) skipToBoundary() {
	for {
		p.skipLines()
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
		p.skipLines()
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
		p.skipLines()
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
	if len(raw) == 0 {
		return textproto.Header{}
	}
	raw = append(raw, "\r\n"...)
	h, err := textproto.ReadHeader(bufio.NewReaderSize(bytes.NewReader(raw), len(raw)))
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
