// Command mail is unixmail's POSIX mailx: it sends mail (mail ADDR...) and
// reads it (mail, mail -f FILE); see mail(1).
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"unixmail/pkg/config"
	"unixmail/pkg/lock"
	"unixmail/pkg/mailx"
	"unixmail/pkg/sysexits"
	"unixmail/pkg/usage"
	"unixmail/pkg/userdb"
)

// systemRC is the system-wide start-up file, read before ~/.mailrc.
const systemRC = "/etc/mail.rc"

func main() {
	// Installed setgid mail for /var/mail's dot-locks: the group is kept
	// only for those (see lock.DropGroup).
	if err := lock.DropGroup(); err != nil {
		fmt.Fprintln(os.Stderr, "mail:", err)
		os.Exit(sysexits.OSErr)
	}
	app := &cli.App{
		Name:      "mail",
		Usage:     "send and read mail",
		UsageText: "mail [-EF] [-s subject] [-c addrs] [-b addrs] [-a file]... [-r from] address...\nmail [-HNeinRF] [-u user]\nmail [-HNeinRF] -f [file]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "C", Usage: "configuration `file`"},
			&cli.StringSliceFlag{Name: "o", Usage: "override a configuration `key=value`"},
			&cli.StringFlag{Name: "s", Usage: "`subject`"},
			&cli.StringSliceFlag{Name: "c", Usage: "carbon copy `addresses`"},
			&cli.StringSliceFlag{Name: "b", Usage: "blind carbon copy `addresses`"},
			&cli.StringSliceFlag{Name: "a", Usage: "attach a `file`"},
			&cli.StringFlag{Name: "r", Usage: "sender `address`"},
			&cli.BoolFlag{Name: "E", Usage: "do not send a message with an empty body"},
			&cli.BoolFlag{Name: "f", Usage: "read the folder named by the argument (default ~/mbox)"},
			&cli.BoolFlag{Name: "H", Usage: "print the header summary and exit"},
			&cli.BoolFlag{Name: "e", Usage: "exit 0 if there is mail, 1 if not"},
			&cli.StringFlag{Name: "u", Usage: "read `user`'s mailbox"},
			&cli.BoolFlag{Name: "N", Usage: "do not print the header summary on start"},
			&cli.BoolFlag{Name: "n", Usage: "do not read the system mail.rc"},
			&cli.BoolFlag{Name: "i", Usage: "ignore interrupts"},
			&cli.BoolFlag{Name: "F", Usage: "record messages sent in a file named after the first recipient"},
			&cli.BoolFlag{Name: "R", Usage: "open the folder read-only"},
			&cli.BoolFlag{Name: "v", Usage: "verbose (accepted)"},
		},
		UseShortOptionHandling: true,
		Action:                 run,
	}
	app.ExitErrHandler = func(*cli.Context, error) {}
	if err := usage.Run(app, permute(os.Args)); err != nil {
		var exit cli.ExitCoder
		if errors.As(err, &exit) {
			os.Exit(exit.ExitCode())
		}
		if !usage.Shown(err) {
			fmt.Fprintf(os.Stderr, "mail: %v\n", err)
		}
		code := sysexits.Code(err)
		if code == sysexits.Software {
			code = 1
		}
		os.Exit(code)
	}
}

func run(c *cli.Context) error {
	cfg, err := config.Load(c.String("C"), c.StringSlice("o"))
	if err != nil {
		return sysexits.Wrap(sysexits.Config, err)
	}
	o, err := options(c, cfg)
	if err != nil {
		return err
	}
	args := c.Args().Slice()
	reading := c.Bool("f") || c.Bool("H") || c.Bool("e") || c.String("u") != ""
	if !reading && len(args) > 0 {
		return send(c, o, args)
	}
	if !reading && (c.IsSet("s") || c.IsSet("c") || c.IsSet("b") || c.IsSet("a")) {
		return sysexits.Wrap(sysexits.Usage, errors.New("no recipients given"))
	}
	return read(c, o, args)
}

// options fills in the session's options from the config, the user
// database and the environment.
func options(c *cli.Context, cfg *config.Config) (mailx.Options, error) {
	db := userdb.Open(cfg.UserDB)
	var u *userdb.User
	if name := c.String("u"); name != "" {
		var err error
		if u, err = db.Lookup(name); err != nil {
			return mailx.Options{}, sysexits.Wrap(sysexits.NoUser, err)
		}
	} else {
		u = currentUser(db)
	}
	home := os.Getenv("HOME")
	if home == "" {
		home = u.Home
	}
	mailbox := u.Expand(cfg.Mailbox)
	if m := os.Getenv("MAIL"); m != "" && c.String("u") == "" {
		mailbox = m
	}
	o := mailx.Options{
		User: u.Name, Home: home, Hostname: cfg.Hostname, SystemMailbox: mailbox,
		FolderDir: u.Expand(cfg.FolderDir), Sendmail: defaultSendmail(), SystemRC: systemRC,
		In: os.Stdin, Out: os.Stdout, Err: os.Stderr,
		NoRC: c.Bool("n"), NoHeaders: c.Bool("N"), ReadOnly: c.Bool("R"), IgnoreInt: c.Bool("i"),
		RecordByRecipient: c.Bool("F"),
		UserMailbox: func(name string) (string, error) {
			other, err := db.Lookup(name)
			if err != nil {
				return "", err
			}
			return other.Expand(cfg.Mailbox), nil
		},
		LimitMemory: true,
		Lock:        lock.Options{Timeout: cfg.LockTimeout},
	}
	if term.IsTerminal(int(os.Stdin.Fd())) && term.IsTerminal(int(os.Stdout.Fd())) {
		o.Terminal, o.InFd = true, int(os.Stdin.Fd())
		o.Width, o.Height, _ = term.GetSize(int(os.Stdout.Fd()))
	}
	return o, nil
}

// currentUser is the user running mail: $LOGNAME (or $USER) when that
// account has our uid, else the first account with it.
func currentUser(db *userdb.DB) *userdb.User {
	uid := os.Getuid()
	if u, err := db.Caller(uid, uid == 0, os.Getenv("LOGNAME"), os.Getenv("USER")); err == nil {
		return u
	}
	name := os.Getenv("LOGNAME")
	if name == "" {
		name = fmt.Sprintf("uid%d", uid)
	}
	return &userdb.User{Name: name, UID: uid, Home: os.Getenv("HOME")}
}

// defaultSendmail is our own sendmail beside this binary, else the
// system's.
func defaultSendmail() string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "sendmail")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return "/usr/sbin/sendmail"
}

func send(c *cli.Context, o mailx.Options, to []string) error {
	o.SendMode = true
	d := &mailx.Draft{
		To: to, Cc: splitList(c.StringSlice("c")), Bcc: splitList(c.StringSlice("b")),
		Subject: c.String("s"), HasSubject: c.IsSet("s"), Attach: c.StringSlice("a"),
		From: c.String("r"), NoEmpty: c.Bool("E"),
	}
	if strings.ContainsAny(d.Subject, "\r\n") {
		return sysexits.Wrap(sysexits.DataErr, fmt.Errorf("refusing a subject with a line break (header injection)"))
	}
	for _, a := range append(append(append([]string(nil), d.To...), d.Cc...), d.Bcc...) {
		if strings.ContainsAny(a, "\r\n") || strings.HasPrefix(a, "-") {
			return sysexits.Wrap(sysexits.DataErr, fmt.Errorf("refusing address %q", a))
		}
	}
	for _, a := range d.Attach {
		if _, err := os.Stat(a); err != nil {
			return sysexits.Wrap(sysexits.NoInput, fmt.Errorf("attachment: %w", err))
		}
	}
	s := mailx.New(o)
	err := s.Send(d)
	if errors.Is(err, mailx.ErrKilled) {
		return cli.Exit("", 1) // POSIX: killed by interrupts in send mode
	}
	if errors.Is(err, mailx.ErrNotSent) {
		return nil
	}
	return err
}

// splitList splits -c and -b values, which may hold several addresses.
func splitList(v []string) []string {
	var out []string
	for _, x := range v {
		for _, a := range strings.Split(x, ",") {
			if a = strings.TrimSpace(a); a != "" {
				out = append(out, a)
			}
		}
	}
	return out
}

func read(c *cli.Context, o mailx.Options, args []string) error {
	path := ""
	switch {
	case c.Bool("f") && len(args) > 0:
		path = args[0]
	case c.Bool("f"):
		path = "&" // MBOX
	case len(args) > 0:
		return sysexits.Wrap(sysexits.Usage, fmt.Errorf("unexpected argument %q", args[0]))
	}
	s := mailx.New(o)
	defer s.Close()
	err := s.Open(path)
	if c.Bool("e") {
		if err == nil && s.HasMail() {
			return nil
		}
		return cli.Exit("", 1)
	}
	if errors.Is(err, mailx.ErrNoMail) {
		fmt.Fprintf(os.Stderr, "No mail for %s\n", o.User)
		return cli.Exit("", 1)
	}
	if err != nil {
		return sysexits.Wrap(sysexits.NoInput, err)
	}
	if c.Bool("H") {
		return s.PrintHeaders()
	}
	s.Start()
	if err := s.Loop(); err != nil {
		return err
	}
	if s.Failed() && !o.Terminal {
		return cli.Exit("", 1)
	}
	return nil
}

// valueFlags are the flags that take a value.
const valueFlags = "Cosbcaru"

// permute moves every flag before the operands, since mail's users write
// flags after addresses (mail bob -s hi) and after -f's file, which the
// flag parser would take for operands. "--" ends the flags.
func permute(argv []string) []string {
	flags, operands := []string{argv[0]}, []string{}
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		switch {
		case a == "--":
			operands = append(operands, argv[i+1:]...)
			i = len(argv)
		case len(a) > 1 && a[0] == '-':
			flags = append(flags, a)
			last := a[len(a)-1]
			if strings.IndexByte(valueFlags, last) >= 0 && !strings.HasPrefix(a, "--") && strings.IndexByte(a[1:len(a)-1], last) < 0 && i+1 < len(argv) && !hasAttachedValue(a) {
				i++
				flags = append(flags, argv[i])
			}
		default:
			operands = append(operands, a)
		}
	}
	return append(append(flags, "--"), operands...)
}

// hasAttachedValue reports whether a bundle like -sSubject carries its
// value: a value flag that is not the last letter.
func hasAttachedValue(a string) bool {
	for _, c := range a[1 : len(a)-1] {
		if strings.ContainsRune(valueFlags, c) {
			return true
		}
	}
	return false
}
