package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"unixmail/internal/sandbox"
	"unixmail/internal/testbin"
)

// Every program: --help prints the usage on stdout and exits 0; a flag it
// does not know prints the usage on stderr and exits 64 (EX_USAGE).
func TestEveryProgramAnswersHelpOnStdoutAndABadFlagWith64(t *testing.T) {
	cmds, err := os.ReadDir(filepath.Join(testbin.Root(), "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string][][]string{"mail": {{"-h"}, {"-Z"}}, "deliver": {{"-h"}, {"-Z"}}, "sendmail": {{"-bt"}}}
	for _, c := range cmds {
		name := c.Name()
		t.Run(name, func(t *testing.T) {
			bin := testbin.Path(t, name)
			r := sandbox.RunCmd(t, exec.Command(bin, "--help"), "")
			if r.Code != 0 || !strings.Contains(r.Stdout, "USAGE:") || !strings.Contains(r.Stdout, name+" ") || r.Stderr != "" {
				t.Errorf("%s --help: exit %d\nstdout: %s\nstderr: %s", name, r.Code, r.Stdout, r.Stderr)
			}
			for _, args := range append(bad[name], []string{"--u11-no-such-option"}) {
				r := sandbox.RunCmd(t, exec.Command(bin, args...), "")
				if r.Code != 64 || !strings.Contains(r.Stderr, "USAGE:") || r.Stdout != "" ||
					strings.Count(r.Stderr, "\n"+name+": ") > 0 || strings.Contains(r.Stderr, "Incorrect Usage") {
					t.Errorf("%s %v: exit %d, want 64 and the usage once on stderr\nstdout: %s\nstderr: %s", name, args, r.Code, r.Stdout, r.Stderr)
				}
			}
		})
	}
}
