// Command imapd serves IMAP4rev1 over the users' mbox files; see imapd(8).
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"unixmail/pkg/config"
	"unixmail/pkg/daemon"
	"unixmail/pkg/imapd"
	"unixmail/pkg/lock"
	"unixmail/pkg/sysexits"
	"unixmail/pkg/usage"
)

func main() {
	// Installed setgid mail for /var/mail's dot-locks: the group is kept
	// only for those (see lock.DropGroup).
	if err := lock.DropGroup(); err != nil {
		fmt.Fprintln(os.Stderr, "imapd:", err)
		os.Exit(sysexits.OSErr)
	}
	app := &cli.App{
		Name:      "imapd",
		Usage:     "serve IMAP4rev1 on standard input, or on addresses it listens on",
		UsageText: "imapd [-C file] [-o key=value] [--listen addr]... [--tls]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "C", Usage: "configuration `file`"},
			&cli.StringSliceFlag{Name: "o", Usage: "override a configuration `key=value`"},
			&cli.StringSliceFlag{Name: "listen", Usage: "listen on `addr` (host:port) with a process per connection"},
			&cli.BoolFlag{Name: "tls", Usage: "implicit TLS on every connection (imaps)"},
		},
		Action: run,
	}
	app.ExitErrHandler = func(*cli.Context, error) {}
	if err := usage.Run(app, os.Args); err != nil {
		// stderr may be the client's socket under inetd; a usage or
		// configuration error is still better said than not.
		if !usage.Shown(err) {
			fmt.Fprintf(os.Stderr, "imapd: %v\n", err)
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
		return sysexits.Wrap(sysexits.Config, err)
	}
	return daemon.Run(daemon.Options{
		Program: "imapd",
		Config:  cfg,
		Listen:  c.StringSlice("listen"),
		TLS:     c.Bool("tls"),
		Busy:    "* BYE Too many connections, try later\r\n",
	}, imapd.Serve)
}
