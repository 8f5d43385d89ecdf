package mta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"unixmail/pkg/queue"
)

// lmtpTimeout bounds one LMTP transaction, as Postfix's lmtp_*_timeout
// do together.
const lmtpTimeout = 10 * time.Minute

// deliverLocal delivers e to its local-mailbox recipients idx: all at
// once to the LMTP server of mailbox_transport when there is one, else
// each through deliverUser.
func (m *MTA) deliverLocal(ctx context.Context, e *queue.Entry, idx []int) []outcome {
	if m.Cfg.MailboxTransport != "" {
		return m.deliverLMTP(ctx, e, idx)
	}
	out := make([]outcome, len(idx))
	for j, i := range idx {
		out[j] = m.deliverUser(ctx, e, &e.Env.Rcpts[i])
	}
	return out
}

// deliverLMTP hands the recipients idx to the LMTP server (RFC 2033) of
// mailbox_transport in one transaction: its reply to each RCPT, and to
// each accepted recipient after the data, decides that recipient's fate
// (2xx sent, 4xx deferred, 5xx bounced). A server that cannot be reached
// or breaks off defers every recipient without a reply.
func (m *MTA) deliverLMTP(ctx context.Context, e *queue.Entry, idx []int) []outcome {
	out := make([]outcome, len(idx))
	relay := strings.TrimPrefix(m.Cfg.MailboxTransport, "lmtp:")
	fail := func(err error) []outcome {
		for j := range out {
			if out[j].state == "" && out[j].status == "" {
				out[j] = deferred(relay, "4.4.1", "LMTP to "+relay+": "+err.Error())
			}
		}
		return out
	}
	conn, err := dialTransport(ctx, relay)
	if err != nil {
		return fail(err)
	}
	defer conn.Close()
	deadline := time.Now().Add(lmtpTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello(m.Cfg.Hostname); err != nil {
		return fail(err)
	}
	if err := c.Mail(e.Env.Sender, nil); err != nil {
		return fail(err)
	}
	var accepted []int // positions in idx
	for j, i := range idx {
		if err := c.Rcpt(e.Env.Rcpts[i].Addr, nil); err != nil {
			var se *smtp.SMTPError
			if !errors.As(err, &se) {
				return fail(err)
			}
			out[j] = replyOutcome(relay, se)
			continue
		}
		accepted = append(accepted, j)
	}
	if len(accepted) == 0 {
		c.Quit()
		return out
	}
	w, err := c.Data()
	if err != nil {
		return fail(err)
	}
	msg := e.Message()
	defer msg.Close()
	if _, err := io.Copy(w, msg); err != nil {
		return fail(err)
	}
	ok, err := w.CloseWithLMTPResponse()
	var refused smtp.LMTPDataError
	if err != nil && !errors.As(err, &refused) {
		// A reply missing: the recipients not answered are deferred, and
		// if the server did deliver, they get the message once more.
		for _, j := range accepted {
			addr := e.Env.Rcpts[idx[j]].Addr
			if r, done := ok[addr]; done {
				out[j] = sent(relay, "250 "+r.StatusText)
			}
		}
		return fail(err)
	}
	for _, j := range accepted {
		addr := e.Env.Rcpts[idx[j]].Addr
		switch {
		case refused[addr] != nil:
			out[j] = replyOutcome(relay, refused[addr])
		case ok[addr] != nil:
			out[j] = sent(relay, "250 "+ok[addr].StatusText)
		default:
			out[j] = deferred(relay, "4.4.2", "LMTP server gave no reply for "+addr)
		}
	}
	c.Quit()
	return out
}

// replyOutcome reads an LMTP reply: 4xx try again, 5xx bounce.
func replyOutcome(relay string, se *smtp.SMTPError) outcome {
	status := fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
	diag := fmt.Sprintf("host %s said: %d %s %s", relay, se.Code, status, se.Message)
	if se.Code/100 == 4 {
		if se.EnhancedCode[0] != 4 {
			status = "4.0.0"
		}
		return deferred(relay, status, diag)
	}
	if se.EnhancedCode[0] != 5 {
		status = "5.0.0"
	}
	return bounced(relay, status, diag)
}

// dialTransport connects to "unix:PATH" or "HOST:PORT".
func dialTransport(ctx context.Context, where string) (net.Conn, error) {
	var d net.Dialer
	d.Timeout = 30 * time.Second
	if path, ok := strings.CutPrefix(where, "unix:"); ok {
		return d.DialContext(ctx, "unix", path)
	}
	return d.DialContext(ctx, "tcp", where)
}
