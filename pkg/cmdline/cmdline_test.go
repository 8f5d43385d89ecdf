package cmdline

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"unixmail/pkg/sysexits"
)

type testFlags struct {
	app       *App
	config    *string
	overrides *[]string
	lmtp      *bool
}

func newTestApp() testFlags {
	app := New("prog", "do a thing", "prog [-C file] [-o key=value] user...\nprog -l")
	return testFlags{
		app:       app,
		config:    app.String("C", "configuration `file`"),
		overrides: app.Strings("o", "override a configuration `key=value`"),
		lmtp:      app.Bool("l", "speak LMTP"),
	}
}

func TestTheCommandLineIsAnsweredAsEveryOtherProgramAnswersIt(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		code   int    // sysexits code of Parse's error; -1 for ErrHelp
		stdout string // "" = must be empty
		stderr string // "" = must be empty
	}{
		{"--help prints the usage on stdout", []string{"--help"}, -1, "USAGE:\n   prog [-C file] [-o key=value] user...\n   prog -l\n", ""},
		{"--help first wins over what follows", []string{"--help", "-Z"}, -1, "GLOBAL OPTIONS:", ""},
		{"an unknown flag is a usage error with the usage on stderr", []string{"-Z"}, sysexits.Usage, "", "prog: flag provided but not defined: -Z\n\nNAME:\n   prog - do a thing\n"},
		{"-h is no option", []string{"-h"}, sysexits.Usage, "", "prog: unknown option (--help prints the usage)"},
		{"--help after a flag is no option either", []string{"-l", "--help"}, sysexits.Usage, "", "unknown option (--help prints the usage)"},
		{"a flag missing its value is a usage error", []string{"-C"}, sysexits.Usage, "", "flag needs an argument: -C"},
		{"good flags print nothing", []string{"-C", "x.conf", "bob"}, 0, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newTestApp()
			var out, errw bytes.Buffer
			err := f.app.Parse(c.args, &out, &errw)
			switch {
			case c.code == -1 && !errors.Is(err, ErrHelp):
				t.Errorf("err = %v, want ErrHelp", err)
			case c.code == 0 && err != nil:
				t.Errorf("err = %v, want none", err)
			case c.code > 0 && (sysexits.Code(err) != c.code || !WasShown(err)):
				t.Errorf("err = %v (code %d, shown %v), want code %d, shown", err, sysexits.Code(err), WasShown(err), c.code)
			}
			for _, o := range []struct {
				name, got, want string
			}{{"stdout", out.String(), c.stdout}, {"stderr", errw.String(), c.stderr}} {
				if o.want == "" && o.got != "" || !strings.Contains(o.got, o.want) {
					t.Errorf("%s = %q, want it to hold %q", o.name, o.got, o.want)
				}
			}
		})
	}
}

func TestFlagsKeepTheirValuesAndSayWhetherTheyWereGiven(t *testing.T) {
	f := newTestApp()
	if err := f.app.Parse([]string{"-o", "a=1,2", "-o", "b=3", "-C", "", "bob", "-l"}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a=1,2", "b=3"}; !slices.Equal(*f.overrides, want) {
		t.Errorf("-o = %q, want %q (one value each, commas kept)", *f.overrides, want)
	}
	if !f.app.IsSet("C") || *f.config != "" {
		t.Errorf("-C given empty: set %v, value %q", f.app.IsSet("C"), *f.config)
	}
	if f.app.IsSet("l") || *f.lmtp {
		t.Error("-l after the first argument was taken as a flag")
	}
	if want := []string{"bob", "-l"}; !slices.Equal(f.app.Args(), want) {
		t.Errorf("args = %q, want %q", f.app.Args(), want)
	}
}

func TestTheUsageListsTheFlagsInTheOrderDefined(t *testing.T) {
	var out bytes.Buffer
	newTestApp().app.Print(&out)
	want := "GLOBAL OPTIONS:\n" +
		"   -C file                        configuration file\n" +
		"   -o key=value [ -o key=value ]  override a configuration key=value\n" +
		"   -l                             speak LMTP\n"
	if !strings.HasSuffix(out.String(), want) {
		t.Errorf("usage:\n%s\nwant it to end in:\n%s", out.String(), want)
	}
}
