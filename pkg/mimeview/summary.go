package mimeview

import (
	"bytes"
	"strings"
	"time"
)

// Summary returns what mail's header listing shows of a message, from its
// raw header block (lines ending in LF or CRLF, as read from an mbox; a
// leading From_ line and anything after the empty line are ignored): the
// From field and the Subject, decoded for display (see DecodeHeader), and
// the Date, zero when missing or unparsable. from is the whole field, e.g.
// `Jürgen Müller <juergen@example.de>`; Skin gives its address.
//
// It is called once per message when a large mailbox is listed, so it only
// scans for the three fields and decodes nothing else.
func Summary(h []byte) (from, subject string, date time.Time) {
	// A field and its continuation lines are one contiguous range of h,
	// so the values are sub-slices: nothing is copied until decoding.
	var rawFrom, rawSubject, rawDate []byte
	var cur *[]byte // the field whose continuation lines we are in
	if bytes.HasPrefix(h, []byte("From ")) {
		_, h = cutLine(h)
	}
	for off := 0; off < len(h); {
		line, _ := cutLine(h[off:])
		start := off
		off += len(line)
		if line[0] == ' ' || line[0] == '\t' {
			if cur != nil {
				*cur = (*cur)[:len(*cur)+len(line)]
			}
			continue
		}
		cur = nil
		switch {
		case line[0] == '\n' || line[0] == '\r' && (len(line) == 1 || line[1] == '\n'):
			off = len(h) // the empty line: end of header
		case rawFrom == nil && hasFieldName(line, "from"):
			rawFrom = h[start+5 : off]
			cur = &rawFrom
		case rawSubject == nil && hasFieldName(line, "subject"):
			rawSubject = h[start+8 : off]
			cur = &rawSubject
		case rawDate == nil && hasFieldName(line, "date"):
			rawDate = h[start+5 : off]
			cur = &rawDate
		}
	}
	if rawDate != nil {
		date, _ = parseDate(unfold(rawDate))
	}
	return DecodeHeader(unfold(rawFrom)), DecodeHeader(unfold(rawSubject)), date
}

// hasFieldName reports whether line is the field name (lower case, ASCII)
// followed directly by a colon, in any case.
func hasFieldName(line []byte, name string) bool {
	if len(line) <= len(name) || line[len(name)] != ':' {
		return false
	}
	for i := 0; i < len(name); i++ {
		if line[i]|0x20 != name[i] {
			return false
		}
	}
	return true
}

// unfold joins a folded field value into one line with single spaces.
func unfold(v []byte) string {
	v = bytes.TrimRight(v, "\r\n")
	simple := true
	for _, c := range v {
		if c == '\n' || c == '\r' || c == '\t' {
			simple = false
			break
		}
	}
	if simple {
		return strings.TrimSpace(string(v))
	}
	return strings.Join(strings.Fields(string(v)), " ")
}

// Skin returns the address in a From value as Summary returns it, the way
// BSD mail's skin() does: what is inside the last <...>, else the value
// without comments. It does not need the display name to be well formed.
func Skin(from string) string {
	if i := strings.LastIndexByte(from, '<'); i >= 0 {
		if j := strings.IndexByte(from[i:], '>'); j > 0 {
			return strings.TrimSpace(from[i+1 : i+j])
		}
	}
	if i := strings.IndexByte(from, '('); i >= 0 {
		from = from[:i]
	}
	return strings.TrimSpace(from)
}
