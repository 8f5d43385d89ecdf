package mbox

import (
	"bufio"
	"bytes"
	"io"
)

// Content returns a reader of the message's content as it was before it
// was stored: one ">" taken from body lines quoted as ">From ", ">>From "...
// (mboxrd), and CRLF line ends read as LF.
func (m *Message) Content(ra io.ReaderAt) io.Reader {
	return NewUnquoter(io.NewSectionReader(ra, m.HeaderOffset, m.End-m.HeaderOffset))
}

// Raw returns a reader of the message's content exactly as stored.
func (m *Message) Raw(ra io.ReaderAt) *io.SectionReader {
	return io.NewSectionReader(ra, m.HeaderOffset, m.End-m.HeaderOffset)
}

// unquoter undoes mboxrd quoting line by line.
type unquoter struct {
	r       *bufio.Reader
	pending []byte
	lineEnd bool // at the start of a line
}

// NewUnquoter reads stored mbox content and yields the original.
func NewUnquoter(r io.Reader) io.Reader {
	return &unquoter{r: bufio.NewReaderSize(r, 64<<10), lineEnd: true}
}

func (u *unquoter) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(u.pending) > 0 {
			c := copy(p[n:], u.pending)
			u.pending = u.pending[c:]
			n += c
			continue
		}
		chunk, err := u.r.ReadSlice('\n')
		if len(chunk) > 0 {
			u.pending = u.transform(chunk)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if len(u.pending) > 0 {
				continue
			}
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
	}
	return n, nil
}

// transform rewrites one piece of a line; pieces of a long line arrive in
// several calls, and only the first is at a line start.
func (u *unquoter) transform(chunk []byte) []byte {
	start := u.lineEnd
	u.lineEnd = chunk[len(chunk)-1] == '\n'
	if start && len(chunk) > 0 && chunk[0] == '>' {
		q := 0
		for q < len(chunk) && chunk[q] == '>' {
			q++
		}
		if bytes.HasPrefix(chunk[q:], []byte("From ")) {
			chunk = chunk[1:]
		}
	}
	if u.lineEnd && len(chunk) >= 2 && chunk[len(chunk)-2] == '\r' {
		chunk = append(chunk[:len(chunk)-2:len(chunk)-2], '\n')
	}
	return chunk
}
