package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"unixmail/internal/sandbox"
)

// TestNamesMadeFromSendersAreUsedLiterally: Save, Copy and followup name
// their file after the sender, whom anyone can pretend to be: the name
// must never be expanded (glob, $VAR, ~, +, %, &) nor make a dot-file.
func TestNamesMadeFromSendersAreUsedLiterally(t *testing.T) {
	sb := sandbox.New(t)
	home := sb.Home("bob")
	bashrc := filepath.Join(home, ".bashrc")
	os.WriteFile(bashrc, []byte("# bob's\n"), 0o600)
	senders := []struct{ from, file string }{
		{".bashr?@evil.example", "_bashr?"},
		{"$HOME@evil.example", "$HOME"},
		{"~@evil.example", "~"},
		{"+inbox@evil.example", "+inbox"},
		{"%bob@evil.example", "%bob"},
		{"&@evil.example", "&"},
		{"..@evil.example", "_."},
	}
	var mb strings.Builder
	for i, s := range senders {
		mb.WriteString("From x@evil.example Mon Jan  5 10:00:00 2026\nFrom: " + s.from + "\nSubject: m" +
			string(rune('1'+i)) + "\n\nbody\n\n")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "evil.mbox")
	os.WriteFile(p, []byte(mb.String()), 0o600)
	script := ""
	for i := range senders {
		script += "Save " + string(rune('1'+i)) + "\n"
	}
	script += "Copy 1\nfollowup 2\nnoted\n~.\nq\n"
	sb.FakeSendmail(t, "bob", "0")
	cmd := sb.Mail("bob", "-N", "-f", p)
	cmd.Dir = home
	r := sandbox.RunCmd(t, cmd, script)
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if b, _ := os.ReadFile(bashrc); string(b) != "# bob's\n" {
		t.Errorf("~/.bashrc changed:\n%s", b)
	}
	for _, s := range senders {
		if _, err := os.Stat(filepath.Join(home, s.file)); err != nil {
			t.Errorf("From %s: no file %q in the current directory: %v", s.from, s.file, err)
		}
	}
	if _, err := os.Stat(filepath.Join(home, "mail", "inbox")); err == nil {
		t.Errorf("+inbox was taken for the folder directory")
	}
	if b, _ := os.ReadFile(filepath.Join(home, "$HOME")); !strings.Contains(string(b), "Subject: m2") || !strings.Contains(string(b), "noted") {
		t.Errorf("followup did not record to ./$HOME:\n%s", b)
	}
}
