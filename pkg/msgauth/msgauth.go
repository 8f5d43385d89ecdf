// Package msgauth is sendmail's mail authentication: DKIM signing of the
// mail we send (RFC 6376), and for mail we receive SPF (RFC 7208), DKIM
// verification, DMARC (RFC 7489, alignment and the organizational domain
// evaluated here) and the Authentication-Results header that carries the
// verdicts (RFC 8601), with forged ones that claim our name removed first.
//
// go-msgauth does DKIM and the DMARC record, blitiri.com.ar/go/spf does SPF;
// every DNS lookup goes through the one resolver the caller passes in.
package msgauth

import (
	"bytes"
	"net/mail"
	"strings"
)

// field is one header field as it was received: name, colon, value,
// continuation lines and line ending.
type field []byte

func (f field) name() string {
	name, _, _ := bytes.Cut(f, []byte(":"))
	return strings.TrimSpace(string(name))
}

func (f field) value() string {
	_, v, _ := bytes.Cut(f, []byte(":"))
	return strings.TrimSpace(strings.NewReplacer("\r\n", "", "\n", "").Replace(string(v)))
}

// splitHeader cuts the header block of msg into fields and returns them
// with the offset where the body starts (after the empty line). A line
// that is neither a field nor a continuation ends the header, as in
// RFC 5322 the body follows.
func splitHeader(msg []byte) (fields []field, body int) {
	off := 0
	for off < len(msg) {
		end := bytes.IndexByte(msg[off:], '\n')
		if end < 0 {
			end = len(msg)
		} else {
			end += off + 1
		}
		line := msg[off:end]
		switch {
		case len(bytes.TrimRight(line, "\r\n")) == 0:
			return fields, end
		case (line[0] == ' ' || line[0] == '\t') && len(fields) > 0:
			last := &fields[len(fields)-1]
			*last = msg[off-len(*last) : end]
		case bytes.IndexByte(line, ':') > 0:
			fields = append(fields, line)
		default:
			return fields, off
		}
		off = end
	}
	return fields, off
}

// lineEnding is the line ending msg uses: CRLF as SMTP carries it, or
// LF as a local submission or the queue may hold it.
func lineEnding(msg []byte) string {
	if i := bytes.IndexByte(msg, '\n'); i > 0 && msg[i-1] == '\r' {
		return "\r\n"
	}
	return "\n"
}

// fromDomains are the domains of the authors in the From: fields, lower
// case, each once. A From: that net/mail cannot read (an unknown charset
// in a display name) is read for its addresses alone.
func fromDomains(fields []field) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range fields {
		if !strings.EqualFold(f.name(), "From") {
			continue
		}
		for _, a := range fromAddresses(f.value()) {
			at := strings.LastIndexByte(a, '@')
			d := strings.ToLower(strings.TrimSuffix(a[at+1:], "."))
			if at >= 0 && d != "" && !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	return out
}

func fromAddresses(v string) []string {
	list, err := mail.ParseAddressList(v)
	if err == nil {
		out := make([]string, len(list))
		for i, a := range list {
			out[i] = a.Address
		}
		return out
	}
	var out []string
	for part := range strings.SplitSeq(v, ",") {
		if i := strings.LastIndexByte(part, '<'); i >= 0 {
			part = part[i+1:]
			if j := strings.IndexByte(part, '>'); j >= 0 {
				part = part[:j]
			}
		}
		out = append(out, strings.TrimSpace(part))
	}
	return out
}
