// Package usage gives every unixmail program one way to answer its
// command line: "--help" prints the usage on standard output and exits 0;
// a flag the program does not know prints the error and the usage on
// standard error and exits 64 (EX_USAGE), as mail(1), sendmail(8) and
// deliver(8) say. deliver, started once per message, answers the same way
// through pkg/cmdline, without urfave/cli's start-up cost.
package usage

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"unixmail/pkg/cmdline"
	"unixmail/pkg/sysexits"
)

// Run runs app on args (os.Args). The usage is app's name and UsageText
// followed by its flags, as urfave/cli prints them.
func Run(app *cli.App, args []string) error {
	app.HideHelp, app.HideVersion = true, true
	if app.Writer == nil {
		app.Writer = os.Stdout
	}
	if app.ErrWriter == nil {
		app.ErrWriter = os.Stderr
	}
	if len(args) > 1 && args[1] == "--help" {
		return Print(app, app.Writer)
	}
	app.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
		if errors.Is(err, flag.ErrHelp) {
			// The flag package's own answer to -h or -help, which
			// are not options here.
			err = errors.New("unknown option (--help prints the usage)")
		}
		return Bad(app, err)
	}
	return app.Run(args)
}

// Print writes app's usage to w.
func Print(app *cli.App, w io.Writer) error {
	app.Setup() // fills in HelpName; done once however often it is called
	cli.HelpPrinter(w, cli.AppHelpTemplate, app)
	return nil
}

// Bad reports a command line app cannot use: err and then the usage on
// standard error. The error it returns carries sysexits.Usage and is
// Shown, so that main does not print it again.
func Bad(app *cli.App, err error) error {
	fmt.Fprintf(app.ErrWriter, "%s: %v\n\n", app.Name, err)
	Print(app, app.ErrWriter)
	return sysexits.Wrap(sysexits.Usage, cmdline.Shown(err))
}

// Shown says whether err was printed already, by Bad.
func Shown(err error) bool { return cmdline.WasShown(err) }

// Main runs app on os.Args and exits as the program's error says: with
// its sysexits code (after the message, unless Bad showed it), or with
// otherwise when the error carries none.
func Main(app *cli.App, otherwise int) {
	app.ExitErrHandler = func(*cli.Context, error) {}
	cmdline.Exit(app.Name, Run(app, os.Args), otherwise)
}
