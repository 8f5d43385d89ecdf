package deliver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"unixmail/internal/iolimit"
	"unixmail/pkg/sysexits"
	"unixmail/pkg/userdb"
)

// Child runs deliver again, once per recipient, with the recipient's uid
// and gid, so that no byte of a user's mailbox is ever written by root
// (mail.local's CVE history is the reason). Go cannot change the
// credentials of one goroutine, so a process per user is the honest way.
type Child struct {
	Exe  string   // this program
	Args []string // flags that make the child load the same configuration and request
	// Caller is who ran us: the sender when neither -f nor a From_ line
	// names one. The child, running as the recipient, cannot know it.
	Caller string
}

// CallerEnv is the environment variable that hands Caller to a child; it
// also tells deliver it is such a child: it then takes the user it is
// given to be itself (see Env.Self), logs nothing and reports to its parent.
const CallerEnv = "UNIXMAIL_CALLER"

// Command is the child that delivers as u into mailbox (a path already
// expanded, so that the child needs no user database, which u may not be
// allowed to read): this program again, with u's uid and gid, no
// supplementary groups, a small environment, and extra flags.
func (c *Child) Command(ctx context.Context, u *userdb.User, mailbox string, extra ...string) *exec.Cmd {
	args := append(append([]string{}, c.Args...), extra...)
	args = append(args, "-m", strings.ReplaceAll(mailbox, "%", "%%"), "--", u.Name)
	cmd := exec.CommandContext(ctx, c.Exe, args...)
	caller := c.Caller
	if caller == "" {
		caller = "MAILER-DAEMON"
	}
	cmd.Env = append(childEnv(), CallerEnv+"="+caller)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: uint32(u.UID), Gid: uint32(u.GID), Groups: []uint32{}},
	}
	return cmd
}

// Deliver delivers the spooled message to u through a child and returns its
// result. spool is rewound for each child.
func (c *Child) Deliver(ctx context.Context, u *userdb.User, mailbox string, spool *os.File) Result {
	r := Result{User: u.Name, Mailbox: mailbox}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		r.Err = sysexits.Wrap(sysexits.TempFail, fmt.Errorf("rewind spooled message: %w", err))
		return r
	}
	PrepareSpool(mailbox, u)
	cmd := c.Command(ctx, u, mailbox)
	cmd.Stdin = spool
	var stderr bytes.Buffer
	cmd.Stderr = &iolimit.Writer{W: &stderr, N: 4096}
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		if fi, serr := spool.Stat(); serr == nil {
			r.Size = fi.Size()
		}
		r.Warning = strings.TrimSpace(stderr.String())
	case errors.As(err, &exit) && exit.ExitCode() > 0:
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = fmt.Sprintf("delivery process exited %d", exit.ExitCode())
		}
		r.Err = sysexits.Wrap(exit.ExitCode(), errors.New(msg))
	default:
		r.Err = sysexits.Wrap(sysexits.TempFail, fmt.Errorf("delivery process for %s: %w", u.Name, err))
	}
	return r
}

// childEnv is the little of our environment a delivery needs.
func childEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "TZ", "LANG", "LC_ALL"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// Spool copies msg to an unlinked temporary file, so that children can read
// it one after another.
func Spool(msg io.Reader) (*os.File, error) {
	f, err := os.CreateTemp("", "deliver-")
	if err != nil {
		return nil, sysexits.Wrap(sysexits.TempFail, fmt.Errorf("spool message: %w", err))
	}
	os.Remove(f.Name())
	if _, err := io.Copy(f, msg); err != nil {
		f.Close()
		return nil, orTempFail(fmt.Errorf("spool message: %w", err))
	}
	return f, nil
}
