package msgauth

import (
	"strings"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dmarc"
)

// results are the verdicts as go-msgauth's authres results, in the order
// they are checked.
func (vd *Verdict) results() []authres.Result {
	spfRes := &authres.SPFResult{Value: authres.ResultValue(vd.SPF), From: vd.SPFDomain}
	if vd.SPFHelo {
		spfRes.From, spfRes.Helo = "", vd.SPFDomain
	}
	out := []authres.Result{spfRes}
	if len(vd.DKIM) == 0 {
		out = append(out, &authres.DKIMResult{Value: authres.ResultNone})
	}
	for _, d := range vd.DKIM {
		out = append(out, &authres.DKIMResult{Value: d.Value, Reason: d.Reason, Domain: d.Domain})
	}
	if vd.DMARC != "" {
		r := &authres.DMARCResult{Value: vd.DMARC, From: vd.From}
		if vd.DMARC == authres.ResultFail {
			r.Reason = "p=" + string(vd.DMARCPolicy)
		}
		out = append(out, r)
	}
	return out
}

// Header is the Authentication-Results field (RFC 8601) for the verdict,
// one method a line, ending in eol.
func (vd *Verdict) Header(hostname, eol string) string {
	var b strings.Builder
	b.WriteString("Authentication-Results: " + hostname)
	for _, r := range vd.results() {
		// Format of a lone result gives "; method=value params".
		b.WriteString(";" + eol + "\t" + strings.TrimSpace(strings.TrimPrefix(authres.Format("", []authres.Result{r}), ";")))
	}
	return b.String() + eol
}

// LogNote is the verdict for the message's log line: "spf=pass,
// dkim=pass (example.org), dmarc=pass".
func (vd *Verdict) LogNote() string {
	parts := []string{"spf=" + string(vd.SPF)}
	if len(vd.DKIM) == 0 {
		parts = append(parts, "dkim=none")
	}
	for _, d := range vd.DKIM {
		p := "dkim=" + string(d.Value)
		if d.Domain != "" {
			p += " (" + d.Domain + ")"
		}
		parts = append(parts, p)
	}
	if vd.DMARC != "" {
		p := "dmarc=" + string(vd.DMARC)
		if vd.DMARC == "fail" && vd.DMARCPolicy != dmarc.PolicyNone {
			p += " (p=" + string(vd.DMARCPolicy) + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

// StripForged removes the Authentication-Results fields that claim to
// come from hostname (RFC 8601 5): only we may write those, and a sender
// who adds one hopes to pass for checked mail.
func StripForged(msg []byte, hostname string) []byte {
	fields, _ := splitHeader(msg)
	var out []byte
	off := 0
	for _, f := range fields {
		if strings.EqualFold(f.name(), "Authentication-Results") && strings.EqualFold(AuthServID(f.value()), hostname) {
			if out == nil {
				out = make([]byte, 0, len(msg))
			}
			start := fieldOffset(msg, f)
			out = append(out, msg[off:start]...)
			off = start + len(f)
		}
	}
	if out == nil {
		return msg
	}
	return append(out, msg[off:]...)
}

// fieldOffset is where f starts in msg: splitHeader's fields are slices
// of msg, which share its end.
func fieldOffset(msg []byte, f field) int {
	return cap(msg) - cap(f)
}

// AuthServID is the authserv-id of an Authentication-Results value, the
// host that wrote it (RFC 8601 2.2), read past leading comments.
func AuthServID(v string) string {
	v = skipComments(v)
	end := strings.IndexAny(v, "; \t(")
	if end < 0 {
		end = len(v)
	}
	return strings.TrimSuffix(v[:end], ".")
}

func skipComments(v string) string {
	for {
		v = strings.TrimLeft(v, " \t")
		if !strings.HasPrefix(v, "(") {
			return v
		}
		depth, i := 0, 0
		for ; i < len(v); i++ {
			switch v[i] {
			case '\\':
				i++
			case '(':
				depth++
			case ')':
				depth--
			}
			if depth == 0 {
				break
			}
		}
		if i >= len(v) {
			return ""
		}
		v = v[i+1:]
	}
}
