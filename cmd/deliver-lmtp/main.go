// Command deliver-lmtp is deliver -l, the LMTP side of deliver(8), which
// runs it; see deliver-lmtp(8).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"

	"unixmail/pkg/config"
	"unixmail/pkg/deliver"
	"unixmail/pkg/lmtpd"
	"unixmail/pkg/lock"
	"unixmail/pkg/sysexits"
	"unixmail/pkg/usage"
)

func main() {
	// Installed setgid mail, as deliver is: see lock.DropGroup.
	if err := lock.DropGroup(); err != nil {
		fmt.Fprintln(os.Stderr, "deliver-lmtp:", err)
		os.Exit(sysexits.OSErr)
	}
	usage.Main(&cli.App{
		Name:      "deliver-lmtp",
		Usage:     "speak LMTP on standard input and output, or on an inherited socket (deliver -l)",
		UsageText: "deliver-lmtp [-C file] [-o key=value]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "C", Usage: "configuration `file`"},
			&cli.StringSliceFlag{Name: "o", Usage: "override a configuration `key=value`"},
		},
		Action: run,
	}, sysexits.Usage)
}

func run(c *cli.Context) error {
	if c.NArg() > 0 {
		return sysexits.Wrap(sysexits.Usage, fmt.Errorf("no arguments: recipients come by LMTP"))
	}
	cfg, err := config.Load(c.String("C"), c.StringSlice("o"))
	if err != nil {
		return sysexits.Wrap(sysexits.Config, err)
	}
	env, isChild := deliver.Open(cfg)
	defer env.Log.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()
	// As root, each user's messages go through deliver, beside us, run
	// as that user.
	child := &deliver.Child{Args: deliver.ConfigArgs(cfg, c.StringSlice("o"))}
	if os.Geteuid() == 0 {
		exe, err := os.Executable()
		if err != nil {
			return sysexits.Wrap(sysexits.OSErr, err)
		}
		child.Exe = filepath.Join(filepath.Dir(exe), "deliver")
	}
	return lmtpd.Run(ctx, env, child, isChild)
}
