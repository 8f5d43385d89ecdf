package mta

import "strings"

// AddressList returns the addresses named by an RFC 5322 address list
// (section 3.4) as sendmail -t and a command-line recipient read one:
// display names (quoted, with commas, or RFC 2047 encoded words in any
// charset) and comments are dropped, groups give their members
// ("undisclosed-recipients:;" gives none), a source route in <@a,@b:x@y>
// is dropped, and a bare local name ("root") is kept as it is, to be
// qualified later. It never fails: what it cannot make sense of comes
// back as written (with a blank between words) for CheckAddress to refuse.
// Postfix's tok822 parser reads these the same way.
func AddressList(s string) []string {
	var out []string
	var words []string // the tokens of the current mailbox, outside <>
	var angle []string // the tokens inside <>, once seen
	inAngle, sawAngle := false, false
	emit := func() {
		addr := joinTokens(words)
		if sawAngle {
			addr = joinTokens(stripRoute(angle))
		}
		if addr != "" {
			out = append(out, addr)
		}
		words, angle, sawAngle = nil, nil, false
	}
	for _, tok := range tokenize(s) {
		switch {
		case inAngle && tok == ">":
			inAngle = false
		case inAngle:
			angle = append(angle, tok)
		case tok == "<":
			inAngle, sawAngle, angle = true, true, nil
		case tok == "," || tok == ";":
			emit()
		case tok == ":":
			words = nil // a group's display name
		case !sawAngle:
			words = append(words, tok)
		}
		// Words after a closing > are stray; they are ignored.
	}
	emit()
	return out
}

// stripRoute drops an obsolete source route (RFC 5322 4.4): "@a,@b:".
func stripRoute(toks []string) []string {
	if len(toks) == 0 || toks[0] != "@" {
		return toks
	}
	for i, t := range toks {
		if t == ":" {
			return toks[i+1:]
		}
	}
	return toks
}

// joinTokens writes tokens back as an address: specials join without
// blanks (bob @ x -> bob@x), two words in a row keep one blank between.
func joinTokens(toks []string) string {
	var b strings.Builder
	prevWord := false
	for _, t := range toks {
		word := !isSpecial(t)
		if word && prevWord {
			b.WriteByte(' ')
		}
		b.WriteString(t)
		prevWord = word
	}
	return b.String()
}

const specials = "<>,:;@."

func isSpecial(t string) bool { return len(t) == 1 && strings.Contains(specials, t) }

// tokenize splits an address list into atoms, quoted strings (kept with
// their quotes), domain literals and the specials that matter here;
// comments and blanks go.
func tokenize(s string) []string {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '(':
			i = skipComment(s, i)
		case c == '"':
			j := closing(s, i+1, '"')
			toks = append(toks, s[i:j])
			i = j
		case c == '[':
			j := closing(s, i+1, ']')
			toks = append(toks, s[i:j])
			i = j
		case strings.IndexByte(specials, c) >= 0:
			toks = append(toks, s[i:i+1])
			i++
		default:
			j := i + 1 // a stray ")" is an atom of its own
			for j < len(s) && !strings.ContainsRune(" \t\r\n()\"[<>,:;@.", rune(s[j])) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks
}

// closing returns the index just past the unescaped end byte from i on,
// or len(s) when it is missing.
func closing(s string, i int, end byte) int {
	for ; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case end:
			return i + 1
		}
	}
	return len(s)
}

// skipComment returns the index just past the (possibly nested) comment
// starting at i, or len(s) when it is not closed.
func skipComment(s string, i int) int {
	depth := 0
	for ; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			if depth--; depth == 0 {
				return i + 1
			}
		}
	}
	return len(s)
}
