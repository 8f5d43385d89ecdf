package mailx

import (
	"bytes"
	"strings"

	"github.com/emersion/go-msgauth/authres"

	"unixmail/pkg/mbox"
)

// authLine is what print shows under the From line when showauth is set:
// the verdicts of the Authentication-Results field our own host wrote
// (sendmail removes forged ones naming it, RFC 8601 5), in short, so that
// a forged sender shows. Fields naming other hosts are anyone's words and
// are not shown. hdr is the message's From_ line and header block.
func (s *Session) authLine(hdr []byte) string {
	if !s.isSet("showauth") || s.o.Hostname == "" {
		return ""
	}
	_, block, _ := bytes.Cut(hdr, []byte("\n"))
	verdict := "none (not checked here)"
	found := false
	mbox.HeaderFields(block, func(name, value []byte) {
		if found || !strings.EqualFold(string(name), "Authentication-Results") {
			return
		}
		id, results, err := authres.Parse(strings.Join(strings.Fields(string(value)), " "))
		if err != nil || !strings.EqualFold(strings.TrimSuffix(id, "."), s.o.Hostname) {
			return
		}
		found = true
		verdict = shortResults(results)
	})
	return "Authentication: " + verdict + "\n"
}

// shortResults is "spf=pass dkim=fail dmarc=fail (From: example.org)".
func shortResults(results []authres.Result) string {
	var parts []string
	from := ""
	for _, r := range results {
		switch r := r.(type) {
		case *authres.SPFResult:
			parts = append(parts, "spf="+string(r.Value))
		case *authres.DKIMResult:
			parts = append(parts, "dkim="+string(r.Value))
		case *authres.DMARCResult:
			parts = append(parts, "dmarc="+string(r.Value))
			from = r.From
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	if from != "" {
		return strings.Join(parts, " ") + " (From: " + from + ")"
	}
	return strings.Join(parts, " ")
}
