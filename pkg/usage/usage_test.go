package usage

import (
	"bytes"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"unixmail/pkg/sysexits"
)

func testApp(out, errw *bytes.Buffer, ran *bool) *cli.App {
	return &cli.App{
		Name:      "prog",
		UsageText: "prog [-x] file",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "x", Usage: "the x flag"}},
		Writer:    out, ErrWriter: errw,
		Action: func(*cli.Context) error { *ran = true; return nil },
	}
}

func TestHelpAndBadFlagsAnswerTheSameWayInEveryProgram(t *testing.T) {
	cases := []struct {
		name      string
		args      []string
		code      int    // sysexits code of Run's error, 0 for none
		stdout    string // "" = must be empty
		stderr    string // "" = must be empty
		runs      bool
		shownOnce bool
	}{
		{"--help prints the usage on stdout", []string{"prog", "--help"}, 0, "prog [-x] file", "", false, false},
		{"an unknown flag prints it and the usage on stderr", []string{"prog", "-Z"}, sysexits.Usage, "", "prog: flag provided but not defined: -Z\n\nNAME:", false, true},
		{"-h is no option either", []string{"prog", "-h"}, sysexits.Usage, "", "prog: unknown option (--help prints the usage)", false, true},
		{"known flags run the program", []string{"prog", "-x", "f"}, 0, "", "", true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errw bytes.Buffer
			ran := false
			err := Run(testApp(&out, &errw, &ran), c.args)
			if got := codeOf(err); got != c.code {
				t.Errorf("code %d (%v), want %d", got, err, c.code)
			}
			check := func(what, got, want string) {
				if want == "" && got != "" || !strings.Contains(got, want) {
					t.Errorf("%s %q, want %q", what, got, want)
				}
			}
			check("stdout", out.String(), c.stdout)
			check("stderr", errw.String(), c.stderr)
			if c.code == sysexits.Usage && !strings.Contains(errw.String(), "prog [-x] file") {
				t.Errorf("stderr lacks the usage: %q", errw.String())
			}
			if ran != c.runs {
				t.Errorf("ran %v, want %v", ran, c.runs)
			}
			if Shown(err) != c.shownOnce {
				t.Errorf("Shown %v, want %v", Shown(err), c.shownOnce)
			}
		})
	}
}

func codeOf(err error) int {
	if err == nil {
		return 0
	}
	return sysexits.Code(err)
}
