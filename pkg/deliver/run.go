package deliver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"unixmail/pkg/sysexits"
	"unixmail/pkg/userdb"
)

// BecomeSole readies a call made as root for one user, nearly every call
// an MTA makes: it looks the user up, makes a missing mailbox in a spool
// directory (PrepareSpool), and becomes the user in this process for good
// (see become), so that Run then delivers as the user with no second
// process. It is meant to come first, before the caller starts signal
// handling or anything else that adds threads: each credential change is
// made on every thread alive, by a signal to each. On failure it returns
// the call's results, logged; else nil. Any other call it leaves alone.
func (e *Env) BecomeSole(req *Request, users []string) []Result {
	if len(users) != 1 || os.Geteuid() != 0 {
		return nil
	}
	u, err := e.LookupUser(users[0])
	if err == nil && !e.NeedsChild(u) {
		e.Self = u // root for root: nothing to become
		return nil
	}
	if err == nil {
		PrepareSpool(e.MailboxFor(u, req), u)
		err = become(u)
	}
	if err != nil {
		r := Result{User: users[0], Err: err}
		e.LogResult(r, false)
		return []Result{r}
	}
	e.Self = u
	return nil
}

// Run delivers the message on msg to each user and returns a result per
// user, in order. A user whose uid is ours we deliver to ourselves; run as
// root, we hand each user's delivery to a child running as that user
// (unless BecomeSole made us the only one); anyone else is refused (One
// says why).
func (e *Env) Run(ctx context.Context, req *Request, users []string, msg io.Reader, child *Child) []Result {
	if limit := e.Config.MessageSizeLimit; limit > 0 {
		msg = &sizeLimited{r: msg, left: limit, limit: limit}
	}
	looked := make([]*userdb.User, len(users))
	results := make([]Result, len(users))
	viaChild := false
	for i, name := range users {
		u, err := e.LookupUser(name)
		if err != nil {
			results[i] = Result{User: name, Err: err}
			e.LogResult(results[i], false)
			continue
		}
		looked[i] = u
		viaChild = viaChild || e.NeedsChild(u)
	}
	// One user we may write as ourselves: stream the message straight in.
	if len(users) == 1 && !viaChild {
		if looked[0] != nil {
			results[0] = e.inProcess(ctx, req, looked[0], msg)
		}
		return results
	}
	spool, err := Spool(msg)
	if err != nil {
		return failAll(users, err)
	}
	defer spool.Close()
	for i, u := range looked {
		if u == nil {
			continue
		}
		if e.NeedsChild(u) {
			results[i] = child.Deliver(ctx, u, e.MailboxFor(u, req), spool)
			e.LogResult(results[i], false)
			continue
		}
		if _, err := spool.Seek(0, io.SeekStart); err != nil {
			results[i] = Result{User: u.Name, Err: sysexits.Wrap(sysexits.TempFail, fmt.Errorf("rewind spool: %w", err))}
			continue
		}
		results[i] = e.inProcess(ctx, req, u, spool)
	}
	return results
}

// NeedsChild reports whether u's mailbox must be written by a child
// running as u: it must whenever we are root (and u is not).
func (e *Env) NeedsChild(u *userdb.User) bool { return os.Geteuid() == 0 && u.UID != 0 }

func (e *Env) inProcess(ctx context.Context, req *Request, u *userdb.User, msg io.Reader) Result {
	in, err := ReadIncoming(msg)
	if err != nil {
		r := Result{User: u.Name, Mailbox: e.MailboxFor(u, req), Err: orTempFail(err)}
		e.LogResult(r, false)
		return r
	}
	r := e.One(ctx, req, u, in)
	e.LogResult(r, false)
	return r
}

// orTempFail keeps err's exit code, or makes it a temporary failure.
func orTempFail(err error) error {
	var se *sysexits.Error
	if errors.As(err, &se) {
		return err
	}
	return sysexits.Wrap(sysexits.TempFail, err)
}

// sizeLimited fails the read that takes a message past message_size_limit,
// so that the append it feeds is rolled back and nothing is written.
type sizeLimited struct {
	r           io.Reader
	left, limit int64
}

func (s *sizeLimited) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if s.left -= int64(n); s.left < 0 {
		return 0, sysexits.Wrap(sysexits.DataErr, fmt.Errorf("message larger than message_size_limit (%d bytes)", s.limit))
	}
	return n, err
}

func failAll(users []string, err error) []Result {
	rs := make([]Result, len(users))
	for i, u := range users {
		rs[i] = Result{User: u, Err: err}
	}
	return rs
}

// ExitCode sums up several results as one exit status: 0 if all were
// delivered, else the first failure's code, a temporary one first so that
// the caller retries rather than bounces. (An MTA that needs to know each
// recipient's fate uses LMTP, or one user per call, as sendmail does.)
func ExitCode(rs []Result) int {
	code := sysexits.OK
	for _, r := range rs {
		c := r.Code()
		if c == sysexits.TempFail {
			return c
		}
		if code == sysexits.OK {
			code = c
		}
	}
	return code
}
