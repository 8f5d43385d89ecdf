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
	// CRs left pending at the end stand before the line end added below,
	// so they go as a CR before an LF does.
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
	pendCR  int // CRs that ended the previous piece; written or dropped by the next
	scratch []byte
}

func (q *quoter) write(b []byte) error {
	n, err := q.w.Write(b)
	q.n += int64(n)
	return err
}

// piece writes part of a line; atStart says it begins the line.
func (q *quoter) piece(b []byte, atStart bool) error {
	if q.pendCR > 0 {
		rest := bytes.TrimLeft(b, "\r")
		if len(rest) == 0 {
			q.pendCR += len(b) // the run of CRs goes on
			return nil
		}
		if rest[0] != '\n' {
			if err := q.write(bytes.Repeat([]byte{'\r'}, q.pendCR)); err != nil {
				return err
			}
		}
		q.pendCR = 0
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
	// Every CR before an LF goes, not just one: the reader takes CRLF for
	// LF too (CRLF mbox files), so "a\r\r\n" stored as "a\r\n" would not
	// read back the same.
	body := bytes.TrimRight(b, "\r\n")
	if b[len(b)-1] == '\n' {
		if len(body) < len(b)-1 {
			q.scratch = append(append(q.scratch[:0], body...), '\n')
			b = q.scratch
		}
	} else if len(body) < len(b) {
		// The LF may open the next piece.
		q.pendCR = len(b) - len(body)
		b = body
	}
	return q.write(b)
}
