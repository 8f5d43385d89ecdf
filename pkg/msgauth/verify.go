package msgauth

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strings"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"

	"unixmail/pkg/resolver"
)

// Policy says what a verdict does to a message; each field holds the
// value of its unixmail.conf(5) key.
type Policy struct {
	SPF       string // spf_policy: "reject" refuses an SPF fail; "off" only records it
	DMARC     string // dmarc_policy: "reject", "header" or "off" (no DMARC check)
	TempError string // dns_temperror_policy: "defer" (451) or "accept"
}

// Verifier checks mail arriving from outside.
type Verifier struct {
	Hostname string // the authserv-id of our Authentication-Results
	Resolver *resolver.Resolver
	Policy   Policy
}

// Envelope is what the SMTP client said before the message.
type Envelope struct {
	IP       net.IP
	Helo     string
	MailFrom string // "" is the null sender
}

// DKIMResult is the verdict on one signature.
type DKIMResult struct {
	Value  authres.ResultValue
	Domain string // d=
	Reason string
}

// Reply refuses a message: an SMTP reply code, enhanced code and text.
type Reply struct {
	Code     int
	Enhanced [3]int
	Text     string
}

// Verdict is what the checks found and what becomes of the message.
type Verdict struct {
	SPF       spf.Result
	SPFDomain string // the domain SPF checked: MAIL FROM's, else HELO's
	SPFHelo   bool   // SPFDomain is HELO's (the null sender)
	DKIM      []DKIMResult
	// DMARC is "" when dmarc_policy is off.
	DMARC       authres.ResultValue
	DMARCPolicy dmarc.Policy // the policy that applies to From's domain
	From        string       // the author domain, "" when there is none
	Reply       *Reply       // nil: accept the message
}

// Check runs SPF, DKIM and DMARC on msg (the whole message as received,
// header and body) and decides its fate under v.Policy.
func (v *Verifier) Check(ctx context.Context, env Envelope, msg []byte) *Verdict {
	vd := &Verdict{}
	spfDone := make(chan struct{})
	go func() {
		defer close(spfDone)
		vd.SPF, vd.SPFDomain = v.checkSPF(ctx, env)
		vd.SPFHelo = !strings.Contains(env.MailFrom, "@")
	}()
	vd.DKIM = v.checkDKIM(ctx, msg)
	<-spfDone
	if v.Policy.DMARC != "off" {
		fields, _ := splitHeader(msg)
		v.checkDMARC(ctx, vd, fromDomains(fields))
	}
	vd.Reply = v.decide(vd)
	return vd
}

func (v *Verifier) checkSPF(ctx context.Context, env Envelope) (spf.Result, string) {
	// RFC 7208 2.4: the null sender is checked as postmaster@HELO, which
	// the library does for a sender without a domain.
	domain := env.Helo
	if at := strings.LastIndexByte(env.MailFrom, '@'); at >= 0 {
		domain = env.MailFrom[at+1:]
	}
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if env.IP == nil {
		return spf.None, domain
	}
	res, _ := spf.CheckHostWithSender(env.IP, env.Helo, env.MailFrom,
		spf.WithResolver(v.Resolver), spf.WithContext(ctx))
	return res, domain
}

func (v *Verifier) checkDKIM(ctx context.Context, msg []byte) []DKIMResult {
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{
		LookupTXT:        v.Resolver.TXT(ctx),
		MaxVerifications: 5,
	})
	var out []DKIMResult
	for _, ver := range verifs {
		r := DKIMResult{Value: authres.ResultPass, Domain: strings.ToLower(ver.Domain)}
		if ver.Err != nil {
			r.Reason = strings.TrimPrefix(ver.Err.Error(), "dkim: ")
			switch {
			case dkim.IsTempFail(ver.Err):
				r.Value = authres.ResultTempError
			case dkim.IsPermFail(ver.Err):
				r.Value = authres.ResultPermError
			default:
				r.Value = authres.ResultFail
			}
		}
		out = append(out, r)
	}
	if err != nil && len(out) == 0 {
		// The message could not be parsed, or had too many signatures.
		out = append(out, DKIMResult{Value: authres.ResultPermError, Reason: strings.TrimPrefix(err.Error(), "dkim: ")})
	}
	return out
}

// checkDMARC applies RFC 7489 6.6: find the policy of the author domain
// (or of its organizational domain), then pass if SPF or DKIM passed for
// an aligned domain.
func (v *Verifier) checkDMARC(ctx context.Context, vd *Verdict, from []string) {
	if len(from) != 1 {
		// RFC 7489 6.6.1: no single author domain, nothing to align with.
		vd.DMARC = authres.ResultPermError
		return
	}
	vd.From = from[0]
	rec, orgLevel, err := v.lookupDMARC(ctx, vd.From)
	switch {
	case errors.Is(err, dmarc.ErrNoPolicy):
		vd.DMARC = authres.ResultNone
		return
	case dmarc.IsTempFail(err):
		vd.DMARC = authres.ResultTempError
		return
	case err != nil:
		vd.DMARC = authres.ResultPermError
		return
	}
	vd.DMARCPolicy = rec.Policy
	if orgLevel && rec.SubdomainPolicy != "" {
		vd.DMARCPolicy = rec.SubdomainPolicy
	}
	vd.DMARC = authres.ResultFail
	if vd.SPF == spf.Pass && aligned(vd.SPFDomain, vd.From, rec.SPFAlignment) {
		vd.DMARC = authres.ResultPass
	}
	for _, d := range vd.DKIM {
		if d.Value == authres.ResultPass && aligned(d.Domain, vd.From, rec.DKIMAlignment) {
			vd.DMARC = authres.ResultPass
		}
	}
	// A check that could not finish might have passed: no verdict yet.
	if vd.DMARC == authres.ResultFail && vd.tempError() {
		vd.DMARC = authres.ResultTempError
		return
	}
	// RFC 7489 6.6.4: a message outside the pct= sample gets the next
	// milder policy.
	if vd.DMARC == authres.ResultFail && rec.Percent != nil && rand.IntN(100) >= *rec.Percent {
		switch vd.DMARCPolicy {
		case dmarc.PolicyReject:
			vd.DMARCPolicy = dmarc.PolicyQuarantine
		case dmarc.PolicyQuarantine:
			vd.DMARCPolicy = dmarc.PolicyNone
		}
	}
}

// lookupDMARC finds the record of domain, else of its organizational
// domain (RFC 7489 6.6.3); orgLevel says it came from there.
func (v *Verifier) lookupDMARC(ctx context.Context, domain string) (rec *dmarc.Record, orgLevel bool, err error) {
	opts := &dmarc.LookupOptions{LookupTXT: v.Resolver.TXT(ctx)}
	rec, err = dmarc.LookupWithOptions(domain, opts)
	if org := orgDomain(domain); errors.Is(err, dmarc.ErrNoPolicy) && org != domain {
		rec, err = dmarc.LookupWithOptions(org, opts)
		return rec, true, err
	}
	return rec, false, err
}

// orgDomain is the organizational domain (RFC 7489 3.2): the public
// suffix and one label more.
func orgDomain(domain string) string {
	org, err := publicsuffix.EffectiveTLDPlusOne(domain)
	if err != nil {
		return domain
	}
	return org
}

// aligned compares an authenticated domain with the author domain, in
// strict mode exactly, in relaxed mode (the default) by organizational
// domain (RFC 7489 3.1).
func aligned(authDomain, from string, mode dmarc.AlignmentMode) bool {
	if authDomain == "" {
		return false
	}
	if strings.EqualFold(authDomain, from) {
		return true
	}
	return mode != dmarc.AlignmentStrict && strings.EqualFold(orgDomain(authDomain), orgDomain(from))
}

// decide turns a verdict into a reply under the policy: a hard failure
// the policy refuses first, then a DNS failure that may clear up.
func (v *Verifier) decide(vd *Verdict) *Reply {
	if vd.SPF == spf.Fail && v.Policy.SPF == "reject" {
		// RFC 7372 3.2.
		return &Reply{550, [3]int{5, 7, 23}, "SPF validation failed for " + vd.SPFDomain}
	}
	if vd.DMARC == authres.ResultFail && vd.DMARCPolicy == dmarc.PolicyReject && v.Policy.DMARC == "reject" {
		return &Reply{550, [3]int{5, 7, 1}, "Rejected by the DMARC policy of " + vd.From}
	}
	if v.Policy.TempError == "defer" && vd.tempError() {
		return &Reply{451, [3]int{4, 4, 3}, "Temporary DNS failure checking SPF, DKIM or DMARC; try again later"}
	}
	return nil
}

func (vd *Verdict) tempError() bool {
	if vd.SPF == spf.TempError || vd.DMARC == authres.ResultTempError {
		return true
	}
	for _, d := range vd.DKIM {
		if d.Value == authres.ResultTempError {
			return true
		}
	}
	return false
}
