package imapstore

import (
	"mime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"
)

// FETCH responses of the items that need nothing but the index and the
// envelope (UID, FLAGS, INTERNALDATE, RFC822.SIZE, ENVELOPE) are made here
// as the library's FetchResponseWriter writes them, when the session may
// write to the connection itself (Session.Direct): a FETCH 1:* of a big
// folder then costs a copy of bytes made once (the envelope cache keeps
// each ENVELOPE as sent), not the library's encoding of every string.
// One difference: a string that is not plain ASCII goes as a literal
// even where the client enabled quoted UTF-8 (IMAP4rev2, UTF8=ACCEPT), so
// that an envelope's bytes do not depend on the session; a literal is
// valid wherever a string is.

// The layouts the library writes dates in.
const (
	envelopeDateLayout = "Mon, 02 Jan 2006 15:04:05 -0700"
	internalDateLayout = "_2-Jan-2006 15:04:05 -0700"
)

// maxQuoted is the longest string the library sends quoted.
const maxQuoted = 4096

// fetchItems are the items of a FETCH answered directly.
type fetchItems struct {
	uid, flags, internalDate, size, envelope bool
}

// directItems gives the items of a FETCH that asks for nothing else.
func directItems(o *imap.FetchOptions) (fetchItems, bool) {
	if o.BodyStructure != nil || len(o.BodySection) > 0 || len(o.BinarySection) > 0 || len(o.BinarySectionSize) > 0 || o.ModSeq || o.ChangedSince != 0 {
		return fetchItems{}, false
	}
	return fetchItems{o.UID, o.Flags, o.InternalDate, o.RFC822Size, o.Envelope}, true
}

// directMsg is what one message's response is made of; env is its
// ENVELOPE as sent.
type directMsg struct {
	seq, uid uint32
	flags    []imap.Flag
	date     time.Time
	size     int64
	env      []byte
}

// appendFetch adds a message's FETCH response, items in the order
// fetchOne writes them.
func appendFetch(b []byte, it fetchItems, m *directMsg) []byte {
	b = append(b, "* "...)
	b = strconv.AppendUint(b, uint64(m.seq), 10)
	b = append(b, " FETCH ("...)
	sep := len(b)
	item := func(name string) {
		if len(b) > sep {
			b = append(b, ' ')
		}
		b = append(append(b, name...), ' ')
	}
	if it.uid {
		item("UID")
		b = strconv.AppendUint(b, uint64(m.uid), 10)
	}
	if it.flags {
		item("FLAGS")
		b = appendFlags(b, m.flags)
	}
	if it.internalDate {
		item("INTERNALDATE")
		b = appendInternalDate(b, m.date)
	}
	if it.size {
		item("RFC822.SIZE")
		b = strconv.AppendInt(b, m.size, 10)
	}
	if it.envelope {
		item("ENVELOPE")
		b = append(b, m.env...)
	}
	return append(b, ")\r\n"...)
}

// appendFlags adds a flag list; a keyword that is no IMAP atom (which the
// library would refuse to write) is left out.
func appendFlags(b []byte, flags []imap.Flag) []byte {
	b = append(b, '(')
	n := 0
	for _, f := range flags {
		if !validFlag(string(f)) {
			continue
		}
		if n++; n > 1 {
			b = append(b, ' ')
		}
		b = append(b, f...)
	}
	return append(b, ')')
}

// validFlag reports whether s is a flag as RFC 3501 writes it: a keyword
// (an atom) or a system flag (an atom after a backslash).
func validFlag(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' && i > 0 || c != '\\' && !atomChar(c) {
			return false
		}
	}
	return s != "" && s != "\\"
}

// atomChar is an ATOM-CHAR of RFC 3501.
func atomChar(c byte) bool {
	return c > ' ' && c < 0x7f && !strings.ContainsRune(`(){%*"\]`, rune(c))
}

// appendEnvelopeWire adds env as the library writes an ENVELOPE: subject
// and display names RFC 2047 encoded when not plain ASCII, a missing
// Sender or Reply-To given as From.
func appendEnvelopeWire(b []byte, env *imap.Envelope) []byte {
	b = append(b, '(')
	if env.Date.IsZero() {
		b = append(b, "NIL"...)
	} else {
		// A date is quoted as it is (plain ASCII, short): no string made.
		b = append(env.Date.AppendFormat(append(b, '"'), envelopeDateLayout), '"')
	}
	b = appendText(append(b, ' '), env.Subject)
	sender, replyTo := env.Sender, env.ReplyTo
	if sender == nil {
		sender = env.From
	}
	if replyTo == nil {
		replyTo = env.From
	}
	for _, l := range [...][]imap.Address{env.From, sender, replyTo, env.To, env.Cc, env.Bcc} {
		b = appendAddressList(append(b, ' '), l)
	}
	b = append(b, ' ')
	if len(env.InReplyTo) > 0 {
		b = appendMsgIDs(b, env.InReplyTo)
	} else {
		b = append(b, "NIL"...)
	}
	b = append(b, ' ')
	if env.MessageID != "" {
		b = appendMsgIDs(b, []string{env.MessageID})
	} else {
		b = append(b, "NIL"...)
	}
	return append(b, ')')
}

// appendMsgIDs adds message IDs as the library joins them into one
// string, each in angle brackets, separated by spaces.
func appendMsgIDs(b []byte, ids []string) []byte {
	n, plain := 0, true
	for _, id := range ids {
		n += len(id) + 3
		plain = plain && quotable(id) && !strings.ContainsAny(id, `"\`)
	}
	if !plain || n-1 > maxQuoted {
		return appendString(b, "<"+strings.Join(ids, "> <")+">")
	}
	b = append(b, '"')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(append(append(b, '<'), id...), '>')
	}
	return append(b, '"')
}

func appendAddressList(b []byte, l []imap.Address) []byte {
	if len(l) == 0 {
		return append(b, "NIL"...)
	}
	b = append(b, '(')
	for i, a := range l {
		if i > 0 {
			b = append(b, ' ')
		}
		b = appendText(append(b, '('), a.Name)
		b = appendNString(append(b, " NIL "...), a.Mailbox)
		b = append(appendNString(append(b, ' '), a.Host), ')')
	}
	return append(b, ')')
}

// appendText adds s as the library writes a subject or a display name:
// the nstring of mime.QEncoding.Encode("utf-8", s). The encoded words
// are made in place (encodeWords), not as a string of their own, unless
// they could be too long to quote.
func appendText(b []byte, s string) []byte {
	if len(s) > maxQuoted/4 || !needsWords(s) {
		return appendNString(b, mime.QEncoding.Encode("utf-8", s))
	}
	return append(encodeWords(append(b, '"'), s), '"')
}

// needsWords reports whether mime's encoder would encode s: a byte
// outside printable ASCII but for a tab.
func needsWords(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' || c > '~') && c != '\t' {
			return true
		}
	}
	return false
}

// The start of an encoded word, and how many bytes of encoded text one
// holds: words are at most 75 bytes (RFC 2047 2), with "=?UTF-8?q?" (of
// that length whatever the case) and "?=" around the text.
const (
	wordOpen = "=?utf-8?q?"
	wordText = 75 - len(wordOpen) - len("?=")
)

// encodeWords adds what mime.QEncoding.Encode("utf-8", s) gives for an s
// that needs encoding, escaped for a quoted string: encoded words of
// wordText encoded bytes at most, split between characters, never inside
// one (RFC 2047 5.3); a space is '_', printable ASCII but '=', '?' and '_'
// stays, anything else is =XX.
func encodeWords(b []byte, s string) []byte {
	b = append(b, wordOpen...)
	n := 0 // encoded bytes in the word so far
	for i := 0; i < len(s); {
		size, width := 1, 1
		if !plainInWord(s[i]) {
			_, size = utf8.DecodeRuneInString(s[i:])
			width = 3 * size
		}
		if n+width > wordText {
			b, n = append(append(b, "?= "...), wordOpen...), 0
		}
		for _, c := range []byte(s[i : i+size]) {
			switch {
			case c == ' ':
				b = append(b, '_')
			case plainInWord(c) && (c == '"' || c == '\\'):
				b = append(b, '\\', c)
			case plainInWord(c):
				b = append(b, c)
			default:
				b = append(b, '=', upperHex[c>>4], upperHex[c&15])
			}
		}
		n += width
		i += size
	}
	return append(b, "?="...)
}

// plainInWord reports whether c stands for itself in a Q-encoded word
// (a space is one byte too, as '_').
func plainInWord(c byte) bool { return ' ' <= c && c <= '~' && c != '=' && c != '?' && c != '_' }

const upperHex = "0123456789ABCDEF"

func appendNString(b []byte, s string) []byte {
	if s == "" {
		return append(b, "NIL"...)
	}
	return appendString(b, s)
}

// appendString adds s quoted, or as a literal when it cannot be quoted
// (CR, LF, NUL, 8-bit bytes) or is long.
func appendString(b []byte, s string) []byte {
	escapes := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case 0, '\r', '\n':
			return appendLiteral(b, s)
		case '"', '\\':
			escapes++
		default:
			if s[i] >= 0x80 {
				return appendLiteral(b, s)
			}
		}
	}
	if len(s) > maxQuoted {
		return appendLiteral(b, s)
	}
	b = append(b, '"')
	for escapes > 0 {
		i := strings.IndexAny(s, `"\`)
		b = append(append(b, s[:i]...), '\\', s[i])
		s, escapes = s[i+1:], escapes-1
	}
	return append(append(b, s...), '"')
}

func appendLiteral(b []byte, s string) []byte {
	b = strconv.AppendInt(append(b, '{'), int64(len(s)), 10)
	return append(append(b, "}\r\n"...), s...)
}

// quotable reports whether appendString quotes s.
func quotable(s string) bool {
	if len(s) > maxQuoted {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == 0 || c == '\r' || c == '\n' || c >= 0x80 {
			return false
		}
	}
	return true
}

// appendInternalDate adds t quoted as the library writes an INTERNALDATE
// (internalDateLayout), without the cost of reading a layout.
func appendInternalDate(b []byte, t time.Time) []byte {
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	_, zone := t.Zone()
	sign := byte('+')
	if zone < 0 {
		sign, zone = '-', -zone
	}
	if year < 0 || year > 9999 || zone%60 != 0 || zone >= 100*3600 {
		return append(t.AppendFormat(append(b, '"'), internalDateLayout), '"')
	}
	two := func(b []byte, n int) []byte { return append(b, byte('0'+n/10), byte('0'+n%10)) }
	b = append(b, '"')
	if day < 10 {
		b = append(b, ' ', byte('0'+day))
	} else {
		b = two(b, day)
	}
	b = append(append(append(b, '-'), month.String()[:3]...), '-')
	b = append(two(two(b, year/100), year%100), ' ')
	b = append(two(append(two(append(two(b, hour), ':'), minute), ':'), sec), ' ', sign)
	return append(two(two(b, zone/3600), zone/60%60), '"')
}
