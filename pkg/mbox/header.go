package mbox

import (
	"bytes"
	"strconv"
)

// parseHeader reads the state headers of one message's header block. Only
// the first message may carry the mailbox's X-IMAPbase, or be UW's X-IMAP
// pseudo-message; elsewhere those headers are ignored.
func parseHeader(block []byte, m *Message, first bool, base **Base) {
	forEachField(block, func(name, value []byte) {
		if !trusted(name) {
			return
		}
		switch {
		case bytes.EqualFold(name, []byte("Status")):
			m.Flags |= parseStatus(value)
		case bytes.EqualFold(name, []byte("X-Status")):
			m.Flags |= parseXStatus(value)
		case bytes.EqualFold(name, []byte("X-Keywords")):
			m.Keywords = append(m.Keywords, parseKeywords(value)...)
		case bytes.EqualFold(name, []byte("X-UID")):
			m.UID = parseUID(value)
		case bytes.EqualFold(name, []byte("Content-Length")):
			if n, err := strconv.ParseInt(string(bytes.TrimSpace(value)), 10, 64); err == nil && n >= 0 {
				m.ContentLength = n
			}
		case first && bytes.EqualFold(name, []byte("X-IMAPbase")):
			if b, ok := parseBase(value); ok {
				*base = b
			}
		case first && bytes.EqualFold(name, []byte("X-IMAP")):
			if b, ok := parseBase(value); ok {
				*base = b
				m.Pseudo = true
			}
		}
	})
}

// forEachField calls fn for each field of a header block with its name and
// its value, unfolded lines joined. Lines that are not fields are skipped.
func forEachField(block []byte, fn func(name, value []byte)) {
	var name, value []byte
	var folded []byte // the unfolded value, built only when a field is folded
	flush := func() {
		if name != nil {
			if folded != nil {
				fn(name, folded)
			} else {
				fn(name, value)
			}
		}
		name, value, folded = nil, nil, nil
	}
	for len(block) > 0 {
		i := bytes.IndexByte(block, '\n')
		var line []byte
		if i < 0 {
			line, block = block, nil
		} else {
			line, block = block[:i], block[i+1:]
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if name != nil {
				if folded == nil {
					folded = append([]byte(nil), value...)
				}
				folded = append(append(folded, ' '), bytes.TrimSpace(line)...)
			}
			continue
		}
		flush()
		c := bytes.IndexByte(line, ':')
		if c <= 0 {
			continue
		}
		name, value = bytes.TrimRight(line[:c], " \t"), bytes.TrimSpace(line[c+1:])
	}
	flush()
}

// HeaderFields calls fn with each field of a raw header block, folded lines
// joined; for readers that want more than the state headers.
func HeaderFields(block []byte, fn func(name, value []byte)) { forEachField(block, fn) }
