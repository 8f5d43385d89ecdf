package mimeview

import (
	"bufio"
	"io"
)

// maxHeaderLine is the most of one header line kept for showing: RFC 5322
// 2.1.1 allows 998 characters, so nothing honest is cut, and a 100 MB line
// (which a sender can make) costs no memory.
const maxHeaderLine = 8 << 10

// cutMark ends a header line that was cut.
const cutMark = " [...]"

// headerCutter passes a message through, cutting each line of its header
// (up to the first empty line) after maxHeaderLine bytes.
type headerCutter struct {
	r        *bufio.Reader
	inHeader bool
	lineLen  int  // bytes of the current header line so far, CRs aside
	cut      bool // the current line was cut: drop the rest of it
}

func cutHeaderLines(r io.Reader) io.Reader {
	return &headerCutter{r: bufio.NewReader(r), inHeader: true}
}

func (h *headerCutter) Read(p []byte) (int, error) {
	if !h.inHeader {
		return h.r.Read(p)
	}
	n := 0
	for n < len(p) {
		c, err := h.r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		switch {
		case c == '\n':
			empty := h.lineLen == 0
			h.lineLen, h.cut = 0, false
			p[n] = c
			n++
			if empty {
				h.inHeader = false
				return n, nil
			}
		case h.cut:
		case c == '\r':
			p[n] = c
			n++
		case h.lineLen == maxHeaderLine:
			h.cut = true
			if len(p)-n < len(cutMark) {
				h.r.UnreadByte()
				h.cut = false
				return n, nil
			}
			n += copy(p[n:], cutMark)
		default:
			h.lineLen++
			p[n] = c
			n++
		}
	}
	return n, nil
}
