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

	"unixmail/pkg/cmdline"
	"unixmail/pkg/config"
	"unixmail/pkg/deliver"
	"unixmail/pkg/lock"
	"unixmail/pkg/sysexits"
	"unixmail/pkg/userdb"
)

// lmtpProgram serves deliver -l: the LMTP side is a program of its own,
// installed beside this one (see pkg/lmtpd), so that the delivery an MTA
// starts per message loads no SMTP or TLS code.
const lmtpProgram = "deliver-lmtp"

// flags are deliver's command line.
type flags struct {
	app                   *cmdline.App
	config, from, address *string
	mailbox               *string
	overrides             *[]string
	lmtp                  *bool
}

func main() {
	// Installed setgid mail for /var/mail's dot-locks: the group is kept
	// only for those (see lock.DropGroup).
	if err := lock.DropGroup(); err != nil {
		fmt.Fprintln(os.Stderr, "deliver:", err)
		os.Exit(sysexits.OSErr)
	}
	// An MTA starts deliver once per message: its command line is read
	// with pkg/cmdline (the flag package urfave/cli parses with), not
	// through urfave/cli, whose start-up every delivery would pay.
	app := cmdline.New("deliver", "append a message to local users' mailboxes",
		"deliver [-C file] [-o key=value] [-f sender] [-a address] [-m mailbox] user...\ndeliver [-C file] [-o key=value] -l")
	f := &flags{
		app:       app,
		config:    app.String("C", "configuration `file`"),
		overrides: app.Strings("o", "override a configuration `key=value`"),
		from:      app.String("f", "envelope `sender`"),
		address:   app.String("a", "recipient `address` for Delivered-To"),
		mailbox:   app.String("m", "`mailbox` path pattern (~ and %u expand)"),
		lmtp:      app.Bool("l", "speak LMTP on standard input and output"),
	}
	app.Main(func() error { return run(f) }, sysexits.Usage)
}

func run(f *flags) error {
	users := f.app.Args()
	if *f.lmtp == (len(users) > 0) {
		return sysexits.Wrap(sysexits.Usage, fmt.Errorf("give users to deliver to, or -l for LMTP"))
	}
	if *f.lmtp {
		return execLMTP(f)
	}
	for _, u := range users {
		if strings.HasPrefix(u, "-") {
			return sysexits.Wrap(sysexits.Usage, fmt.Errorf("refusing user name %q", u))
		}
	}
	cfg, err := config.Load(*f.config, *f.overrides)
	if err != nil {
		return sysexits.Wrap(sysexits.Config, err)
	}
	env, isChild := deliver.Open(cfg)
	defer env.Log.Close()
	if isChild && os.Geteuid() != 0 && len(users) == 1 {
		env.Self = &userdb.User{Name: users[0], UID: os.Getuid(), GID: os.Getgid()}
	}

	sender, given := *f.from, f.app.IsSet("f")
	if sender == "<>" {
		sender = ""
	}
	// Who called us names the sender only when nothing else does: the
	// lookup costs a scan of the user database.
	if !given {
		sender = callerName(env)
	}
	req := &deliver.Request{Sender: sender, SenderGiven: given, Address: *f.address, Mailbox: *f.mailbox}
	// Root becomes the one user before the signal handling below starts
	// its threads, each of which would have to be told of every
	// credential change.
	if failed := env.BecomeSole(req, users); failed != nil {
		return finish(failed, isChild)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()

	child := &deliver.Child{Args: childArgs(f, cfg)}
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
func execLMTP(f *flags) error {
	exe, err := os.Executable()
	if err != nil {
		return sysexits.Wrap(sysexits.OSErr, err)
	}
	path := filepath.Join(filepath.Dir(exe), lmtpProgram)
	args := []string{lmtpProgram}
	if f.app.IsSet("C") {
		args = append(args, "-C", *f.config)
	}
	for _, o := range *f.overrides {
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
func childArgs(f *flags, cfg *config.Config) []string {
	args := deliver.ConfigArgs(cfg, *f.overrides)
	// -m is not passed on: the child is given the mailbox, expanded.
	if f.app.IsSet("f") {
		args = append(args, "-f", *f.from)
	}
	if f.app.IsSet("a") {
		args = append(args, "-a", *f.address)
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
