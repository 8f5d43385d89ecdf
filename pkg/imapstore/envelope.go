package imapstore

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	netmail "net/mail"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/emersion/go-imap/v2"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"unixmail/pkg/mbox"
)

// The fields an ENVELOPE is made of (RFC 3501 7.4.2), as textproto
// names them.
var envelopeFields = [...]string{"Date", "Subject", "From", "Sender", "Reply-To", "To", "Cc", "Bcc", "In-Reply-To", "Message-Id"}

// Their indexes in envelopeFields.
const (
	envDate = iota
	envSubject
	envFrom
	envSender
	envReplyTo
	envTo
	envCc
	envBcc
	envInReplyTo
	envMessageID
)

// envelopeOf is the ENVELOPE of a message whose stored header (state
// fields and all, as the scan found it) is raw. It is what
// imapserver.ExtractEnvelope gives for the header that header() parses,
// at a fraction of the cost, for FETCH 1:* ENVELOPE of a folder met for
// the first time: one pass picks the values of the envelope's fields
// alone, and the values of the usual forms (a Date as RFC 5322 3.3 writes
// it, plain addresses, one message ID) are read directly; the rest go
// through the libraries the library's own path uses.
func envelopeOf(raw []byte) *imap.Envelope { return new(envelopeMaker).make(raw) }

// envelopeMaker makes envelopes (envelopeOf's) in memory of its own, used
// again for the next: an envelope and its strings are good until the next
// make. Made for one message after another, to be encoded at once
// (appendRecord), envelopes then cost no allocation: 50,000 of them were
// megabytes of garbage, fresh memory faulted in (about 10 µs a page on a
// paravirtualised machine) and collected.
type envelopeMaker struct {
	env       imap.Envelope
	vals      []byte            // the fields' values, one after another
	lists     [6][]imap.Address // From, Sender, Reply-To, To, Cc, Bcc
	inReplyTo []string
}

func (m *envelopeMaker) make(raw []byte) *imap.Envelope {
	v := m.values(raw)
	m.env = imap.Envelope{
		Date:      parseDate(v[envDate]),
		Subject:   decodeText(v[envSubject]),
		InReplyTo: m.msgIDList(v[envInReplyTo]),
		MessageID: msgID(v[envMessageID]),
	}
	for i, l := range [...]*[]imap.Address{&m.env.From, &m.env.Sender, &m.env.ReplyTo, &m.env.To, &m.env.Cc, &m.env.Bcc} {
		m.lists[i] = addressList(m.lists[i][:0], v[envFrom+i])
		*l = m.lists[i]
		if len(*l) == 0 {
			*l = nil
		}
	}
	return &m.env
}

// libraryHeader is a header of one field, for the library's parsers.
func libraryHeader(name, value string) *mail.Header {
	h := &mail.Header{}
	h.Set(name, value)
	return h
}

// decodeText undoes RFC 2047 encoded words, as mail.Header.Text does
// (the value as it stands when they do not decode), without a header
// made to hold the value: a fifth of a generated folder's subjects are
// encoded, and each header was a map and slices of garbage.
func decodeText(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	t, err := textDecoder.DecodeHeader(s)
	if err != nil {
		return s
	}
	return t
}

// textDecoder decodes as go-message's Header.Text does: UTF-8 and
// US-ASCII as they are, other charsets through its CharsetReader (which
// importing go-message/charset sets), an unknown one an error.
var textDecoder = mime.WordDecoder{CharsetReader: func(charset string, r io.Reader) (io.Reader, error) {
	charset = strings.ToLower(charset)
	switch {
	case charset == "utf-8" || charset == "us-ascii":
		return r, nil
	case gomessage.CharsetReader != nil:
		return gomessage.CharsetReader(charset, r)
	}
	return nil, fmt.Errorf("unknown charset %q", charset)
}}

// addressList adds to list an address field's mailboxes as the library
// gives them: group names and anything without a domain left out, nothing
// at all when the field does not parse.
func addressList(list []imap.Address, s string) []imap.Address {
	if s == "" {
		return list
	}
	if l, ok := quickAddresses(list, s); ok {
		return l
	}
	addrs, _ := mail.ParseAddressList(s)
	for _, a := range addrs {
		if mailbox, host, ok := strings.Cut(a.Address, "@"); ok {
			list = append(list, imap.Address{Name: a.Name, Mailbox: mailbox, Host: host})
		}
	}
	return list
}

// quickAddresses adds to list a list of "Display Name <local@domain>"
// and "local@domain", comma-separated, in plain ASCII words: what net/mail
// reads the same way, with no quoting, comment or encoded word to undo.
// Anything else is not ok.
func quickAddresses(list []imap.Address, s string) ([]imap.Address, bool) {
	for {
		end := strings.IndexByte(s, ',')
		if end < 0 {
			end = len(s)
		}
		a, ok := quickAddress(s[:end])
		if !ok {
			return nil, false
		}
		list = append(list, a)
		if end == len(s) {
			return list, true
		}
		s = s[end+1:]
		if len(s) < 2 || s[0] != ' ' || !atext(s[1]) {
			return nil, false
		}
		s = s[1:]
	}
}

func quickAddress(s string) (imap.Address, bool) {
	name := ""
	if i := strings.IndexByte(s, '<'); i >= 0 {
		if i < 2 || s[i-1] != ' ' || s[len(s)-1] != '>' || !phrase(s[:i-1]) {
			return imap.Address{}, false
		}
		name, s = s[:i-1], s[i+1:len(s)-1]
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || !dotAtom(local) || !dotAtom(domain) {
		return imap.Address{}, false
	}
	return imap.Address{Name: name, Mailbox: local, Host: domain}, true
}

// atext is an ASCII atom character (RFC 5322 3.2.3).
func atext(c byte) bool {
	return '!' <= c && c <= '~' && !strings.ContainsRune(`()<>[]:;@\,."`, rune(c))
}

// dotAtom: atoms joined by single dots.
func dotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '.' && !atext(s[i]) {
			return false
		}
	}
	return true
}

// phrase: atoms joined by single spaces, none of them the start of an
// encoded word.
func phrase(s string) bool {
	if s == "" || s[0] == ' ' || s[len(s)-1] == ' ' || strings.Contains(s, "  ") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' && (!atext(s[i]) || s[i] == '=') {
			return false
		}
	}
	return true
}

// msgID is a Message-ID without its angle brackets, "" when it does not
// parse, as mail.Header.MessageID gives it.
func msgID(s string) string {
	if s == "" {
		return ""
	}
	if id, ok := quickMsgID(s); ok {
		return id
	}
	id, _ := libraryHeader("Message-Id", s).MessageID()
	return id
}

// msgIDList is In-Reply-To's message IDs, as far as they parse, as
// mail.Header.MsgIDList gives them.
func (m *envelopeMaker) msgIDList(s string) []string {
	if s == "" {
		return nil
	}
	if id, ok := quickMsgID(s); ok {
		m.inReplyTo = append(m.inReplyTo[:0], id)
		return m.inReplyTo
	}
	ids, _ := libraryHeader("In-Reply-To", s).MsgIDList("In-Reply-To")
	return ids
}

// quickMsgID reads "<left@right>", each side atoms and dots.
func quickMsgID(s string) (string, bool) {
	if len(s) < 5 || s[0] != '<' || s[len(s)-1] != '>' {
		return "", false
	}
	id := s[1 : len(s)-1]
	left, right, ok := strings.Cut(id, "@")
	if !ok || left == "" || right == "" {
		return "", false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c != '.' && c != '@' && !atext(c) {
			return "", false
		}
	}
	return id, !strings.Contains(right, "@")
}

// values gives the value of the first of each envelope field in a
// stored header, as textproto.ReadHeader would over the lines header()
// keeps: a parse stops where ReadHeader stops (a first line that is a
// continuation, a line without a colon, a name with a byte no field name
// has), folded lines are joined with one space, blanks around line ends
// dropped. The strings are in m's memory, good until the next call.
func (m *envelopeMaker) values(raw []byte) (values [len(envelopeFields)]string) {
	var spans [len(envelopeFields)][2]int
	m.vals = valueSpans(m.vals[:0], raw, envelopeFields[:], spans[:])
	// One string over all the values, cut in pieces: none of them is
	// copied, and m.vals is not written again before the next call.
	all := unsafe.String(unsafe.SliceData(m.vals), len(m.vals))
	for i, sp := range spans {
		values[i] = all[sp[0]:sp[1]]
	}
	return values
}

// valueSpans adds to vals the values of the first of each of fields (32
// at most) as values() reads them, and says in spans where each is.
func valueSpans(vals, raw []byte, fields []string, spans [][2]int) []byte {
	var (
		hiding, started bool
		cur             = -1 // the field whose lines are being read, if wanted
		from            int  // where its value starts in vals
		seen            uint32
	)
	done := func() {
		if cur >= 0 {
			spans[cur] = [2]int{from, len(vals)}
			cur = -1
		}
	}
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i+1], raw[i+1:]
		} else {
			raw = nil
		}
		if blank(line) {
			break
		}
		if hiding = mbox.StateFieldLine(line, hiding); hiding {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if !started {
				break // ReadHeader refuses a header that starts so
			}
			if cur >= 0 {
				vals = appendPiece(vals, from, line)
			}
			continue
		}
		started = true
		done()
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			break
		}
		name := trimBlanks(line[:colon])
		for _, c := range name {
			if c < '!' || c > '~' {
				return vals
			}
		}
		for i, f := range fields {
			if seen&(1<<i) == 0 && asciiEqualFold(name, f) {
				seen, cur, from = seen|1<<i, i, len(vals)
				vals = appendPiece(vals, from, line[colon+1:])
				break
			}
		}
	}
	done()
	return vals
}

// appendPiece adds one line of a field's value, whose bytes so far are
// vals[from:], as ReadHeader joins them: the line end (LF, or CR LF) and
// the blanks around it gone, a space between pieces, empty pieces left
// out.
func appendPiece(vals []byte, from int, line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
		if n > 1 && line[n-2] == '\r' {
			line = line[:n-2]
		}
	}
	line = trimBlanks(line)
	if len(line) == 0 {
		return vals
	}
	if len(vals) > from {
		vals = append(vals, ' ')
	}
	return append(vals, line...)
}

// trimBlanks drops the spaces and tabs around b (bytes.Trim with a
// cutset builds its set at every call: this runs for every header line
// of every message of FETCH 1:* ENVELOPE).
func trimBlanks(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c, d := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

// parseDate reads a Date field as net/mail.ParseDate does (the zero time
// when it cannot), directly when it has the form RFC 5322 3.3 gives and
// nearly every mailer writes: "Thu, 01 Jan 2026 00:00:00 +0000".
func parseDate(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	if t, ok := quickDate(s); ok {
		return t
	}
	t, err := netmail.ParseDate(s)
	if err != nil {
		return time.Time{}
	}
	return t
}

var (
	weekdays = [...]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	months   = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
)

// quickDate reads "Www, D[D] Mmm YYYY HH:MM:SS +HHMM" and nothing else:
// anything it is not sure of is left to net/mail.
func quickDate(s string) (time.Time, bool) {
	if len(s) < 30 || s[3] != ',' || s[4] != ' ' || !oneOf(s[:3], weekdays[:]) {
		return time.Time{}, false
	}
	s = s[5:]
	day, ok := digits(s[:1])
	if s[1] != ' ' {
		var d2 int
		d2, ok = digits(s[:2])
		day, s = d2, s[1:]
	}
	s = s[1:]
	// " Mmm YYYY HH:MM:SS +HHMM"
	if !ok || len(s) != 24 || s[0] != ' ' || s[4] != ' ' || s[9] != ' ' || s[12] != ':' || s[15] != ':' || s[18] != ' ' {
		return time.Time{}, false
	}
	month := 0
	for i, m := range months {
		if s[1:4] == m {
			month = i + 1
		}
	}
	year, ok1 := digits(s[5:9])
	hour, ok2 := digits(s[10:12])
	minute, ok3 := digits(s[13:15])
	sec, ok4 := digits(s[16:18])
	zh, ok5 := digits(s[20:22])
	zm, ok6 := digits(s[22:24])
	sign := s[19]
	if month == 0 || !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || sign != '+' && sign != '-' ||
		hour > 23 || minute > 59 || sec > 59 || zh > 23 || zm > 59 || day < 1 || day > daysIn(month, year) {
		return time.Time{}, false
	}
	offset := (zh*60 + zm) * 60
	if sign == '-' {
		offset = -offset
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, 0, zone(offset)), true
}

// zones holds a fixed zone for each offset met, so that a date costs no
// new *time.Location.
var zones sync.Map // offset in seconds -> *time.Location

func zone(offset int) *time.Location {
	if z, ok := zones.Load(offset); ok {
		return z.(*time.Location)
	}
	z, _ := zones.LoadOrStore(offset, time.FixedZone("", offset))
	return z.(*time.Location)
}

func oneOf(s string, set []string) bool {
	for _, x := range set {
		if s == x {
			return true
		}
	}
	return false
}

// digits reads a run of decimal digits, all of s.
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, len(s) > 0
}

func daysIn(month, year int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
