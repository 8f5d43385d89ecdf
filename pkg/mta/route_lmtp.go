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

// lmtpTransport hands a message's recipients to the LMTP server (RFC
// 2033) of mailbox_transport, "HOST:PORT" or "unix:PATH", in one
// transaction over a new connection: the way a front host passes local
// mail to a mail store (see README).
type lmtpTransport struct {
	m     *MTA
	relay string
}

func (t lmtpTransport) deliver(ctx context.Context, e *queue.Entry, rcpts []localRcpt) []outcome {
	conn, err := dialTransport(ctx, t.relay)
	if err != nil {
		return lmtpFailed(make([]outcome, len(rcpts)), t.relay, err)
	}
	defer conn.Close()
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	var out []outcome
	withDeadline(ctx, conn, func() {
		if err := c.Hello(t.m.Cfg.Hostname); err != nil {
			out = lmtpFailed(make([]outcome, len(rcpts)), t.relay, err)
			return
		}
		out, _ = lmtpSend(c, e, addrsOf(rcpts), t.relay)
		c.Quit()
	})
	return out
}

func addrsOf(rcpts []localRcpt) []string {
	addrs := make([]string, len(rcpts))
	for j, lr := range rcpts {
		addrs[j] = lr.r.Addr
	}
	return addrs
}

// withDeadline runs fn with conn's deadline at lmtpTimeout, or sooner when
// ctx ends (a shutdown).
func withDeadline(ctx context.Context, conn net.Conn, fn func()) {
	deadline := time.Now().Add(lmtpTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	fn()
	stop()
	conn.SetDeadline(time.Time{})
}

// lmtpFailed defers every recipient not answered yet.
func lmtpFailed(out []outcome, relay string, err error) []outcome {
	for j := range out {
		if out[j] == (outcome{}) {
			out[j] = deferred(relay, "4.4.1", "LMTP to "+relay+": "+err.Error())
		}
	}
	return out
}

// lmtpSend is one LMTP transaction for the recipients addrs on a greeted
// client: its reply to each RCPT, and to each accepted recipient after
// the data, decides that recipient's fate (2xx sent, 4xx deferred, 5xx
// bounced). A connection that breaks off defers the recipients without a
// reply, and the error says the client cannot be used again.
func lmtpSend(c *smtp.Client, e *queue.Entry, addrs []string, relay string) ([]outcome, error) {
	out := make([]outcome, len(addrs))
	if err := c.Mail(e.Env.Sender, nil); err != nil {
		return lmtpFailed(out, relay, err), &notStartedError{err}
	}
	var accepted []int // positions in addrs
	for j, addr := range addrs {
		if err := c.Rcpt(addr, nil); err != nil {
			var se *smtp.SMTPError
			if !errors.As(err, &se) {
				return lmtpFailed(out, relay, err), err
			}
			out[j] = replyOutcome(relay, se)
			continue
		}
		accepted = append(accepted, j)
	}
	if len(accepted) == 0 {
		return out, c.Reset()
	}
	w, err := c.Data()
	if err != nil {
		return lmtpFailed(out, relay, err), err
	}
	msg := e.Message()
	defer msg.Close()
	if _, err := io.Copy(w, msg); err != nil {
		return lmtpFailed(out, relay, err), err
	}
	ok, err := w.CloseWithLMTPResponse()
	var refused smtp.LMTPDataError
	broken := err != nil && !errors.As(err, &refused)
	for _, j := range accepted {
		addr := addrs[j]
		switch {
		case refused[addr] != nil:
			out[j] = replyOutcome(relay, refused[addr])
		case ok[addr] != nil:
			out[j] = sent(relay, "250 "+ok[addr].StatusText)
		case !broken:
			out[j] = deferred(relay, "4.4.2", "LMTP server gave no reply for "+addr)
		}
	}
	if broken {
		// The recipients not answered are deferred; if the server did
		// deliver to them, they get the message once more.
		return lmtpFailed(out, relay, err), err
	}
	return out, nil
}

// notStartedError: the transaction failed before anything was sent for
// its recipients, so trying again cannot deliver twice.
type notStartedError struct{ err error }

func (e *notStartedError) Error() string { return e.err.Error() }
func (e *notStartedError) Unwrap() error { return e.err }

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
