package mbox

import (
	"bufio"
	"errors"
	"io"
	"sync"
)

// ClientContent returns a reader of the message's content as a client is
// sent it, exactly the ClientSize bytes that Message.ClientSize counts: the
// state header fields left out (StateFieldLine), one ">" taken from each
// line quoted as ">From " (QuotedFrom), every line ending in CRLF, and a
// last line without a line end given one. The IMAP server sends this as
// BODY[]; POP3's RETR sends the same before dot-stuffing.
func (m *Message) ClientContent(ra io.ReaderAt) io.Reader {
	b := clientBufs.Get().(*clientBuf)
	b.br.Reset(m.Raw(ra))
	return &clientReader{buf: b, br: b.br, base: b.out[:0], left: m.ClientSize, atStart: true, inHeader: true}
}

// clientBufs recycles the buffers of the readers read to their end: a
// FETCH of many messages then allocates (and, in a fresh process, faults
// in page by page) a few buffers, not two for each message.
var clientBufs = sync.Pool{New: func() any {
	// Room for a read's worth of output, line ends grown to CRLF.
	return &clientBuf{br: bufio.NewReaderSize(nil, 64<<10), out: make([]byte, 0, 72<<10+64)}
}}

type clientBuf struct {
	br  *bufio.Reader
	out []byte
}

// clientReader makes the client's form of stored content, a line (or a
// piece of a long line) at a time.
type clientReader struct {
	buf       *clientBuf // nil once given back
	br        *bufio.Reader
	base      []byte // what out is made in
	out       []byte
	left      int64 // of ClientSize not yet read (it may be -1: unknown)
	err       error
	atStart   bool // the next byte starts a line
	inHeader  bool
	hiding    bool // in a state field, its continuation lines included
	pendingCR bool // the last piece ended in a CR: part of a CRLF, or text
}

func (c *clientReader) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		if c.err != nil {
			c.release()
			return 0, c.err
		}
		c.fill(len(p))
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	if c.left -= int64(n); c.left == 0 && len(c.out) == 0 && c.err == nil {
		// All ClientSize bytes are out, and a reader limited to them
		// asks no more: the end is found now, to give the buffers back.
		c.fill(1)
	}
	if len(c.out) == 0 && c.err != nil {
		c.release()
	}
	return n, nil
}

// release gives the buffers back once all was read.
func (c *clientReader) release() {
	if c.buf == nil {
		return
	}
	c.buf.br.Reset(nil)
	c.buf.out = c.base[:0]
	clientBufs.Put(c.buf)
	c.buf, c.br, c.base = nil, nil, nil
}

// fill makes at least want bytes of output, or what is left.
func (c *clientReader) fill(want int) {
	c.out = c.base[:0]
	for len(c.out) < want && c.err == nil {
		chunk, err := c.br.ReadSlice('\n')
		if len(chunk) > 0 {
			c.piece(chunk)
		}
		switch {
		case err == nil || errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			if c.pendingCR {
				c.out = append(c.out, '\r')
			}
			if !c.atStart && !c.hiding {
				c.out = append(c.out, '\r', '\n')
			}
			c.err = io.EOF
		default:
			c.err = err
		}
	}
	c.base = c.out[:0] // grown, maybe
}

// piece adds one line, or one piece of a line longer than the buffer.
func (c *clientReader) piece(chunk []byte) {
	whole := chunk[len(chunk)-1] == '\n'
	start := c.atStart
	c.atStart = whole
	if start && c.inHeader {
		c.hiding = StateFieldLine(chunk, c.hiding)
	}
	if c.hiding {
		return
	}
	if start {
		if QuotedFrom(chunk) {
			chunk = chunk[1:]
		}
		if c.inHeader && (string(chunk) == "\n" || string(chunk) == "\r\n") {
			c.inHeader = false
		}
	}
	if c.pendingCR {
		if chunk[0] != '\n' {
			c.out = append(c.out, '\r')
		}
		c.pendingCR = false
	}
	switch {
	case whole:
		text := chunk[:len(chunk)-1]
		if n := len(text); n > 0 && text[n-1] == '\r' {
			text = text[:n-1]
		}
		c.out = append(append(c.out, text...), '\r', '\n')
	case chunk[len(chunk)-1] == '\r':
		c.out = append(c.out, chunk[:len(chunk)-1]...)
		c.pendingCR = true
	default:
		c.out = append(c.out, chunk...)
	}
}
