package imapstore

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// baseSubject is RFC 5256's base subject (section 2.1) of a subject
// already decoded to UTF-8: without the Re:, Fw:, Fwd: and [blob]
// leaders, the (fwd) trailers and the [fwd: ...] wrapping, white space
// runs made one space. reply tells whether any reply or forward marker
// was taken off (THREAD=REFERENCES groups replies under their original).
func baseSubject(s string) (base string, reply bool) {
	s = strings.Join(strings.FieldsFunc(s, isWSP), " ")
	for {
		// (2) the trailers.
		for {
			t := strings.TrimRight(s, " ")
			if hasSuffixFold(t, "(fwd)") {
				t = t[:len(t)-len("(fwd)")]
				reply = true
			}
			if t == s {
				break
			}
			s = t
		}
		// (3), (4), (5): leaders and blobs until nothing changes.
		for {
			t, r := trimLeader(s)
			reply = reply || r
			if rest := skipBlob(t); rest != t && rest != "" {
				t = rest
			}
			if t == s {
				break
			}
			s = t
		}
		// (6) the [fwd: ...] wrapping, then again from (2).
		if len(s) >= len("[fwd:]") && hasPrefixFold(s, "[fwd:") && s[len(s)-1] == ']' {
			s = s[len("[fwd:") : len(s)-1]
			reply = true
			continue
		}
		return s, reply
	}
}

func isWSP(r rune) bool { return r == ' ' || r == '\t' || r == '\r' || r == '\n' }

// trimLeader removes one subj-leader: a space, or blobs followed by
// re/fw/fwd, maybe a blob, and a colon. reply tells whether it was the
// latter.
func trimLeader(s string) (string, bool) {
	if strings.HasPrefix(s, " ") {
		return s[1:], false
	}
	t := s
	for {
		u := skipBlob(t)
		if u == t {
			break
		}
		t = u
	}
	switch {
	case hasPrefixFold(t, "re"):
		t = t[2:]
	case hasPrefixFold(t, "fwd"):
		t = t[3:]
	case hasPrefixFold(t, "fw"):
		t = t[2:]
	default:
		return s, false
	}
	t = strings.TrimLeft(t, " ")
	t = skipBlob(t)
	if !strings.HasPrefix(t, ":") {
		return s, false
	}
	return t[1:], true
}

// skipBlob removes one subj-blob: "[" text without brackets "]" and the
// spaces after it.
func skipBlob(s string) string {
	if !strings.HasPrefix(s, "[") {
		return s
	}
	end := strings.IndexAny(s[1:], "[]")
	if end < 0 || s[1+end] != ']' {
		return s
	}
	return strings.TrimLeft(s[end+2:], " ")
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

// casemap is the form RFC 5256 (through I18NLEVEL=1) compares strings
// in, i;unicode-casemap (RFC 5051): every character titlecased, then
// decomposed, so that case is ignored and an accented letter sorts beside
// its base letter. Compared octet by octet.
func casemap(s string) string {
	ascii := true
	for i := 0; i < len(s) && ascii; i++ {
		ascii = s[i] < utf8.RuneSelf
	}
	if ascii {
		return strings.ToUpper(s)
	}
	return norm.NFD.String(strings.Map(unicode.ToTitle, s))
}
