package imapd

// maxNesting is how deep the parentheses of SEARCH criteria may nest. The
// library's parser gives up on the 1,000th level of a list (imapwire's
// maxListDepth) with an error it answers as its own bug (NO [SERVERBUG]),
// so the filter refuses deeper nesting before the library reads it.
// Dovecot takes any depth; no client nests more than a few levels.
const maxNesting = 999

// nesting counts the parentheses of a SEARCH (or of the SORT or THREAD run
// as one) outside quoted strings, across the lines its literals split it
// into and the pieces a line longer than the filter takes at once is cut
// into.
type nesting struct {
	on     bool // the command being handed over is a search
	depth  int
	quoted bool // inside a quoted string
	escape bool // after a backslash in one
}

// over counts the parentheses of l, the next part of the command, and
// gives the offset of the first that nests deeper than maxNesting, or -1.
func (n *nesting) over(l []byte) int {
	for i, c := range l {
		switch {
		case n.escape:
			n.escape = false
		case n.quoted:
			switch c {
			case '\\':
				n.escape = true
			case '"':
				n.quoted = false
			}
		case c == '"':
			n.quoted = true
		case c == '(':
			if n.depth++; n.depth > maxNesting {
				return i
			}
		case c == ')' && n.depth > 0:
			n.depth--
		}
	}
	if len(l) > 0 && l[len(l)-1] == '\n' {
		// A quoted string ends with its line, closed or not.
		n.quoted, n.escape = false, false
	}
	return -1
}
