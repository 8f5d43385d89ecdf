package mbox

import (
	"bytes"
	"time"
)

// The From_ line (RFC 4155): "From " SENDER SP DATE, DATE in asctime(3)
// form. Like UW c-client, mutt and Dovecot we take a line beginning "From "
// as a message separator only if a real asctime date follows the sender, so
// a body line such as "From this line on..." that a careless writer left
// unquoted does not split a message. Accepted, after the sender:
//
//	Wed Nov 25 17:24:14 2026
//	Wed Nov 25 17:24 2026
//	Wed Nov 25 17:24:14 2026 +0000
//	Wed Nov 25 17:24:14 PST 2026
//	Wed Nov 25 17:24:14 2026 remote from host
//
// ISO 8601 and RFC 5322 dates are not From_ dates (c-client and mutt agree).

var weekdays = [...]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

func isWeekday(b []byte) bool {
	for _, w := range weekdays {
		if string(b) == w {
			return true
		}
	}
	return false
}

func monthOf(b []byte) time.Month {
	for i, m := range months {
		if string(b) == m {
			return time.Month(i + 1)
		}
	}
	return 0
}

func digits(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// clock parses hh:mm or hh:mm:ss.
func clock(b []byte) (h, m, s int, ok bool) {
	var parts [3][]byte
	n := 0
	for n < 3 {
		i := bytes.IndexByte(b, ':')
		if i < 0 {
			parts[n] = b
			n++
			b = nil
			break
		}
		parts[n], b = b[:i], b[i+1:]
		n++
	}
	if n < 2 || b != nil {
		return 0, 0, 0, false
	}
	var ok1, ok2, ok3 bool
	h, ok1 = digits(parts[0])
	m, ok2 = digits(parts[1])
	ok3 = true
	if n == 3 {
		s, ok3 = digits(parts[2])
	}
	return h, m, s, ok1 && ok2 && ok3 && h < 24 && m < 60 && s < 61
}

// fields splits b at spaces and tabs into dst, without allocating when dst
// has room; a From_ line has a handful of fields.
func fields(dst [][]byte, b []byte) [][]byte {
	for len(b) > 0 {
		for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
			b = b[1:]
		}
		if len(b) == 0 {
			break
		}
		i := bytes.IndexAny(b, " \t")
		if i < 0 {
			i = len(b)
		}
		dst = append(dst, b[:i])
		b = b[i:]
	}
	return dst
}

// zoneOffset parses a numeric zone such as +0100.
func zoneOffset(b []byte) (int, bool) {
	if len(b) != 5 || (b[0] != '+' && b[0] != '-') {
		return 0, false
	}
	n, ok := digits(b[1:])
	if !ok {
		return 0, false
	}
	off := (n/100)*3600 + (n%100)*60
	if b[0] == '-' {
		off = -off
	}
	return off, true
}

// ParseFromLine reads a From_ line (with or without its line end). ok is
// false when the line is not a valid separator.
func ParseFromLine(line []byte) (sender string, date time.Time, ok bool) {
	line = bytes.TrimRight(line, "\r\n")
	if !bytes.HasPrefix(line, []byte("From ")) {
		return "", time.Time{}, false
	}
	var store [16][]byte
	f := fields(store[:0], line[5:])
	for i := 0; i+4 < len(f); i++ {
		if !isWeekday(f[i]) {
			continue
		}
		mon := monthOf(f[i+1])
		day, dok := digits(f[i+2])
		h, m, s, cok := clock(f[i+3])
		if mon == 0 || !dok || day < 1 || day > 31 || !cok {
			continue
		}
		rest := f[i+4:]
		loc := time.Local
		// An alphabetic zone may stand before the year; it is ignored
		// (its offset is unknowable), as c-client does.
		if len(rest) > 0 {
			if _, isNum := digits(rest[0]); !isNum {
				if off, zok := zoneOffset(rest[0]); zok {
					loc = time.FixedZone("", off)
				}
				rest = rest[1:]
			}
		}
		if len(rest) == 0 {
			continue
		}
		year, yok := digits(rest[0])
		if !yok || len(rest[0]) != 4 {
			continue
		}
		if len(rest) > 1 {
			if off, zok := zoneOffset(rest[1]); zok {
				loc = time.FixedZone("", off)
			}
		}
		if i == 1 {
			sender = string(f[0])
		} else {
			sender = string(bytes.Join(f[:i], []byte(" ")))
		}
		return sender, time.Date(year, mon, day, h, m, s, 0, loc), true
	}
	return "", time.Time{}, false
}

// FromLine makes the From_ line for a message from sender received at t,
// in the form procmail and mail.local write, without its line end. An empty
// sender (the null reverse-path) is written MAILER-DAEMON, as sendmail does.
func FromLine(sender string, t time.Time) string {
	if sender == "" {
		sender = "MAILER-DAEMON"
	}
	// A sender with white space would shift the date out of place.
	b := []byte(sender)
	for i, c := range b {
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			b[i] = '_'
		}
	}
	return "From " + string(b) + " " + t.Format("Mon Jan _2 15:04:05 2006")
}
