package mbox

import (
	"bufio"
	"bytes"
	"io"
)

// WriteMessage writes one message in mbox form to w: the From_ line, the
// content with CRLF stored as LF and every line matching ^>*From  given one
// more ">" (mboxrd, reversible, unlike mboxo), a final line end if the
// content lacked one, and the blank line that separates messages. It
// returns the bytes written.
func WriteMessage(w io.Writer, fromLine string, content io.Reader) (int64, error) {
	q := &quoter{w: w}
	if _, err := io.WriteString(q.w, fromLine+"\n"); err != nil {
		return 0, err
	}
	q.n = int64(len(fromLine) + 1)
	br := bufio.NewReaderSize(content, 64<<10)
	atStart := true
	last := byte('\n')
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			if werr := q.piece(chunk, atStart); werr != nil {
				return q.n, werr
			}
			last = chunk[len(chunk)-1]
			atStart = last == '\n'
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return q.n, err
		}
	}
	if q.pendCR {
		if err := q.write([]byte{'\r'}); err != nil {
			return q.n, err
		}
	}
	tail := "\n"
	if last != '\n' {
		tail = "\n\n"
	}
	err := q.write([]byte(tail))
	return q.n, err
}

type quoter struct {
	w       io.Writer
	n       int64
	pendCR  bool // a CR ended the previous piece; it is written or dropped by the next
	scratch []byte
}

func (q *quoter) write(b []byte) error {
	n, err := q.w.Write(b)
	q.n += int64(n)
	return err
}

// piece writes part of a line; atStart says it begins the line.
func (q *quoter) piece(b []byte, atStart bool) error {
	if q.pendCR {
		q.pendCR = false
		if b[0] != '\n' {
			if err := q.write([]byte{'\r'}); err != nil {
				return err
			}
		}
	}
	if atStart && len(b) > 0 && b[0] == '>' || atStart && bytes.HasPrefix(b, []byte("From ")) {
		i := 0
		for i < len(b) && b[i] == '>' {
			i++
		}
		if bytes.HasPrefix(b[i:], []byte("From ")) {
			if err := q.write([]byte{'>'}); err != nil {
				return err
			}
		}
	}
	switch {
	case len(b) >= 2 && b[len(b)-1] == '\n' && b[len(b)-2] == '\r':
		q.scratch = append(append(q.scratch[:0], b[:len(b)-2]...), '\n')
		b = q.scratch
	case b[len(b)-1] == '\r':
		// The LF may open the next piece.
		q.pendCR = true
		b = b[:len(b)-1]
	}
	return q.write(b)
}
