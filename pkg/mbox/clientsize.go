package mbox

import "bytes"

// StateFieldLine reports whether line, the start of a header line, belongs
// to a state header field (IsStateHeader): a field of its own by its name,
// a continuation line by the field it continues (hiding). The blank line
// ends the header and is no field. Readers that hide the state fields and
// Message.ClientSize agree through it.
func StateFieldLine(line []byte, hiding bool) bool {
	switch {
	case len(line) == 0:
		return false
	case line[0] == ' ' || line[0] == '\t':
		return hiding
	case line[0] == '\n' || line[0] == '\r':
		return false
	}
	name, _, ok := bytes.Cut(line, []byte(":"))
	return ok && trusted(name)
}

// QuotedFrom reports whether line is a From_ line quoted for mboxrd: ">"s,
// then "From ".
func QuotedFrom(line []byte) bool {
	q := 0
	for q < len(line) && line[q] == '>' {
		q++
	}
	return q > 0 && bytes.HasPrefix(line[q:], []byte("From "))
}

// headerClientSize is the header block's part of Message.ClientSize. It is
// not ok when a quoting run is too long to be sure of (maxQuoteRun).
func headerClientSize(block []byte) (int64, bool) {
	var size int64
	hiding := false
	for len(block) > 0 {
		line := block
		if i := bytes.IndexByte(block, '\n'); i >= 0 {
			line = block[:i+1]
		}
		block = block[len(line):]
		if hiding = StateFieldLine(line, hiding); hiding {
			continue
		}
		if QuotedFrom(line) {
			if bytes.IndexByte(line, 'F') > maxQuoteRun {
				return 0, false
			}
			size--
		}
		size += int64(len(line))
		switch {
		case line[len(line)-1] != '\n':
			size += 2
		case len(line) >= 2 && line[len(line)-2] == '\r':
		default:
			size++
		}
	}
	return size, true
}
