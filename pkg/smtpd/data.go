package smtpd

import (
	"crypto/tls"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// maxLine is the RFC 5321 4.5.3.1.6 limit of a text line, CRLF included.
const maxLine = 1000

var (
	// SMTP smuggling (CVE-2023-51764 and its family) hides a second
	// message behind an end of data that only some servers see, such as
	// <LF>.<LF> or <LF>.<CR><LF>. Every such trick needs a bare LF or CR,
	// so a message with one is refused whole.
	errBareLF = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 5, 2},
		Message: "Bare <LF> received; lines must end in <CR><LF> (RFC 5321 2.3.8)"}
	errBareCR = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 5, 2},
		Message: "Bare <CR> received; lines must end in <CR><LF> (RFC 5321 2.3.8)"}
	errLongLine = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 5, 2},
		Message: "Message line longer than 1000 octets (RFC 5321 4.5.3.1.6)"}
)

// dataChecker passes the message through and fails at the first bare CR,
// bare LF, NUL or overlong line, or when rawCheck saw one of the first
// three where go-smtp hides it.
//
// It reads what go-smtp's DATA reader gives. That reader ends the data only
// at <CR><LF>.<CR><LF>, removes a line's leading dot (and the CR of a
// line that is ".<CR>" plus something else) and passes every other byte,
// bare LFs included: so each smuggling payload reaches this check inside
// the one message it belongs to, and the few bytes go-smtp drops never
// reach the queue either. BDAT chunks arrive here raw.
type dataChecker struct {
	r    io.Reader
	raw  *rawCheck // what the connection's raw bytes showed
	err  error     // sticky: the first failure
	cr   bool      // the last byte was a CR
	line int       // octets of the current line so far
}

func (d *dataChecker) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	n, err := d.r.Read(p)
	if i, bad := d.scan(p[:n]); bad != nil {
		d.err = bad
		return i, bad
	}
	// Every byte go-smtp has given us has passed rawCheck first, the
	// last one included when the data ends.
	if bad := d.raw.err(); bad != nil {
		d.err = bad
		return 0, bad
	}
	switch {
	case err == io.EOF && d.cr:
		d.err = errBareCR
	case err != nil && err != io.EOF:
		d.err = err
	}
	if d.err != nil {
		return n, d.err
	}
	return n, err
}

// scan advances the line state over b and returns how many bytes of b are
// good and, if one is not, the reason.
func (d *dataChecker) scan(b []byte) (int, error) {
	for i, c := range b {
		d.line++
		switch {
		case c == '\n' && !d.cr:
			return i, errBareLF
		case c != '\n' && d.cr:
			return i, errBareCR
		case c == 0:
			return i, errNUL
		case d.line > maxLine:
			return i, errLongLine
		}
		d.cr = c == '\r'
		if c == '\n' {
			d.line = 0
		}
	}
	return len(b), nil
}

// received is the RFC 5321 4.4 trace header. The queue id is not known
// yet, so it is left out.
func received(env *Envelope, s *session) string {
	var b strings.Builder
	b.WriteString("Received: from " + clean(env.Helo))
	p := s.be.policy
	if p.Trusted && p.TrustedUser != "" {
		b.WriteString("\r\n\t(from user " + clean(p.TrustedUser) + ")")
	} else if s.addr.IsValid() {
		// No reverse DNS: RFC 5321 TCP-info may be the address alone.
		b.WriteString(" (" + addressLiteral(s.addr) + ")")
	}
	if st, ok := s.c.TLSConnectionState(); ok {
		b.WriteString("\r\n\t(using " + tls.VersionName(st.Version) +
			" with cipher " + tls.CipherSuiteName(st.CipherSuite) + ")")
	}
	b.WriteString("\r\n\tby " + clean(p.Hostname) + " with " + env.Protocol)
	if len(env.Rcpts) == 1 {
		b.WriteString("\r\n\tfor <" + clean(env.Rcpts[0]) + ">")
	}
	b.WriteString("; " + time.Now().Format(time.RFC1123Z) + "\r\n")
	return b.String()
}

func addressLiteral(a netip.Addr) string {
	if a.Is4() {
		return "[" + a.String() + "]"
	}
	return "[IPv6:" + a.String() + "]"
}

// maxField keeps a client-chosen value from making a header or log line
// too long.
const maxField = 255

// clean makes a client-chosen string safe for a header or a log line:
// control characters become '?', and it is cut at maxField bytes.
func clean(s string) string {
	if len(s) > maxField {
		s = s[:maxField]
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
