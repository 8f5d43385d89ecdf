// Package smtpout delivers a message to a remote domain by SMTP, the way
// sendmail's queue runner needs it: one call per next hop, one result per
// recipient, 4xx and connection trouble temporary, 5xx permanent.
//
// Implemented: RFC 5321 (MX order and the implicit MX of 5.1, CRLF lines
// of at most 998 octets), RFC 7505 (null MX), RFC 3207 (STARTTLS), RFC 8314
// (implicit TLS), RFC 4954 (AUTH PLAIN, LOGIN, only over TLS), RFC 1870
// (SIZE), RFC 6152 (8BITMIME), RFC 6531 (SMTPUTF8), RFC 3463 status codes.
package smtpout

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/emersion/go-smtp"
)

// Options says how to reach the next hop.
type Options struct {
	Helo      string
	Relayhost string // "" = by MX; "host", "host:port", "[addr]:port" (brackets = no MX lookup), as Postfix
	TLS       string // none | opportunistic (default) | starttls (required) | tls (implicit)
	// AuthUser and AuthPass go only over TLS (PLAIN, else LOGIN); they are
	// never logged nor put in a Result.
	AuthUser, AuthPass string
	Port               int                                                         // default 25
	LookupMX           func(ctx context.Context, domain string) ([]*net.MX, error) // nil = net.DefaultResolver
	LookupHost         func(ctx context.Context, host string) ([]string, error)    // nil = net.DefaultResolver
	// TLSConfig nil = the system roots, checked against the host name;
	// opportunistic TLS does not check (RFC 7435): it only has to beat
	// plain text.
	TLSConfig *tls.Config
	Timeout   time.Duration // per connection and per command; 0 = RFC 5321 4.5.3.2's 5 minutes
}

// Result is the fate of one recipient.
type Result struct {
	Rcpt string
	// Code is the SMTP reply that decided it, 0 when there was none (a DNS
	// answer, a connection failure, a local check). Enhanced (RFC 3463) is
	// always set.
	Code      int
	Enhanced  string
	Message   string
	Temporary bool   // 4xx, connection failures, DNS failures other than NXDOMAIN
	Relay     string // "host[ip]:port" or "none"
}

const defaultTimeout = 5 * time.Minute

type delivery struct {
	o     Options
	from  string
	rcpts []string
	open  func() (io.ReadCloser, error)
	shape shape
}

// Deliver sends one message to recipients that share a next hop (one
// domain, or all via the relayhost), trying each MX in preference order
// over one connection for all recipients. open is called to read the
// message from the start: once to measure it, then once per host tried.
func Deliver(ctx context.Context, o Options, domain, from string, rcpts []string, open func() (io.ReadCloser, error)) []Result {
	d := &delivery{o: o, from: from, rcpts: rcpts, open: open}
	if r := d.measure(); r != nil {
		return d.all(r)
	}
	hops, fail := d.route(ctx, domain)
	if fail != nil {
		return d.all(d.relayhostDefers(fail))
	}
	var lastTemp, lastPerm *Result
	for _, h := range hops {
		addrs, fail := d.addresses(ctx, h)
		if fail != nil {
			if fail.Temporary {
				lastTemp = fail
			} else {
				lastPerm = fail
			}
			continue
		}
		for _, addr := range addrs {
			results, fail := d.attempt(ctx, h, addr)
			if fail == nil {
				return results
			}
			lastTemp = fail
		}
	}
	if lastTemp != nil {
		return d.all(lastTemp)
	}
	return d.all(d.relayhostDefers(lastPerm))
}

// relayhostDefers: a relayhost that cannot be found is a configuration
// mistake to fix, not a reason to bounce mail.
func (d *delivery) relayhostDefers(r *Result) *Result {
	if d.o.Relayhost != "" && !r.Temporary {
		t := *r
		t.Temporary, t.Enhanced = true, "4"+r.Enhanced[1:]
		return &t
	}
	return r
}

// all gives every recipient the same fate.
func (d *delivery) all(r *Result) []Result {
	out := make([]Result, len(d.rcpts))
	for i, rcpt := range d.rcpts {
		out[i] = *r
		out[i].Rcpt = rcpt
	}
	return out
}

// measure reads the message once for its size and 8-bit content, and
// refuses it for good if a line is too long to send unchanged.
func (d *delivery) measure() *Result {
	rc, err := d.open()
	if err != nil {
		return &Result{Enhanced: "4.3.0", Message: "open message: " + err.Error(), Temporary: true, Relay: "none"}
	}
	defer rc.Close()
	d.shape, err = copyLines(io.Discard, rc)
	switch {
	case errors.Is(err, errLongLine):
		return &Result{Enhanced: "5.6.0", Message: "Message not sent: " + err.Error() + " (RFC 5321 4.5.3.1.6)", Relay: "none"}
	case err != nil:
		return &Result{Enhanced: "4.3.0", Message: "read message: " + err.Error(), Temporary: true, Relay: "none"}
	}
	return nil
}

// failure is a session that ended before any recipient got an answer of
// its own: the next host may do better.
func failure(relay string, err error) *Result {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		r := fromReply(relay, se)
		// Whatever the code, one host's refusal to talk is not the
		// domain's verdict; the queue retries.
		r.Temporary = true
		if r.Enhanced[0] == '5' {
			r.Enhanced = "4" + r.Enhanced[1:]
		}
		return r
	}
	return &Result{Enhanced: "4.4.1", Message: err.Error(), Temporary: true, Relay: relay}
}

// fromReply turns a server's reply into a Result.
func fromReply(relay string, se *smtp.SMTPError) *Result {
	class := se.Code / 100
	enh := se.EnhancedCode
	enhanced := fmt.Sprintf("%d.%d.%d", enh[0], enh[1], enh[2])
	// Code 0 is our own verdict, which always has an enhanced code.
	if enh == smtp.EnhancedCodeNotSet || enh == smtp.NoEnhancedCode || (class != 0 && enh[0] != class) {
		enhanced = strconv.Itoa(class) + ".0.0"
	}
	return &Result{Code: se.Code, Enhanced: enhanced, Message: se.Message, Temporary: class != 5, Relay: relay}
}

// attempt runs one SMTP session. It returns the results when a server took
// responsibility for the recipients' fate, or why the next host should be
// tried.
func (d *delivery) attempt(ctx context.Context, h hop, addr string) ([]Result, *Result) {
	hostport := net.JoinHostPort(addr, strconv.Itoa(h.port))
	relay := h.name + "[" + addr + "]:" + strconv.Itoa(h.port)
	c, encrypted, err := d.connect(ctx, h, hostport, d.tlsMode())
	var tlsErr *tlsHandshakeError
	if errors.As(err, &tlsErr) && d.tlsMode() == "opportunistic" {
		// RFC 7435: a failed handshake falls back to plain text.
		c, encrypted, err = d.connect(ctx, h, hostport, "none")
	}
	if err != nil {
		return nil, failure(relay, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()

	if err := d.auth(c, encrypted); err != nil {
		return nil, failure(relay, err)
	}
	opts, fail := d.mailOptions(c, relay)
	if fail != nil {
		return d.all(fail), nil
	}
	if err := c.Mail(d.from, opts); err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) && se.Code/100 == 5 {
			return d.all(fromReply(relay, se)), nil
		}
		return nil, failure(relay, err)
	}
	results, accepted := d.rcptAll(c, relay)
	if len(accepted) == 0 {
		c.Quit()
		return results, nil
	}
	final := d.data(c, relay)
	for _, i := range accepted {
		rcpt := results[i].Rcpt
		results[i] = *final
		results[i].Rcpt = rcpt
	}
	c.Quit()
	return results, nil
}

// rcptAll sends every RCPT; each recipient keeps the answer it got.
func (d *delivery) rcptAll(c *smtp.Client, relay string) ([]Result, []int) {
	results := make([]Result, len(d.rcpts))
	var accepted []int
	for i, rcpt := range d.rcpts {
		err := c.Rcpt(rcpt, nil)
		var se *smtp.SMTPError
		switch {
		case err == nil:
			accepted = append(accepted, i)
			results[i] = Result{Rcpt: rcpt}
			continue
		case errors.As(err, &se):
			results[i] = *fromReply(relay, se)
		default:
			results[i] = *failure(relay, err)
		}
		results[i].Rcpt = rcpt
	}
	return results, accepted
}

// data sends the message; its final reply decides every accepted
// recipient.
func (d *delivery) data(c *smtp.Client, relay string) *Result {
	rc, err := d.open()
	if err != nil {
		return &Result{Enhanced: "4.3.0", Message: "open message: " + err.Error(), Temporary: true, Relay: relay}
	}
	defer rc.Close()
	wc, err := c.Data()
	if err != nil {
		return d.replyOrFailure(relay, err)
	}
	if _, err := copyLines(wc, rc); err != nil {
		// Hanging up before the final dot aborts the transaction: the
		// server must not deliver a truncated message.
		c.Close()
		return &Result{Enhanced: "4.3.0", Message: "read message: " + err.Error(), Temporary: true, Relay: relay}
	}
	resp, err := wc.CloseWithResponse()
	if err != nil {
		return d.replyOrFailure(relay, err)
	}
	r := &Result{Code: 250, Enhanced: "2.0.0", Message: resp.StatusText, Relay: relay}
	if enh, text, ok := cutEnhanced(resp.StatusText); ok {
		r.Enhanced, r.Message = fmt.Sprintf("%d.%d.%d", enh[0], enh[1], enh[2]), text
	}
	return r
}

func (d *delivery) replyOrFailure(relay string, err error) *Result {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return fromReply(relay, se)
	}
	return failure(relay, err)
}
