package daemon

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"unixmail/pkg/config"
	"unixmail/pkg/lock"
	"unixmail/pkg/sysexits"
	"unixmail/pkg/usage"
)

// Command is the command line ipop3d and imapd share: -C, -o, --listen
// and --tls, then Run.
type Command struct {
	Program  string // "ipop3d", "imapd"
	Usage    string // one line for --help
	TLSUsage string // what --tls means for this protocol
	Busy     string // Options.Busy
	// Prepare is given the configuration before any connection, while the
	// program still has its privileges (files the user may not read are
	// read here), and returns the protocol to serve.
	Prepare func(cfg *config.Config) (func(*Client) error, error)
}

// Main runs the command line and exits with a sysexits(3) code.
func (cmd Command) Main() {
	// Installed setgid mail for /var/mail's dot-locks: the group is kept
	// only for those (see lock.DropGroup).
	if err := lock.DropGroup(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", cmd.Program, err)
		os.Exit(sysexits.OSErr)
	}
	app := &cli.App{
		Name:      cmd.Program,
		Usage:     cmd.Usage,
		UsageText: cmd.Program + " [-C file] [-o key=value] [--listen addr]... [--tls]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "C", Usage: "configuration `file`"},
			&cli.StringSliceFlag{Name: "o", Usage: "override a configuration `key=value`"},
			&cli.StringSliceFlag{Name: "listen", Usage: "listen on `addr` (host:port) with a process per connection"},
			&cli.BoolFlag{Name: "tls", Usage: cmd.TLSUsage},
		},
		Action: cmd.run,
	}
	app.ExitErrHandler = func(*cli.Context, error) {}
	if err := usage.Run(app, os.Args); err != nil {
		// stderr may be the client's socket under inetd; a usage or
		// configuration error is still better said than not.
		if !usage.Shown(err) {
			fmt.Fprintf(os.Stderr, "%s: %v\n", cmd.Program, err)
		}
		code := sysexits.Code(err)
		if code == sysexits.Software {
			code = sysexits.Usage
		}
		os.Exit(code)
	}
}

func (cmd Command) run(c *cli.Context) error {
	if c.NArg() > 0 {
		return sysexits.Wrap(sysexits.Usage, fmt.Errorf("unexpected argument %q", c.Args().First()))
	}
	cfg, err := config.Load(c.String("C"), c.StringSlice("o"))
	if err != nil {
		return sysexits.Wrap(sysexits.Config, err)
	}
	serve, err := cmd.Prepare(cfg)
	if err != nil {
		return sysexits.Wrap(sysexits.Config, err)
	}
	return Run(Options{
		Program: cmd.Program,
		Config:  cfg,
		Listen:  c.StringSlice("listen"),
		TLS:     c.Bool("tls"),
		Busy:    cmd.Busy,
	}, serve)
}
