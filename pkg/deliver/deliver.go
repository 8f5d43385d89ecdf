// Package deliver is the mail delivery agent: it appends a message to a
// local user's mbox, the way mail.local and procmail do, with the safety
// rules of SPEC.md. Its LMTP side (deliver -l) is pkg/lmtpd.
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
	// Self is the user this process runs as, when it is known: in a
	// child started by Child.Command, found without reading the user
	// database, which the user may not be allowed to read (it can only
	// ever write the user's own files, so trusting the name it was given
	// costs nothing); after BecomeSole, the user it became.
	Self *userdb.User
	// child: a per-user child, whose warnings go to its parent through
	// standard error (it has no log of its own).
	child bool
}

// Open makes the Env of a deliver process run with cfg. Its log never
// falls back to standard error, which an MTA may quote in a bounce (and
// which is the protocol in LMTP mode): a log file it cannot open (run as
// a user, the administrator's) gives way to syslog, else to nothing. A
// per-user child a root deliver starts (see CallerEnv) does not even
// open the log: its parent logs. Open reports whether this is such a
// child.
func Open(cfg *config.Config) (*Env, bool) {
	isChild := os.Getenv(CallerEnv) != ""
	log := maillog.Discard()
	if !isChild {
		log = maillog.New(cfg.Log, "deliver", true)
	}
	return &Env{Config: cfg, Users: userdb.Open(cfg.UserDB).WithoutHashes(), Log: log, Now: time.Now, Lock: lock.Options{Timeout: cfg.LockTimeout}, child: isChild}, isChild
}

// warn logs what the administrator must hear of; a child tells its
// parent, which logs it beside the recipient's result (Result.Warning).
func (e *Env) warn(format string, args ...any) {
	if e.child {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
		return
	}
	e.Log.Warn(format, args...)
}

// ConfigArgs are the flags that make a child load the configuration this
// process loaded: -C, and each -o of overrides.
func ConfigArgs(cfg *config.Config, overrides []string) []string {
	var args []string
	if cfg.Path != "" {
		args = append(args, "-C", cfg.Path)
	}
	for _, o := range overrides {
		args = append(args, "-o", o)
	}
	return args
}

// Result is one recipient's outcome.
type Result struct {
	User    string
	Mailbox string
	Size    int64
	Err     error
	Warning string // what a child that delivered said besides
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
	if r.Warning != "" {
		e.Log.Warn("to=<%s>%s: %s", r.User, detail, r.Warning)
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
	if e.Self != nil && e.Self.Name == name {
		return e.Self, nil
	}
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
	return e.Batch(ctx, []Item{{Req: req, User: u, In: in}})[0]
}

// Item is one delivery of a Batch.
type Item struct {
	Req  *Request
	User *userdb.User
	In   *Incoming
}

// Batch appends several messages for one user's mailbox (every item must
// name the same user and mailbox) under one lock and one fdatasync: group
// commit, for an MTA taking many messages for one mailbox at once. The
// append is all or nothing: on failure every item fails with the same
// error, and the mailbox is as it was. (What fails an append is the
// mailbox's own trouble: its lock, its disk, its safety checks.)
func (e *Env) Batch(ctx context.Context, items []Item) []Result {
	u := items[0].User
	results := make([]Result, len(items))
	path := e.MailboxFor(u, items[0].Req)
	for i, it := range items {
		results[i] = Result{User: it.User.Name, Mailbox: path}
	}
	fail := func(err error) []Result {
		for i := range results {
			results[i].Err, results[i].Size = err, 0
		}
		return results
	}
	if euid := os.Geteuid(); euid != u.UID {
		return fail(sysexits.Wrap(sysexits.NoPerm, fmt.Errorf("cannot deliver to %s (uid %d) as uid %d", u.Name, u.UID, euid)))
	}
	mb, err := mbox.Open(path, mbox.OpenOptions{Create: true, Owner: u.UID, Lock: e.Lock, NoDotLockOK: true, Warn: e.warn})
	if err != nil {
		return fail(classify(err))
	}
	err = mb.Append(ctx, func(w io.Writer) error {
		for i, it := range items {
			n, err := e.write(w, it)
			results[i].Size = n
			if err != nil {
				return err
			}
		}
		return nil
	})
	mb.Close()
	if err != nil {
		return fail(classify(err))
	}
	return results
}

// write writes one item in mbox form: its From_ line and its content.
func (e *Env) write(w io.Writer, it Item) (int64, error) {
	sender := it.Req.Sender
	if !it.Req.SenderGiven && it.In.FromSender != "" {
		sender = it.In.FromSender
	}
	deliveredTo := it.Req.Address
	if deliveredTo == "" {
		deliveredTo = it.User.Name + "@" + e.Config.Hostname
	}
	return mbox.WriteMessage(w, mbox.FromLine(sender, e.Now()), it.In.content(sender, deliveredTo))
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
