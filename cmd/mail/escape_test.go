package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"unixmail/internal/sandbox"
)

func TestPrintAndTypeNeutraliseEscapesUnlessRawprintIsSet(t *testing.T) {
	sb := sandbox.New(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "esc.mbox")
	os.WriteFile(p, []byte("From x@evil.example\x1b[2J Mon Jan  5 10:00:00 2026\nFrom: x@evil.example\n"+
		"Subject: \x1b]0;owned\x07title\n\n\x1b[31mred\x1b[0m\n\n"), 0o600)
	for _, tt := range []struct {
		script      string
		want, wrong string
	}{
		{"P 1\nT 1\nx\n", "^[[31mred", "\x1b"},
		{"set rawprint\nP 1\nx\n", "\x1b[31mred", "^[[31m"},
	} {
		r := sandbox.RunCmd(t, sb.Mail("bob", "-N", "-f", p), tt.script)
		if r.Code != 0 {
			t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
		}
		if !strings.Contains(r.Stdout, tt.want) || strings.Contains(r.Stdout, tt.wrong) {
			t.Errorf("%q: output %q, want %q and no %q", tt.script, r.Stdout, tt.want, tt.wrong)
		}
	}
}
