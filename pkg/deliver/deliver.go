// Package deliver is the mail delivery agent: it appends a message to a
// local user's mbox, the way mail.local and procmail do, with the safety
// rules of SPEC.md, and speaks LMTP (RFC 2033) for MTAs that hand over
// several recipients at once.
package deliver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"unixmail/pkg/config"
	"unixmail/pkg/lock"
	"unixmail/pkg/maillog"
	"unixmail/pkg/mbox"
	"unixmail/pkg/sysexits"
	"unixmail/pkg/userdb"
)

// Request is what the caller asks for, from deliver's flags.
type Request struct {
	Sender      string // envelope sender (-f); "" is the null sender
	SenderGiven bool   // -f was given; else the From_ line or the caller names the sender
	Address     string // -a: the recipient address for Delivered-To
	Mailbox     string // -m: a mailbox pattern overriding the config's
}

// Env is what deliveries need from the system.
type Env struct {
	Config *config.Config
	Users  *userdb.DB
	Log    *maillog.Logger
	Now    func() time.Time
	Lock   lock.Options
}

// Result is one recipient's outcome.
type Result struct {
	User    string
	Mailbox string
	Size    int64
	Err     error
}

// Code is the sysexits code for the result.
func (r Result) Code() int { return sysexits.Code(r.Err) }

// Status is the word the log uses for the result.
func (r Result) Status() string {
	switch r.Code() {
	case sysexits.OK:
		return "sent"
	case sysexits.TempFail:
		return "deferred"
	}
	return "bounced"
}

// LogResult writes the one line an admin greps for.
func (e *Env) LogResult(r Result, lmtp bool) {
	detail := ""
	if r.Mailbox != "" {
		detail = fmt.Sprintf(" mailbox=%s size=%d", r.Mailbox, r.Size)
	}
	if lmtp {
		detail += " protocol=lmtp"
	}
	if r.Err == nil {
		e.Log.Info("to=<%s>%s status=sent", r.User, detail)
		return
	}
	e.Log.Warn("to=<%s>%s status=%s (%v)", r.User, detail, r.Status(), r.Err)
}

// MailboxFor is the mailbox path of u: the -m pattern if given, else the
// configuration's.
func (e *Env) MailboxFor(u *userdb.User, req *Request) string {
	pattern := e.Config.Mailbox
	if req.Mailbox != "" {
		pattern = req.Mailbox
	}
	return u.Expand(pattern)
}

// LookupUser finds a recipient, with the exit code that goes with failing.
func (e *Env) LookupUser(name string) (*userdb.User, error) {
	u, err := e.Users.Lookup(name)
	if errors.Is(err, userdb.ErrNoUser) {
		return nil, sysexits.Wrap(sysexits.NoUser, errors.New("no such user"))
	}
	if err != nil {
		return nil, sysexits.Wrap(sysexits.TempFail, fmt.Errorf("look up %s: %w", name, err))
	}
	return u, nil
}

// One appends the message to u's mailbox in this process, which must run
// as u (or, in a sandbox, as the owner of u's files). The message streams
// from in, so in serves this one delivery.
func (e *Env) One(ctx context.Context, req *Request, u *userdb.User, in *Incoming) Result {
	r := Result{User: u.Name, Mailbox: e.MailboxFor(u, req)}
	if euid := os.Geteuid(); euid != u.UID {
		r.Err = sysexits.Wrap(sysexits.NoPerm, fmt.Errorf("cannot deliver to %s (uid %d) as uid %d", u.Name, u.UID, euid))
		return r
	}
	mb, err := mbox.Open(r.Mailbox, mbox.OpenOptions{Create: true, Owner: u.UID, Lock: e.Lock, NoDotLockOK: true})
	if err != nil {
		r.Err = classify(err)
		return r
	}
	defer mb.Close()

	sender := req.Sender
	if !req.SenderGiven && in.FromSender != "" {
		sender = in.FromSender
	}
	deliveredTo := req.Address
	if deliveredTo == "" {
		deliveredTo = u.Name + "@" + e.Config.Hostname
	}
	from := mbox.FromLine(sender, e.Now())
	err = mb.Append(ctx, func(w io.Writer) error {
		n, err := mbox.WriteMessage(w, from, in.content(sender, deliveredTo))
		r.Size = n
		return err
	})
	if err != nil {
		r.Err = classify(err)
	}
	return r
}

// classify picks the exit code for a failed delivery: the sender's MTA
// retries 75 and bounces the rest, so only what a person must fix and
// will not fix itself is permanent.
func classify(err error) error {
	var se *sysexits.Error
	switch {
	case errors.As(err, &se):
		return err
	case errors.Is(err, mbox.ErrUnsafe):
		return sysexits.Wrap(sysexits.NoPerm, err)
	case errors.Is(err, os.ErrPermission), errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ENOTDIR):
		return sysexits.Wrap(sysexits.CantCreat, err)
	case errors.Is(err, context.Canceled):
		return sysexits.Wrap(sysexits.TempFail, fmt.Errorf("interrupted: %w", err))
	}
	// Lock timeouts, ENOSPC, EDQUOT, EFBIG, EIO: all may pass.
	return sysexits.Wrap(sysexits.TempFail, err)
}
