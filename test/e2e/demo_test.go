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

// demoTree is a copy of scripts/demo.sh beside a bin/ of the programs
// under test, so that the demo runs in a temporary tree of its own.
func demoTree(t *testing.T) string {
	t.Helper()
	top := t.TempDir()
	script, err := os.ReadFile(filepath.Join(testbin.Root(), "scripts", "demo.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"scripts", "bin"} {
		if err := os.Mkdir(filepath.Join(top, d), 0755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(top, "scripts", "demo.sh"), script, 0755); err != nil {
		t.Fatal(err)
	}
	cmds, err := os.ReadDir(filepath.Join(testbin.Root(), "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds {
		if err := os.Symlink(testbin.Path(t, c.Name()), filepath.Join(top, "bin", c.Name())); err != nil {
			t.Fatal(err)
		}
	}
	return top
}

func TestTheDemoDoesWhatItSaysFromALoginShell(t *testing.T) {
	top := demoTree(t)
	cmd := exec.Command("sh", filepath.Join(top, "scripts", "demo.sh"))
	// What su -, ssh and console logins set.
	cmd.Env = append(os.Environ(), "MAIL=/var/mail/u11nosuch", "MAILRC=/nonexistent/mailrc", "MBOX=/nonexistent/mbox")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	bob := filepath.Join(top, "build", "demo", "home", "bob")
	mbox, err := os.ReadFile(filepath.Join(bob, "mbox"))
	if err != nil || !strings.Contains(string(mbox), "Subject: Demo message 1") {
		t.Fatalf("the message bob read is not in ~/mbox (%v):\n%s", err, out)
	}
	inbox, _ := os.ReadFile(filepath.Join(bob, "Mailbox"))
	for _, gone := range []string{"Subject: Demo message 1", "Subject: Demo message 2"} {
		if strings.Contains(string(inbox), gone) {
			t.Errorf("bob's Mailbox still holds %q:\n%s", gone, inbox)
		}
	}
	// After mail's quit three messages were left, marked old; imapd then
	// moved one to Archive and ipop3d deleted one: every message left, in
	// either folder, still says it is old.
	archive, _ := os.ReadFile(filepath.Join(bob, "mail", "Archive"))
	left := string(inbox) + string(archive)
	if n, old := sandbox.CountMessages(string(inbox))+sandbox.CountMessages(string(archive)), strings.Count(left, "\nStatus: O\n"); n != 2 || old != 2 {
		t.Errorf("%d messages left in INBOX and Archive, %d of them marked old; want 2 and 2:\n%s", n, old, left)
	}
}

// goVersion is the Go release go.mod asks for.
func goVersion(t *testing.T) string {
	t.Helper()
	mod, err := os.ReadFile(filepath.Join(testbin.Root(), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(mod), "\n") {
		if v, ok := strings.CutPrefix(l, "go "); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatal("go.mod has no go line")
	return ""
}

func TestTheREADMEStartsWithThePrerequisitesOfGoMod(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(testbin.Root(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	top := strings.Join(strings.SplitN(string(readme), "\n", 15)[:14], "\n")
	for _, want := range []string{"Go " + goVersion(t), "network", "make demo"} {
		if !strings.Contains(top, want) {
			t.Errorf("the README's first lines lack %q:\n%s", want, top)
		}
	}
}

func TestMakeDemoSaysGoIsMissingBeforeDoingAnything(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	// Safe in the source tree: without go, nothing is built or run.
	cmd := exec.Command("make", "GO=u11-no-such-go", "demo")
	cmd.Dir = testbin.Root()
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("make demo without go succeeded:\n%s", out)
	}
	for _, want := range []string{"Go " + goVersion(t), `"u11-no-such-go" is not in PATH`, "network"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("make demo lacks %q:\n%s", want, out)
		}
	}
}
