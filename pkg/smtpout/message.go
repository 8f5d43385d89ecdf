package smtpout

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// maxLine is the longest text line RFC 5321 4.5.3.1.6 lets us send,
// without its CRLF.
const maxLine = 998

var errLongLine = errors.New("message has a line longer than 998 octets")

// shape is what measuring a message tells the SMTP dialogue.
type shape struct {
	size        int64 // octets as sent, CRLF line ends, before dot-stuffing
	eightBit    bool  // a byte above 127 anywhere
	eightHeader bool  // one in the header: SMTPUTF8 (RFC 6532) if offered
}

// copyLines writes the message to w as SMTP wants it: every line ended by
// CRLF, whether it came with LF or CRLF, and a stray CR (which could help
// smuggle an end of data to the next server) replaced by a space, as
// Postfix's cleanup does. A line longer than maxLine fails the copy rather
// than be cut or folded, which would corrupt the message.
func copyLines(w io.Writer, r io.Reader) (shape, error) {
	var s shape
	br := bufio.NewReaderSize(r, 4096)
	inHeader := true
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return s, errLongLine
		}
		if err != nil && err != io.EOF {
			return s, err
		}
		if len(line) == 0 && err == io.EOF {
			return s, nil
		}
		text := bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(text) > maxLine {
			return s, errLongLine
		}
		for i, c := range text {
			if c == '\r' {
				text[i] = ' '
			}
			if c >= 0x80 {
				s.eightBit = true
				s.eightHeader = s.eightHeader || inHeader
			}
		}
		if len(text) == 0 {
			inHeader = false
		}
		if _, werr := w.Write(text); werr != nil {
			return s, werr
		}
		if _, werr := io.WriteString(w, "\r\n"); werr != nil {
			return s, werr
		}
		s.size += int64(len(text)) + 2
		if err == io.EOF {
			return s, nil
		}
	}
}
