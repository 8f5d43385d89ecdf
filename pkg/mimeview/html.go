package mimeview

import (
	"html"
	"strings"
)

// htmlText renders HTML as plain text for a terminal: tags are dropped,
// entities decoded, script and style dropped with their content, block
// elements and <br> become line breaks, and white space collapses the way a
// browser collapses it (except inside <pre>). It is a reader's view, not a
// conforming HTML parser: it never fails, whatever the markup.
type htmlText struct {
	b        strings.Builder
	space    bool // white space seen since the last word
	pre      int  // depth of <pre>
	linkAt   int  // b.Len() where the current <a> started, -1 if none
	linkHref string
}

// rawTextTags have content that is not markup and not shown.
var rawTextTags = map[string]bool{"script": true, "style": true, "title": true, "template": true}

var paragraphTags = map[string]bool{
	"p": true, "h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true,
	"blockquote": true, "pre": true, "ul": true, "ol": true, "table": true, "dl": true, "hr": true,
}

var lineTags = map[string]bool{
	"br": true, "div": true, "tr": true, "li": true, "dt": true, "dd": true, "section": true,
	"article": true, "header": true, "footer": true, "nav": true, "aside": true, "main": true,
	"address": true, "figure": true, "figcaption": true, "form": true, "center": true, "caption": true,
}

func htmlToText(s string) string {
	t := &htmlText{linkAt: -1}
	for len(s) > 0 {
		lt := strings.IndexByte(s, '<')
		if lt < 0 {
			t.text(s)
			break
		}
		t.text(s[:lt])
		s = s[lt:]
		if strings.HasPrefix(s, "<!--") {
			end := strings.Index(s[4:], "-->")
			if end < 0 {
				break
			}
			s = s[4+end+3:]
			continue
		}
		if !startsTag(s) {
			t.text("<") // "5 < 6": not markup, as browsers read it
			s = s[1:]
			continue
		}
		end := tagEnd(s)
		if end < 0 {
			t.text(s) // "<" with no ">": it was text after all
			break
		}
		name, closing, attrs := parseTag(s[1:end])
		s = s[end+1:]
		if name == "" {
			continue
		}
		if !closing && rawTextTags[name] {
			s = skipPast(s, "</"+name)
			continue
		}
		t.tag(name, closing, attrs)
	}
	return tidyLines(t.b.String())
}

// startsTag reports whether the '<' that starts s opens a tag, comment or
// declaration (HTML 13.2.5.6: a letter, '/', '!' or '?' must follow).
func startsTag(s string) bool {
	if len(s) < 2 {
		return false
	}
	c := s[1] | 0x20
	return c >= 'a' && c <= 'z' || s[1] == '/' || s[1] == '!' || s[1] == '?'
}

// tagEnd finds the '>' closing the tag that starts s, skipping quoted
// attribute values; -1 if there is none.
func tagEnd(s string) int {
	var quote, prev byte
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case (c == '"' || c == '\'') && prev == '=':
			quote = c
		case c == '>':
			return i
		}
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			prev = c
		}
	}
	return -1
}

// skipPast returns s after the end tag that starts with closer (matched
// without regard to case), or "" when there is none, as browsers do.
func skipPast(s, closer string) string {
	i := strings.Index(strings.ToLower(s), closer)
	if i < 0 {
		return ""
	}
	s = s[i:]
	if j := strings.IndexByte(s, '>'); j >= 0 {
		return s[j+1:]
	}
	return ""
}

// parseTag splits the inside of a tag into its lower-case name, whether it
// is an end tag, and the attributes this renderer uses (href, alt).
func parseTag(in string) (name string, closing bool, attrs map[string]string) {
	in = strings.TrimSpace(in)
	if rest, ok := strings.CutPrefix(in, "/"); ok {
		closing, in = true, rest
	}
	i := strings.IndexAny(in, " \t\r\n/")
	if i < 0 {
		i = len(in)
	}
	name = strings.ToLower(in[:i])
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == ':') {
			return "", false, nil // <!DOCTYPE>, <?xml?>, "< 3" ...
		}
	}
	rest := in[i:]
	for _, want := range []string{"href", "alt"} {
		if v, ok := attr(rest, want); ok {
			if attrs == nil {
				attrs = map[string]string{}
			}
			attrs[want] = html.UnescapeString(v)
		}
	}
	return name, closing, attrs
}

// attr finds name="value", name='value' or name=value in an attribute list.
func attr(s, name string) (string, bool) {
	lower := strings.ToLower(s)
	for from := 0; ; {
		i := strings.Index(lower[from:], name)
		if i < 0 {
			return "", false
		}
		i += from
		from = i + len(name)
		if i > 0 && !strings.ContainsRune(" \t\r\n", rune(s[i-1])) {
			continue
		}
		v := strings.TrimLeft(s[from:], " \t\r\n")
		if !strings.HasPrefix(v, "=") {
			continue
		}
		v = strings.TrimLeft(v[1:], " \t\r\n")
		if v != "" && (v[0] == '"' || v[0] == '\'') {
			if end := strings.IndexByte(v[1:], v[0]); end >= 0 {
				return v[1 : 1+end], true
			}
			return v[1:], true
		}
		if end := strings.IndexAny(v, " \t\r\n"); end >= 0 {
			return v[:end], true
		}
		return v, true
	}
}

func (t *htmlText) tag(name string, closing bool, attrs map[string]string) {
	switch {
	case name == "pre":
		t.paragraph()
		if closing {
			t.pre = max(t.pre-1, 0)
		} else {
			t.pre++
		}
	case name == "hr":
		t.paragraph()
		t.b.WriteString("--------")
		t.paragraph()
	case paragraphTags[name]:
		t.paragraph()
	case name == "li" && !closing:
		t.newline()
		t.b.WriteString("* ")
	case lineTags[name]:
		t.newline()
	case name == "td" || name == "th":
		t.space = true
	case name == "img" && attrs["alt"] != "":
		t.word("[" + attrs["alt"] + "]")
	case name == "a" && !closing:
		t.linkAt, t.linkHref = t.b.Len(), attrs["href"]
	case name == "a" && closing:
		t.endLink()
	}
}

// endLink shows a link's target after its text when the text does not
// already say it, so the user can still follow it.
func (t *htmlText) endLink() {
	href := t.linkHref
	text := ""
	if t.linkAt >= 0 && t.linkAt <= t.b.Len() {
		text = strings.TrimSpace(t.b.String()[t.linkAt:])
	}
	t.linkAt, t.linkHref = -1, ""
	if href == "" || strings.HasPrefix(href, "#") || strings.HasPrefix(strings.ToLower(href), "javascript:") {
		return
	}
	if text == href || "mailto:"+text == href {
		return
	}
	t.space = true
	t.word("<" + href + ">")
}

// text adds character data, collapsing white space outside <pre>.
func (t *htmlText) text(s string) {
	if s == "" {
		return
	}
	s = strings.ReplaceAll(html.UnescapeString(s), "\u00a0", " ")
	if t.pre > 0 {
		t.b.WriteString(s)
		t.space = false
		return
	}
	if isHTMLSpace(rune(s[0])) {
		t.space = true
	}
	for i, w := range strings.FieldsFunc(s, isHTMLSpace) {
		if i > 0 {
			t.space = true
		}
		t.word(w)
	}
	if isHTMLSpace(rune(s[len(s)-1])) {
		t.space = true
	}
}

func isHTMLSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f'
}

// word writes w, preceded by one space if white space came before it and
// the line is not empty.
func (t *htmlText) word(w string) {
	if t.space && t.b.Len() > 0 && !strings.HasSuffix(t.b.String(), "\n") {
		t.b.WriteByte(' ')
	}
	t.space = false
	t.b.WriteString(w)
}

func (t *htmlText) newline() {
	t.space = false
	if t.b.Len() > 0 && !strings.HasSuffix(t.b.String(), "\n") {
		t.b.WriteByte('\n')
	}
}

func (t *htmlText) paragraph() {
	t.newline()
	if t.b.Len() > 0 && !strings.HasSuffix(t.b.String(), "\n\n") {
		t.b.WriteByte('\n')
	}
}

// tidyLines drops trailing blanks on each line, runs of more than one
// empty line, and empty lines at the start and end.
func tidyLines(s string) string {
	lines := strings.Split(s, "\n")
	out := make([]string, 0, len(lines))
	blank := true
	for _, l := range lines {
		l = strings.TrimRight(l, " \t")
		if l == "" {
			if blank {
				continue
			}
			blank = true
		} else {
			blank = false
		}
		out = append(out, l)
	}
	r := strings.TrimRight(strings.Join(out, "\n"), "\n")
	if r == "" {
		return ""
	}
	return r + "\n"
}
