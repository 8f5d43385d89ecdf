// Package cmdline reads the command line of a program an MTA starts once
// per message (deliver) with the standard flag package, and answers it the
// way pkg/usage answers every other unixmail program: "--help" prints the
// usage on standard output and exits 0; a flag the program does not know
// prints the error and the usage on standard error and exits 64
// (EX_USAGE).
//
// urfave/cli parses with the same flag package underneath, so the syntax
// is the same; what this package saves is urfave/cli itself: linked into a
// program, its package initialisation (a regular expression compiled, help
// templates built) and the code it pulls in (regexp, text/template,
// encoding/json) cost every start page faults and CPU, a tenth of a
// delivery on the machines deliver(8) is measured on. Programs that run
// for longer keep urfave/cli (pkg/usage).
package cmdline

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"unixmail/pkg/sysexits"
)

// App is a program's command line: its flags and the text of its usage.
type App struct {
	Name      string // the program
	Usage     string // what it does, in one line
	UsageText string // its synopsis, one line per form
	flags     *flag.FlagSet
	order     []string        // the flags in the order defined, the usage's order
	repeated  map[string]bool // flags that may be given more than once
}

// New makes an App; its flags are defined with String, Strings and Bool,
// whose usage may name the flag's argument in backquotes, as flag's does.
func New(name, usage, usageText string) *App {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// Parse's caller is told of errors, and prints them and the usage once.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &App{Name: name, Usage: usage, UsageText: usageText, flags: fs, repeated: map[string]bool{}}
}

// String defines a flag with a value.
func (a *App) String(name, usage string) *string {
	a.order = append(a.order, name)
	return a.flags.String(name, "", usage)
}

// Bool defines a flag without a value.
func (a *App) Bool(name, usage string) *bool {
	a.order = append(a.order, name)
	return a.flags.Bool(name, false, usage)
}

// Strings defines a flag that may be repeated, each use adding one value
// (a value's commas are its own, as deliver(8) says of -o).
func (a *App) Strings(name, usage string) *[]string {
	var vs []string
	a.order = append(a.order, name)
	a.flags.Var((*stringsValue)(&vs), name, usage)
	a.repeated[name] = true
	return &vs
}

// Args are the arguments after the flags.
func (a *App) Args() []string { return a.flags.Args() }

type stringsValue []string

func (s *stringsValue) String() string     { return strings.Join(*s, " ") }
func (s *stringsValue) Set(v string) error { *s = append(*s, v); return nil }

// IsSet reports whether the flag name was given.
func (a *App) IsSet(name string) bool {
	set := false
	a.flags.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// ErrHelp is what Parse returns for "--help", once the usage is printed.
var ErrHelp = errors.New("help requested")

// Parse reads args (os.Args without the program's name) into the flags.
// "--help" as the first argument prints the usage on stdout and returns
// ErrHelp; a bad command line prints the error and the usage on stderr
// and returns an error carrying sysexits.Usage.
func (a *App) Parse(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "--help" {
		a.Print(stdout)
		return ErrHelp
	}
	err := a.flags.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		// The flag package's own answer to -h or -help, which are not
		// options here.
		err = errors.New("unknown option (--help prints the usage)")
	}
	if err != nil {
		return a.Bad(err, stderr)
	}
	return nil
}

// Bad reports a command line the program cannot use: err, then the usage,
// on stderr. The error returned carries sysexits.Usage and is not to be
// printed again.
func (a *App) Bad(err error, stderr io.Writer) error {
	fmt.Fprintf(stderr, "%s: %v\n\n", a.Name, err)
	a.Print(stderr)
	return sysexits.Wrap(sysexits.Usage, Shown(err))
}

// Main parses os.Args and calls run, then ends the program as Exit does.
func (a *App) Main(run func() error, otherwise int) {
	err := a.Parse(os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, ErrHelp) {
		return
	}
	if err == nil {
		err = run()
	}
	Exit(a.Name, err, otherwise)
}

// Exit ends the program as err says: it returns for nil, else exits with
// err's sysexits code (after the message, unless err was Shown already),
// or with otherwise when err carries none.
func Exit(name string, err error, otherwise int) {
	if err == nil {
		return
	}
	if !WasShown(err) {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
	}
	code := sysexits.Code(err)
	if code == sysexits.Software {
		code = otherwise
	}
	os.Exit(code)
}

// Shown marks err as printed already, for Exit.
func Shown(err error) error { return shown{err} }

type shown struct{ error }

func (s shown) Unwrap() error { return s.error }

// WasShown says whether err was marked Shown.
func WasShown(err error) bool {
	var s shown
	return errors.As(err, &s)
}

// Print writes the usage to w, laid out as pkg/usage lays out every other
// program's.
func (a *App) Print(w io.Writer) {
	fmt.Fprintf(w, "NAME:\n   %s - %s\n\nUSAGE:\n", a.Name, a.Usage)
	for _, line := range strings.Split(a.UsageText, "\n") {
		fmt.Fprintf(w, "   %s\n", line)
	}
	fmt.Fprintf(w, "\nGLOBAL OPTIONS:\n")
	names := make([]string, len(a.order))
	width := 0
	for i, n := range a.order {
		arg, _ := flag.UnquoteUsage(a.flags.Lookup(n))
		names[i] = "-" + n
		if arg != "" {
			names[i] += " " + arg
			if a.repeated[n] {
				names[i] += " [ " + names[i] + " ]"
			}
		}
		width = max(width, len(names[i]))
	}
	for i, n := range a.order {
		_, usage := flag.UnquoteUsage(a.flags.Lookup(n))
		fmt.Fprintf(w, "   %-*s  %s\n", width, names[i], usage)
	}
}
