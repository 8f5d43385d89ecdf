// Command ipop3d is unixmail's POP3 server; see ipop3d(8).
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"unixmail/pkg/config"
	"unixmail/pkg/daemon"
	"unixmail/pkg/lock"
	"unixmail/pkg/pop3"
	"unixmail/pkg/sysexits"
	"unixmail/pkg/usage"
	"unixmail/pkg/userdb"
)

func main() {
	// Installed setgid mail for /var/mail's dot-locks: the group is kept
	// only for those (see lock.DropGroup).
	if err := lock.DropGroup(); err != nil {
		fmt.Fprintln(os.Stderr, "ipop3d:", err)
		os.Exit(sysexits.OSErr)
	}
	app := &cli.App{
		Name:      "ipop3d",
		Usage:     "serve users' mailboxes over POP3",
		UsageText: "ipop3d [-C file] [-o key=value] [--listen address]... [--tls]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "C", Usage: "configuration `file`"},
			&cli.StringSliceFlag{Name: "o", Usage: "override a configuration `key=value`"},
			&cli.StringSliceFlag{Name: "listen", Usage: "serve TCP on `address` (host:port) instead of standard input"},
			&cli.BoolFlag{Name: "tls", Usage: "implicit TLS (pop3s, port 995)"},
		},
		Action: run,
	}
	app.ExitErrHandler = func(*cli.Context, error) {}
	if err := usage.Run(app, os.Args); err != nil {
		if !usage.Shown(err) {
			fmt.Fprintf(os.Stderr, "ipop3d: %v\n", err)
		}
		code := sysexits.Code(err)
		if code == sysexits.Software {
			code = sysexits.Usage
		}
		os.Exit(code)
	}
}

func run(c *cli.Context) error {
	if c.NArg() > 0 {
		return sysexits.Wrap(sysexits.Usage, fmt.Errorf("unexpected argument %q", c.Args().First()))
	}
	cfg, err := config.Load(c.String("C"), c.StringSlice("o"))
	if err != nil {
		return err
	}
	var secrets map[string]string
	if cfg.APOPSecrets != "" {
		// Read now: after the login the server is the user, who may not.
		if secrets, err = pop3.LoadAPOPSecrets(cfg.APOPSecrets); err != nil {
			return sysexits.Wrap(sysexits.Config, err)
		}
	}
	opts := daemon.Options{
		Program: "ipop3d",
		Config:  cfg,
		Listen:  c.StringSlice("listen"),
		TLS:     c.Bool("tls"),
		Busy:    "-ERR [SYS/TEMP] too many connections, try again later\r\n",
	}
	return daemon.Run(opts, func(client *daemon.Client) error {
		srv := &pop3.Server{
			Client:   client,
			Hostname: cfg.Hostname,
			APOP:     secrets,
			Open: func(u *userdb.User) (pop3.Maildrop, error) {
				return pop3.OpenMbox(u.Expand(cfg.Mailbox), u.UID, cfg.LockTimeout)
			},
		}
		return srv.Serve()
	})
}
