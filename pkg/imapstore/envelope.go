package imapstore

import (
	"bytes"
	netmail "net/mail"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
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
func envelopeOf(raw []byte) *imap.Envelope {
	v := envelopeValues(raw)
	return &imap.Envelope{
		Date:      parseDate(v[envDate]),
		Subject:   decodeText(v[envSubject]),
		From:      addressList(v[envFrom]),
		Sender:    addressList(v[envSender]),
		ReplyTo:   addressList(v[envReplyTo]),
		To:        addressList(v[envTo]),
		Cc:        addressList(v[envCc]),
		Bcc:       addressList(v[envBcc]),
		InReplyTo: msgIDList(v[envInReplyTo]),
		MessageID: msgID(v[envMessageID]),
	}
}

// libraryHeader is a header of one field, for the library's parsers.
func libraryHeader(name, value string) *mail.Header {
	h := &mail.Header{}
	h.Set(name, value)
	return h
}

// decodeText undoes RFC 2047 encoded words, as mail.Header.Text does
// (the value as it stands when they do not decode).
func decodeText(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	t, _ := libraryHeader("Subject", s).Text("Subject")
	return t
}

// addressList is an address field's mailboxes as the library gives them:
// group names and anything without a domain left out, nothing at all when
// the field does not parse.
func addressList(s string) []imap.Address {
	if s == "" {
		return nil
	}
	if list, ok := quickAddresses(s); ok {
		return list
	}
	addrs, _ := mail.ParseAddressList(s)
	var list []imap.Address
	for _, a := range addrs {
		if mailbox, host, ok := strings.Cut(a.Address, "@"); ok {
			list = append(list, imap.Address{Name: a.Name, Mailbox: mailbox, Host: host})
		}
	}
	return list
}

// quickAddresses reads a list of "Display Name <local@domain>" and
// "local@domain", comma-separated, in plain ASCII words: what net/mail
// reads the same way, with no quoting, comment or encoded word to undo.
// Anything else is not ok.
func quickAddresses(s string) ([]imap.Address, bool) {
	var list []imap.Address
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
func msgIDList(s string) []string {
	if s == "" {
		return nil
	}
	if id, ok := quickMsgID(s); ok {
		return []string{id}
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

// envelopeValues gives the value of the first of each envelope field in a
// stored header, as textproto.ReadHeader would over the lines header()
// keeps: a parse stops where ReadHeader stops (a first line that is a
// continuation, a line without a colon, a name with a byte no field name
// has), folded lines are joined with one space, blanks around line ends
// dropped.
func envelopeValues(raw []byte) (values [len(envelopeFields)]string) {
	var (
		hiding, started bool
		cur             = -1 // the field whose lines are being read, if wanted
		val             []byte
		seen            [len(envelopeFields)]bool
	)
	done := func() {
		if cur >= 0 {
			values[cur] = string(val)
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
				val = appendPiece(val, line)
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
				return values
			}
		}
		for i, f := range envelopeFields {
			if !seen[i] && asciiEqualFold(name, f) {
				seen[i], cur = true, i
				val = appendPiece(val[:0], line[colon+1:])
				break
			}
		}
	}
	done()
	return values
}

// appendPiece adds one line of a field's value, as ReadHeader joins
// them: the line end (LF, or CR LF) and the blanks around it gone, a
// space between pieces, empty pieces left out.
func appendPiece(val, line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
		if n > 1 && line[n-2] == '\r' {
			line = line[:n-2]
		}
	}
	line = trimBlanks(line)
	if len(line) == 0 {
		return val
	}
	if len(val) > 0 {
		val = append(val, ' ')
	}
	return append(val, line...)
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
