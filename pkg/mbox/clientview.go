package mbox

import (
	"bufio"
	"errors"
	"io"
)

// ClientContent returns a reader of the message's content as a client is
// sent it, exactly the ClientSize bytes that Message.ClientSize counts: the
// state header fields left out (StateFieldLine), one ">" taken from each
// line quoted as ">From " (QuotedFrom), every line ending in CRLF, and a
// last line without a line end given one. The IMAP server sends this as
// BODY[]; POP3's RETR sends the same before dot-stuffing.
func (m *Message) ClientContent(ra io.ReaderAt) io.Reader {
	size := m.End - m.HeaderOffset
	bufSize := 64 << 10
	if size < int64(bufSize) {
		bufSize = int(size) + 1 // one read for a small message
	}
	// Room for a read's worth of output, line ends grown to CRLF.
	out := make([]byte, 0, min(size+size/8, 40<<10)+64)
	return &clientReader{br: bufio.NewReaderSize(m.Raw(ra), bufSize), out: out, atStart: true, inHeader: true}
}

// clientReader makes the client's form of stored content, a line (or a
// piece of a long line) at a time.
type clientReader struct {
	br        *bufio.Reader
	out       []byte
	err       error
	atStart   bool // the next byte starts a line
	inHeader  bool
	hiding    bool // in a state field, its continuation lines included
	pendingCR bool // the last piece ended in a CR: part of a CRLF, or text
}

func (c *clientReader) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		c.fill(len(p))
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

// fill makes at least want bytes of output, or what is left.
func (c *clientReader) fill(want int) {
	c.out = c.out[:0]
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
