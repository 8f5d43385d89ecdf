package mbox

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// ErrNotMbox is returned when a file does not begin with a From_ line.
var ErrNotMbox = errors.New("not an mbox file: it does not begin with a From_ line")

// Message is one message of an mbox as the Scanner found it: where it lies
// in the file and what its state headers say. Offsets are byte offsets in
// the file, so a reader can come back for the text with io.ReaderAt.
type Message struct {
	Offset        int64 // start of the From_ line
	HeaderOffset  int64 // first header line (the message content starts here)
	BodyOffset    int64 // first byte after the blank line that ends the header
	End           int64 // end of the content; the separator blank line is not part of it
	Next          int64 // start of the next From_ line, or the end of the file
	Sender        string
	Date          time.Time // from the From_ line; zero if it had none we could read
	Lines         int       // lines of content, header and body
	ContentLength int64     // the Content-Length header, or -1
	// ClientSize is the size of the content as a client is sent it, POP3's
	// RETR before dot-stuffing: the state header fields (IsStateHeader)
	// and their continuation lines left out of the header, one ">" taken
	// from each line quoted as ">From ", ">>From "... (mboxrd), every line
	// ending in CRLF (a CR before the LF is not doubled, a lone CR stays),
	// and a last line without a line end counted with the CRLF it is sent
	// with. It is -1 when the scan could not tell (a header longer than the
	// scanner's buffer, an absurdly long quoting run): then count it.
	ClientSize int64
	State
	// Pseudo marks UW c-client's folder-internal message ("DON'T DELETE
	// THIS MESSAGE"), which c-client and Dovecot hide from every list.
	Pseudo bool
	// Room is where the state fields lie, for a flag change in place.
	Room Room
	// Header is the raw header block, blank line included. It is only
	// valid until the next call to Scanner.Next.
	Header []byte
}

// Size is the length of the message content in the file.
func (m *Message) Size() int64 { return m.End - m.HeaderOffset }

const (
	initialBuf = 256 << 10
	maxBuf     = 8 << 20 // a header block or line longer than this is cut short
	keepBehind = 4       // bytes kept before pos, to see a separator's blank line
)

// Scanner reads an mbox as a stream of messages. Memory stays bounded by
// the longest header block (up to maxBuf), whatever the size of the file.
type Scanner struct {
	r     io.Reader
	ra    io.ReaderAt // for checking Content-Length; nil if r is not one
	buf   []byte
	pos   int   // next unread byte in buf
	end   int   // end of valid data in buf
	mark  int   // start of data that must stay in buf, or -1
	off   int64 // file offset of buf[0]
	eof   bool
	err   error
	first bool
	// atFileStart: this scanner starts at the file's first byte, where the
	// mailbox's own state (X-IMAPbase) lives. False for ScanFile's parts.
	atFileStart bool
	whole       bool // the file is one message: it began with no valid From_ line
	msg         Message
	base        *Base
	hdr         []byte // the current message's header block, copied out of buf
	body        bodyCount
}

// bodyCount is what the body scan counts toward Message.ClientSize, kept
// across refills of the buffer.
type bodyCount struct {
	lf, crlf, quoted int64
	// gt is the number of ">" from the start of the current line up to the
	// scan's position when the line so far is nothing else; -1 otherwise.
	gt        int
	noFinalLF bool // the content's last line has no line end
	unknown   bool
}

// maxQuoteRun is the longest run of ">" before "From " counted as quoting;
// beyond it the size is left for the send path to count, whose line
// buffer may see only part of the run.
const maxQuoteRun = 1024

// NewScanner reads the mbox in r from its start. If r is also an
// io.ReaderAt (an *os.File is), Content-Length headers are checked and
// honoured when right, as Dovecot and mutt do for mboxcl2 files.
func NewScanner(r io.Reader) *Scanner { return newScannerSize(r, initialBuf) }

// newScannerSize is NewScanner with a first buffer of n bytes (at most
// initialBuf), for a reader known to hold little.
func newScannerSize(r io.Reader, n int) *Scanner {
	s := &Scanner{r: r, buf: make([]byte, max(64, min(n, initialBuf))), mark: -1, first: true, atFileStart: true}
	if ra, ok := r.(io.ReaderAt); ok {
		s.ra = ra
	}
	return s
}

// scanBytes is a Scanner of b alone, which it reads in place.
func scanBytes(b []byte) *Scanner {
	return &Scanner{r: bytes.NewReader(nil), buf: b, end: len(b), eof: true, mark: -1, first: true, atFileStart: true}
}

// Base is the mailbox's IMAP state from the first message's X-IMAPbase or
// a UW pseudo-message, once the first message has been read; nil if none.
func (s *Scanner) Base() *Base { return s.base }

// Err is the first error met, other than the end of the file.
func (s *Scanner) Err() error { return s.err }

// Message is the message the last successful Next found.
func (s *Scanner) Message() *Message { return &s.msg }

// fill reads more data, keeping everything from mark (or a few bytes before
// pos) in the buffer. It reports whether anything new arrived.
func (s *Scanner) fill() bool {
	if s.eof || s.err != nil {
		return false
	}
	keep := s.pos - keepBehind
	if keep < 0 {
		keep = 0
	}
	if s.mark >= 0 && s.mark < keep {
		keep = s.mark
	}
	if keep > 0 {
		copy(s.buf, s.buf[keep:s.end])
		s.off += int64(keep)
		s.pos -= keep
		s.end -= keep
		if s.mark >= 0 {
			s.mark -= keep
		}
	}
	if s.end == len(s.buf) {
		if len(s.buf) >= maxBuf {
			return false
		}
		nb := make([]byte, 2*len(s.buf))
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	for {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if err == io.EOF {
			s.eof = true
			return n > 0
		}
		if err != nil {
			s.err = fmt.Errorf("read mbox: %w", err)
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
}

// need reads until at least n bytes lie after pos or no more will come,
// since a reader may return less than asked for (a pipe, a network). It
// reports whether n bytes are there.
func (s *Scanner) need(n int) bool {
	for s.end-s.pos < n {
		if !s.fill() {
			return false
		}
	}
	return true
}

// line returns the line starting at pos, line end included, reading more
// as needed. At the end of the file the last line may lack its line end; a
// line longer than the buffer can hold comes back cut short.
func (s *Scanner) line() []byte {
	for {
		if i := bytes.IndexByte(s.buf[s.pos:s.end], '\n'); i >= 0 {
			return s.buf[s.pos : s.pos+i+1]
		}
		if !s.fill() {
			return s.buf[s.pos:s.end]
		}
	}
}

func isBlank(line []byte) bool {
	return len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n'
}

// Next finds the next message. It returns false at the end of the file or
// on an error, which Err then reports.
func (s *Scanner) Next() bool {
	if s.err != nil {
		return false
	}
	if s.first {
		// Tolerate blank lines before the first From_ line.
		for s.need(1) && (s.buf[s.pos] == '\n' || s.buf[s.pos] == '\r') {
			s.pos++
		}
		if s.pos == s.end {
			return false
		}
		if !s.need(5) || !bytes.HasPrefix(s.buf[s.pos:s.end], []byte("From ")) {
			if s.err == nil {
				s.err = ErrNotMbox
			}
			return false
		}
	}
	if s.pos >= s.end && !s.fill() {
		return false
	}
	m := &s.msg
	*m = Message{Offset: s.off + int64(s.pos), ContentLength: -1}
	s.body = bodyCount{}
	s.mark = s.pos
	from := s.line()
	sender, date, ok := ParseFromLine(from)
	if !ok && s.first && s.atFileStart {
		// A file whose first line is "From x <not a date>" is not really
		// an mbox; like c-client and mutt we read it as one message.
		if f := bytes.Fields(from[5:]); len(f) > 0 {
			sender = string(f[0])
		}
		s.whole = true
	}
	m.Sender, m.Date = sender, date
	s.pos += len(from)
	m.HeaderOffset = s.off + int64(s.pos)

	if s.header(m) {
		s.scanBody(m)
	}
	m.ClientSize = s.clientSize(m)
	s.first = false
	return true
}

// header reads the header block. It returns false when the message ended
// inside it (at the end of the file, or at a From_ line with no blank line
// before it).
func (s *Scanner) header(m *Message) bool {
	start := m.HeaderOffset
	for {
		line := s.line()
		if len(line) == 0 && !s.eof && s.err == nil {
			// The buffer is full of header: cut it short here and read
			// on as body, so the messages after it are still found.
			s.endHeader(m, start, s.off+int64(s.pos))
			m.BodyOffset = m.End
			s.body.unknown = true
			return true
		}
		if len(line) == 0 {
			s.endHeader(m, start, s.off+int64(s.pos))
			m.BodyOffset, m.Next = m.End, m.End
			return false
		}
		if bytes.HasPrefix(line, []byte("From ")) && !s.whole {
			if _, _, ok := ParseFromLine(line); ok {
				s.endHeader(m, start, s.off+int64(s.pos))
				m.BodyOffset, m.Next = m.End, m.End
				return false
			}
		}
		s.pos += len(line)
		m.Lines++
		if line[len(line)-1] != '\n' && len(s.buf) >= maxBuf {
			s.body.unknown = true
		}
		if isBlank(line) || line[len(line)-1] != '\n' && len(s.buf) >= maxBuf {
			s.endHeader(m, start, s.off+int64(s.pos))
			m.BodyOffset = s.off + int64(s.pos)
			return true
		}
	}
}

// endHeader parses the header block [start, end) while it is still in the
// buffer, and lets the buffer go.
func (s *Scanner) endHeader(m *Message, start, end int64) {
	// A copy, since reading the body moves the buffer's contents.
	s.hdr = append(s.hdr[:0], s.buf[int(start-s.off):int(end-s.off)]...)
	m.Header = s.hdr
	m.End = end
	parseHeader(s.hdr, m, s.first && s.atFileStart, &s.base)
	m.Room = roomOf(s.hdr)
	s.mark = -1
}

// scanBody finds where the body ends: at the next valid From_ line (past the
// Content-Length, when that is right) or at the end of the file.
func (s *Scanner) scanBody(m *Message) {
	minSep := m.BodyOffset
	if s.whole {
		minSep = math.MaxInt64
	}
	if m.ContentLength >= 0 && s.ra != nil {
		if end := m.BodyOffset + m.ContentLength; s.boundaryAt(end) {
			minSep = end
		}
	}
	sep := []byte("\nFrom ")
	// A From_ line right at the start of the body: an empty body.
	s.need(len(sep) - 1)
	if bytes.HasPrefix(s.buf[s.pos:s.end], sep[1:]) && s.off+int64(s.pos) >= minSep && s.validFromAt(s.pos) {
		s.finish(m, s.pos)
		return
	}
	// Search for "From " and look back for the line end: 'F' is rarer
	// than '\n', so this skips text faster than searching "\nFrom ".
	from := sep[1:]
	for {
		i := bytes.Index(s.buf[s.pos:s.end], from)
		if i < 0 {
			if s.eof || s.err != nil {
				s.count(m, s.pos, s.end)
				if s.end > 0 && s.buf[s.end-1] != '\n' && s.off+int64(s.end) > m.BodyOffset {
					m.Lines++ // a last line without its line end
					s.body.noFinalLF = true
				}
				s.pos = s.end
				s.finish(m, s.end)
				return
			}
			upto := s.end - (len(from) - 1)
			if upto > s.pos {
				s.count(m, s.pos, upto)
				s.pos = upto
			}
			s.fill()
			continue
		}
		j := s.pos + i // a "From " ...
		s.count(m, s.pos, j)
		if j == 0 || s.buf[j-1] != '\n' {
			// ... inside a line, perhaps after the ">"s that quote it.
			if s.body.gt > maxQuoteRun {
				s.body.unknown = true
			} else if s.body.gt > 0 {
				s.body.quoted++
			}
			s.body.gt = -1
			s.pos = j + 1
			continue
		}
		s.pos = j
		if s.off+int64(j) >= minSep && s.validFromAt(j) {
			s.finish(m, s.pos)
			return
		}
		s.body.gt = -1
		s.pos++ // not a separator; search on past it
	}
}

// count counts the body text buf[a:b], which follows what was counted
// before it: lines, CRLF line ends (the byte before a is still in the
// buffer, keepBehind), and whether the line it ends in is all ">" so far.
func (s *Scanner) count(m *Message, a, b int) {
	n := bytes.Count(s.buf[a:b], []byte("\n"))
	m.Lines += n
	s.body.lf += int64(n)
	before := a
	if before > 0 {
		before--
	}
	s.body.crlf += int64(bytes.Count(s.buf[before:b], []byte("\r\n")))
	rest := s.buf[a:b]
	if k := bytes.LastIndexByte(rest, '\n'); k >= 0 {
		rest, s.body.gt = rest[k+1:], 0
	}
	if s.body.gt < 0 {
		return
	}
	for _, c := range rest {
		if c != '>' {
			s.body.gt = -1
			return
		}
		s.body.gt++
	}
}

// clientSize works out Message.ClientSize once the message's end is known.
func (s *Scanner) clientSize(m *Message) int64 {
	c := &s.body
	if c.unknown {
		return -1
	}
	size, ok := headerClientSize(m.Header)
	if !ok {
		return -1
	}
	if m.End > m.BodyOffset {
		size += m.End - m.BodyOffset + c.lf - c.crlf - c.quoted
		if c.noFinalLF {
			size += 2
		}
	}
	return size
}

// validFromAt reports whether a valid From_ line starts at buf[i]. It may
// read more, which moves the buffer; it then keeps pos == i.
func (s *Scanner) validFromAt(i int) bool {
	s.pos = i
	line := s.line()
	_, _, ok := ParseFromLine(line)
	return ok
}

// finish ends the message whose next From_ line (or the file's end) is at
// buf[at]. The blank line before a From_ line separates; it is not content.
func (s *Scanner) finish(m *Message, at int) {
	m.Next = s.off + int64(at)
	m.End = m.Next
	sepLen := 0
	switch {
	case at >= 4 && string(s.buf[at-4:at]) == "\r\n\r\n":
		sepLen = 2
	case at >= 2 && s.buf[at-1] == '\n' && s.buf[at-2] == '\n':
		sepLen = 1
	}
	if sepLen == 0 {
		return
	}
	m.End -= int64(sepLen)
	m.Lines--
	s.body.lf--
	if sepLen == 2 {
		s.body.crlf--
	}
	// The blank line that seemed to end the header was the separator: the
	// message has a header and no body, as a writer stored "H: v\n" (and
	// as Python's mailbox reads it).
	if m.End < m.BodyOffset {
		m.BodyOffset = m.End
		m.Header = m.Header[:m.End-m.HeaderOffset]
		m.Room = Room{}
	}
}

// boundaryAt reports whether a message may end at off: the file ends
// there (after at most a blank line), or a From_ line follows after at most
// one line end. The read starts at the byte before off, so that an off past
// the end of the file is told from one right at it.
func (s *Scanner) boundaryAt(off int64) bool {
	buf := make([]byte, 513)
	n, _ := s.ra.ReadAt(buf, off-1)
	if n == 0 {
		return false
	}
	b := buf[1:n]
	switch {
	case bytes.HasPrefix(b, []byte("\r\n")):
		b = b[2:]
	case bytes.HasPrefix(b, []byte("\n")):
		b = b[1:]
	}
	if len(b) == 0 {
		return n < len(buf)
	}
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	_, _, ok := ParseFromLine(b)
	return ok
}
