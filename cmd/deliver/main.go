// Command deliver is unixmail's mail delivery agent; see deliver(8).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"unixmail/pkg/config"
	"unixmail/pkg/deliver"
	"unixmail/pkg/lock"
	"unixmail/pkg/sysexits"
	"unixmail/pkg/usage"
	"unixmail/pkg/userdb"
)

// lmtpProgram serves deliver -l: the LMTP side is a program of its own,
// installed beside this one (see pkg/lmtpd), so that the delivery an MTA
// starts per message loads no SMTP or TLS code.
const lmtpProgram = "deliver-lmtp"

func main() {
	// Installed setgid mail for /var/mail's dot-locks: the group is kept
	// only for those (see lock.DropGroup).
	if err := lock.DropGroup(); err != nil {
		fmt.Fprintln(os.Stderr, "deliver:", err)
		os.Exit(sysexits.OSErr)
	}
	usage.Main(&cli.App{
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
	}, sysexits.Usage)
}

func run(c *cli.Context) error {
	users := c.Args().Slice()
	lmtp := c.Bool("l")
	if lmtp == (len(users) > 0) {
		return sysexits.Wrap(sysexits.Usage, fmt.Errorf("give users to deliver to, or -l for LMTP"))
	}
	if lmtp {
		return execLMTP(c)
	}
	for _, u := range users {
		if strings.HasPrefix(u, "-") {
			return sysexits.Wrap(sysexits.Usage, fmt.Errorf("refusing user name %q", u))
		}
	}
	cfg, err := config.Load(c.String("C"), c.StringSlice("o"))
	if err != nil {
		return sysexits.Wrap(sysexits.Config, err)
	}
	env, isChild := deliver.Open(cfg)
	defer env.Log.Close()
	if isChild && os.Geteuid() != 0 && len(users) == 1 {
		env.Self = &userdb.User{Name: users[0], UID: os.Getuid(), GID: os.Getgid()}
	}

	sender, given := c.String("f"), c.IsSet("f")
	if sender == "<>" {
		sender = ""
	}
	// Who called us names the sender only when nothing else does: the
	// lookup costs a scan of the user database.
	if !given {
		sender = callerName(env)
	}
	req := &deliver.Request{Sender: sender, SenderGiven: given, Address: c.String("a"), Mailbox: c.String("m")}
	// Root becomes the one user before the signal handling below starts
	// its threads, each of which would have to be told of every
	// credential change.
	if failed := env.BecomeSole(req, users); failed != nil {
		return finish(failed, isChild)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()

	child := &deliver.Child{Args: childArgs(c, cfg)}
	if os.Geteuid() == 0 {
		if child.Exe, err = os.Executable(); err != nil {
			return sysexits.Wrap(sysexits.OSErr, err)
		}
		child.Caller = sender
	}
	return finish(env.Run(ctx, req, users, os.Stdin, child), isChild)
}

// execLMTP becomes deliver -l's own program, found beside this one, with
// the flags that name the configuration; everything else (the process,
// its descriptors, an inherited socket, the environment) stays.
func execLMTP(c *cli.Context) error {
	exe, err := os.Executable()
	if err != nil {
		return sysexits.Wrap(sysexits.OSErr, err)
	}
	path := filepath.Join(filepath.Dir(exe), lmtpProgram)
	args := []string{lmtpProgram}
	if c.IsSet("C") {
		args = append(args, "-C", c.String("C"))
	}
	for _, o := range c.StringSlice("o") {
		args = append(args, "-o", o)
	}
	err = syscall.Exec(path, args, os.Environ())
	return sysexits.Wrap(sysexits.OSErr, fmt.Errorf("deliver -l runs %s: %w", path, err))
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

// childArgs are the flags a per-user child needs to load the same
// configuration and make the same request.
func childArgs(c *cli.Context, cfg *config.Config) []string {
	args := deliver.ConfigArgs(cfg, c.StringSlice("o"))
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
