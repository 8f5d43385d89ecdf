package mimeview

import (
	"bufio"
	"fmt"
	"strings"
	"unicode/utf8"
)

// renderer writes one message for Render. Write errors stick in the
// bufio.Writer and come out of its Flush.
type renderer struct {
	w    *bufio.Writer
	o    Options
	prev int // what was written last: nothing yet, text, or a bracketed line
}

const (
	wroteNothing = iota
	wroteText
	wroteBracket
)

// message writes a header and the body under it.
func (r *renderer) message(e *entity) {
	r.header(e)
	r.body(e)
}

// header writes the fields to be shown, and the empty line that ends them
// unless none was shown: hiding every field gives the bare body, as mail's
// write command saves it.
func (r *renderer) header(e *entity) {
	shown := false
	defer func() {
		if shown {
			r.w.WriteString("\n")
		}
		r.prev = wroteNothing
	}()
	fields := e.header.Fields()
	for fields.Next() {
		name := fields.Key()
		if raw, err := fields.Raw(); err == nil {
			if i := strings.IndexByte(string(raw), ':'); i > 0 {
				name = strings.TrimRight(string(raw[:i]), " \t")
			}
		}
		if r.o.ShowHeader != nil && !r.o.ShowHeader(name) {
			continue
		}
		r.w.WriteString(name + ": " + DecodeHeader(fields.Value()) + "\n")
		shown = true
	}
}

func (r *renderer) body(e *entity) {
	switch {
	case e.isMultipart():
		r.notes(e)
		r.multipart(e)
	case e.isMessage():
		r.list(e)
		r.notes(e)
		r.message(e.children[0])
	case isText(e.typ):
		r.text(e)
	default:
		r.list(e)
		r.notes(e)
	}
}

// multipart shows the parts RFC 2046 5.1 says a reader should: one
// alternative, the root of a related group, all parts of anything else
// (unknown subtypes are treated as mixed, 5.1.7).
func (r *renderer) multipart(e *entity) {
	switch e.typ {
	case "multipart/alternative":
		if c := chooseAlternative(e.children); c != nil {
			r.body(c)
			return
		}
	case "multipart/related":
		r.body(relatedRoot(e))
		return
	}
	for _, c := range e.children {
		r.body(c)
	}
}

// text shows a text part decoded, converted to UTF-8 and made safe for the
// terminal. A text part with a file name is announced like an attachment
// first, so the user sees which number to save.
func (r *renderer) text(e *entity) {
	if e.name != "" || e.disp == "attachment" {
		r.list(e)
	} else if r.prev != wroteNothing {
		r.blankLine()
	}
	data, p1 := decodeTransfer(e.cte, e.body)
	s, p2 := toUTF8(data, e.params["charset"])
	r.notes(e, p1, p2)
	if e.typ == "text/html" {
		s = htmlToText(s)
	}
	s = sanitize(s, false)
	if s == "" {
		return
	}
	r.w.WriteString(s)
	if !strings.HasSuffix(s, "\n") {
		r.w.WriteString("\n")
	}
	r.prev = wroteText
}

// list writes the one-line description of a part that is not shown.
func (r *renderer) list(e *entity) {
	if r.prev == wroteText {
		r.blankLine()
	}
	data, _ := decodeTransfer(e.cte, e.body)
	line := fmt.Sprintf("[-- #%s %s %s", e.num, sanitize(e.typ, true), humanSize(len(data)))
	if e.name != "" {
		room := r.o.Width - utf8.RuneCountInString(line) - len("  --]")
		line += " " + shorten(sanitize(e.name, true), room)
	}
	r.bracket(line + " --]")
}

// notes writes e's problems and any more found while decoding it.
func (r *renderer) notes(e *entity, more ...string) {
	for _, p := range append(e.problems[:len(e.problems):len(e.problems)], more...) {
		if p == "" {
			continue
		}
		if e.num != "" {
			r.bracket(fmt.Sprintf("[-- #%s: %s --]", e.num, p))
		} else {
			r.bracket(fmt.Sprintf("[-- %s --]", p))
		}
	}
}

func (r *renderer) bracket(line string) {
	r.w.WriteString(line + "\n")
	r.prev = wroteBracket
}

func (r *renderer) blankLine() {
	if r.prev != wroteNothing {
		r.w.WriteString("\n")
	}
}

func isText(typ string) bool {
	return strings.HasPrefix(typ, "text/") || typ == "message/delivery-status" ||
		typ == "message/disposition-notification"
}

// chooseAlternative picks the part of a multipart/alternative a terminal
// shows best: plain text, then a group holding plain text, then HTML, then
// any group (multipart/related HTML), then any text.
func chooseAlternative(parts []*entity) *entity {
	leaf := func(typ string) func(*entity) bool {
		return func(e *entity) bool { return len(e.children) == 0 && e.typ == typ }
	}
	hasPlain := func(e *entity) bool {
		found := false
		e.leaves(func(l *entity) { found = found || l.typ == "text/plain" })
		return e.isMultipart() && found
	}
	for _, want := range []func(*entity) bool{
		leaf("text/plain"),
		hasPlain,
		leaf("text/html"),
		(*entity).isMultipart,
		func(e *entity) bool { return isText(e.typ) },
	} {
		for _, p := range parts {
			if want(p) {
				return p
			}
		}
	}
	return nil
}

// relatedRoot is the part named by the start parameter, else the first
// (RFC 2387 3.2).
func relatedRoot(e *entity) *entity {
	if start := e.params["start"]; start != "" {
		for _, c := range e.children {
			if strings.TrimSpace(c.header.Get("Content-Id")) == start {
				return c
			}
		}
	}
	return e.children[0]
}

func humanSize(n int) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%dB", n)
	case n < 1024*1024:
		return fmt.Sprintf("%dK", (n+1023)/1024)
	}
	return fmt.Sprintf("%.1fM", float64(n)/(1024*1024))
}

// shorten cuts s to at most room runes by dropping its middle, keeping the
// end where a file name's extension is. It keeps a few runes however
// narrow the room.
func shorten(s string, room int) string {
	rs := []rune(s)
	room = max(room, 8)
	if len(rs) <= room {
		return s
	}
	tail := room / 2
	head := room - tail - 1
	return string(rs[:head]) + "…" + string(rs[len(rs)-tail:])
}
