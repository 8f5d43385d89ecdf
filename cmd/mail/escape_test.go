package main

import (
	"fmt"
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

// TestAHugeHeaderLineIsShownCutInBoundedMemory: a sender can make one
// header line as long as message_size_limit allows; print shows its
// start, and mail's peak memory stays far below the line's size.
func TestAHugeHeaderLineIsShownCutInBoundedMemory(t *testing.T) {
	sb := sandbox.New(t)
	p := filepath.Join(t.TempDir(), "huge.mbox")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("From x@example.org Mon Jan  5 10:00:00 2026\nFrom: x@example.org\nSubject: ")
	line := strings.Repeat("x", 1<<20)
	for range 100 {
		f.WriteString(line)
	}
	f.WriteString("\nX-After: kept\n\nthe body\n\n")
	f.Close()
	timeBin := sandbox.NeedPeer(t, "time") // GNU time, for the peak RSS
	cmd := sb.Mail("bob", "-N", "-f", p)
	cmd.Args = append([]string{timeBin, "-f", "maxrss=%M"}, cmd.Args...)
	cmd.Path = timeBin
	r := sandbox.RunCmd(t, cmd, "p 1\nx\n")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	if !strings.Contains(r.Stdout, "x [...]") || !strings.Contains(r.Stdout, "the body") || len(r.Stdout) > 64<<10 {
		t.Errorf("print showed %d bytes: %.300q", len(r.Stdout), r.Stdout)
	}
	var kb int
	if i := strings.LastIndex(r.Stderr, "maxrss="); i >= 0 {
		fmt.Sscanf(r.Stderr[i:], "maxrss=%d", &kb)
	}
	t.Logf("peak memory of mail printing a 100 MB header line: %d KiB", kb)
	if kb == 0 || kb > 80<<10 {
		t.Errorf("peak memory %d KiB for a 100 MB header line, want well under 80 MiB", kb)
	}
}
