package deliver

import (
	"context"
	"fmt"
	"io"
	"os"

	"unixmail/pkg/sysexits"
)

// Run delivers the message on msg to each user and returns a result per
// user, in order. A user whose uid is ours we deliver to ourselves; run as
// root, we hand every other user's delivery to a child running as that
// user; anyone else is refused (One says why).
func (e *Env) Run(ctx context.Context, req *Request, users []string, msg io.Reader, child *Child) []Result {
	// One user we may write as ourselves: stream the message straight in.
	if len(users) == 1 {
		if u, err := e.Users.Lookup(users[0]); err != nil || u.UID == os.Geteuid() || os.Geteuid() != 0 {
			return []Result{e.inProcess(ctx, req, users[0], msg)}
		}
	}
	spool, err := Spool(msg)
	if err != nil {
		return failAll(users, err)
	}
	defer spool.Close()
	results := make([]Result, 0, len(users))
	for _, name := range users {
		u, err := e.LookupUser(name)
		if err != nil {
			r := Result{User: name, Err: err}
			e.LogResult(r, false)
			results = append(results, r)
			continue
		}
		if os.Geteuid() == 0 && u.UID != 0 {
			r := child.Deliver(ctx, u, e.MailboxFor(u, req), spool)
			e.LogResult(r, false)
			results = append(results, r)
			continue
		}
		if _, err := spool.Seek(0, io.SeekStart); err != nil {
			results = append(results, Result{User: name, Err: sysexits.Wrap(sysexits.TempFail, fmt.Errorf("rewind spool: %w", err))})
			continue
		}
		results = append(results, e.inProcess(ctx, req, name, spool))
	}
	return results
}

func (e *Env) inProcess(ctx context.Context, req *Request, name string, msg io.Reader) Result {
	u, err := e.LookupUser(name)
	if err != nil {
		r := Result{User: name, Err: err}
		e.LogResult(r, false)
		return r
	}
	in, err := ReadIncoming(msg)
	if err != nil {
		r := Result{User: name, Mailbox: e.MailboxFor(u, req), Err: sysexits.Wrap(sysexits.TempFail, err)}
		e.LogResult(r, false)
		return r
	}
	r := e.One(ctx, req, u, in)
	e.LogResult(r, false)
	return r
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
