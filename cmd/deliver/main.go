// Command deliver is unixmail's mail delivery agent; see deliver(8).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"unixmail/pkg/config"
	"unixmail/pkg/deliver"
	"unixmail/pkg/lock"
	"unixmail/pkg/maillog"
	"unixmail/pkg/stdioconn"
	"unixmail/pkg/sysexits"
	"unixmail/pkg/usage"
	"unixmail/pkg/userdb"
)

func main() {
	// Installed setgid mail for /var/mail's dot-locks: the group is kept
	// only for those (see lock.DropGroup).
	if err := lock.DropGroup(); err != nil {
		fmt.Fprintln(os.Stderr, "deliver:", err)
		os.Exit(sysexits.OSErr)
	}
	app := &cli.App{
		Name:      "deliver",
		Usage:     "append a message to local users' mailboxes",
		UsageText: "deliver [-C file] [-o key=value] [-f sender] [-a address] [-m mailbox] user...\ndeliver [-C file] [-o key=value] -l",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "C", Usage: "configuration `file`"},
			&cli.StringSliceFlag{Name: "o", Usage: "override a configuration `key=value`"},
			&cli.StringFlag{Name: "f", Usage: "envelope `sender`"},
			&cli.StringFlag{Name: "a", Usage: "recipient `address` for Delivered-To"},
			&cli.StringFlag{Name: "m", Usage: "`mailbox` path pattern (~ and %u expand)"},
			&cli.BoolFlag{Name: "l", Usage: "speak LMTP on standard input and output"},
		},
		Action: run,
	}
	app.ExitErrHandler = func(*cli.Context, error) {}
	if err := usage.Run(app, os.Args); err != nil {
		if !usage.Shown(err) {
			fmt.Fprintf(os.Stderr, "deliver: %v\n", err)
		}
		code := sysexits.Code(err)
		if code == sysexits.Software {
			code = sysexits.Usage
		}
		os.Exit(code)
	}
}

func run(c *cli.Context) error {
	cfg, err := config.Load(c.String("C"), c.StringSlice("o"))
	if err != nil {
		return sysexits.Wrap(sysexits.Config, err)
	}
	users := c.Args().Slice()
	lmtp := c.Bool("l")
	if lmtp == (len(users) > 0) {
		return sysexits.Wrap(sysexits.Usage, fmt.Errorf("give users to deliver to, or -l for LMTP"))
	}
	for _, u := range users {
		if strings.HasPrefix(u, "-") {
			return sysexits.Wrap(sysexits.Usage, fmt.Errorf("refusing user name %q", u))
		}
	}
	// In LMTP mode standard output is the protocol: log nowhere else. A
	// child started by a root deliver reports to its parent, which logs.
	// Such a child must not even open the log: run as the user, it may
	// not, and the warning would reach its parent as the reason of a
	// failure, and a bounce.
	isChild := os.Getenv(deliver.CallerEnv) != ""
	log := maillog.Discard()
	if !isChild {
		log = maillog.New(cfg.Log, "deliver", lmtp)
	}
	defer log.Close()
	env := &deliver.Env{Config: cfg, Users: userdb.Open(cfg.UserDB).WithoutHashes(), Log: log, Now: time.Now, Lock: lock.Options{Timeout: cfg.LockTimeout}}
	if isChild && os.Geteuid() != 0 && len(users) == 1 {
		env.Self = &userdb.User{Name: users[0], UID: os.Getuid(), GID: os.Getgid()}
	}

	sender, given := c.String("f"), c.IsSet("f")
	if sender == "<>" {
		sender = ""
	}
	// Who called us names the sender only when nothing else does (LMTP
	// has MAIL FROM): the lookup costs a scan of the user database.
	if !given && !lmtp {
		sender = callerName(env)
	}
	req := &deliver.Request{Sender: sender, SenderGiven: given, Address: c.String("a"), Mailbox: c.String("m")}
	// Root becomes the one user before the signal handling below starts
	// its threads, each of which would have to be told of every
	// credential change.
	if !lmtp {
		if failed := env.BecomeSole(req, users); failed != nil {
			return finish(failed, isChild)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()

	child := &deliver.Child{Args: childArgs(c, cfg, lmtp)}
	if os.Geteuid() == 0 {
		if child.Exe, err = os.Executable(); err != nil {
			return sysexits.Wrap(sysexits.OSErr, err)
		}
		child.Caller = sender
	}
	if lmtp {
		return serveLMTP(ctx, env, child, isChild)
	}
	return finish(env.Run(ctx, req, users, os.Stdin, child), isChild)
}

// finish reports the failures among results on standard error (a child,
// to its parent, which logs them) and exits with their sysexits code.
func finish(results []deliver.Result, isChild bool) error {
	for _, r := range results {
		switch {
		case r.Err == nil:
		case isChild:
			fmt.Fprintln(os.Stderr, r.Err)
		default:
			fmt.Fprintf(os.Stderr, "deliver: %s: %v\n", r.User, r.Err)
		}
	}
	if code := deliver.ExitCode(results); code != sysexits.OK {
		os.Exit(code)
	}
	return nil
}

// serveLMTP serves one session on standard input and output, or every
// session on an inherited listening socket. A child of sendmail given a
// socket is told to stop by the end of its standard input, which also
// comes when sendmail dies.
func serveLMTP(ctx context.Context, env *deliver.Env, child *deliver.Child, isChild bool) error {
	ln, err := stdioconn.Inherited()
	if err != nil {
		return sysexits.Wrap(sysexits.OSErr, err)
	}
	if ln == nil {
		return env.ServeLMTP(ctx, os.Stdin, os.Stdout, child)
	}
	if isChild {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		go func() {
			io.Copy(io.Discard, os.Stdin)
			cancel()
		}()
	}
	return env.ServeLMTPListener(ctx, ln, child)
}

// childArgs are the flags a per-user child needs to load the same
// configuration and make the same request.
func childArgs(c *cli.Context, cfg *config.Config, lmtp bool) []string {
	var args []string
	if cfg.Path != "" {
		args = append(args, "-C", cfg.Path)
	}
	for _, o := range c.StringSlice("o") {
		args = append(args, "-o", o)
	}
	if lmtp {
		return args
	}
	// -m is not passed on: the child is given the mailbox, expanded.
	for _, f := range []string{"f", "a"} {
		if c.IsSet(f) {
			args = append(args, "-"+f, c.String(f))
		}
	}
	return args
}

// callerName is the sender when none is given and the message has no
// From_ line: the calling user, as mail.local does.
func callerName(env *deliver.Env) string {
	// A root parent names its caller to the per-user children it starts.
	if name := os.Getenv(deliver.CallerEnv); name != "" {
		return name
	}
	if u, err := env.Users.LookupUID(os.Getuid()); err == nil {
		return u.Name
	}
	if name := os.Getenv("USER"); name != "" {
		return name
	}
	return "MAILER-DAEMON"
}
