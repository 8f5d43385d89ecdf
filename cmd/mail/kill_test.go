package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"unixmail/internal/sandbox"
	"unixmail/pkg/mbox"
)

// pySubjects prints, for each mailbox named, a line per message python's
// mailbox reads (its Subject and its Status, tab-separated), then a line
// "--".
const pySubjects = `import mailbox, sys
for p in sys.argv[1:]:
    for m in mailbox.mbox(p): print(m["Subject"] + "\t" + (m["Status"] or ""))
    print("--")`

// killMailbox is a mailbox of n messages, m000 to m(n-1), of some 2 KB each.
func killMailbox(n int) string {
	var b strings.Builder
	body := strings.Repeat("a line of the body, long enough to take some bytes\n", 40)
	for i := range n {
		fmt.Fprintf(&b, "From sender@example.org  Wed Nov 25 17:%02d:14 2026\nFrom: sender@example.org\nSubject: m%03d\n\n%s\n", i%60, i, body)
	}
	return b.String()
}

// mail killed with SIGKILL at a hundred moments of its quit (its rewrite
// slowed down by a test hook so that the moments fall all through it):
// after the next program of ours has taken the lock, python's mailbox
// reads the file, and it is the old mailbox or the new one, every message
// once.
func TestMailKilledAtAnyPointOfItsRewriteLeavesTheOldOrTheNewMailbox(t *testing.T) {
	py := sandbox.NeedPeer(t, "python3")
	sb := sandbox.New(t)
	const n = 40
	data := killMailbox(n)
	// d 1: every byte from the first moves; p 5: message 5 gets Status RO.
	const script = "d 1\np 5\nq\n"
	var oldState, newState []string
	for i := range n {
		oldState = append(oldState, fmt.Sprintf("m%03d\t", i))
		if i > 0 {
			st := ""
			if i == 4 {
				st = "RO"
			}
			newState = append(newState, fmt.Sprintf("m%03d\t%s", i, st))
		}
	}
	run := func(p string, kill time.Duration) {
		t.Helper()
		cmd := sb.Mail("bob", "-N", "-f", p)
		cmd.Env = append(cmd.Env, mbox.RewriteDelayEnv+"=1us")
		cmd.Stdin = strings.NewReader(script)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if kill > 0 {
			time.Sleep(kill)
			cmd.Process.Kill()
		}
		cmd.Wait()
	}
	// read has each mailbox opened by a program of ours (which rolls a
	// journal back), then read by python.
	read := func(paths ...string) [][]string {
		t.Helper()
		for _, p := range paths {
			if r := sandbox.RunCmd(t, sb.Mail("bob", "-N", "-H", "-f", p), ""); r.Code != 0 {
				t.Fatalf("mail -H %s after the kill: exit %d: %s", p, r.Code, r.Stderr)
			}
			if _, err := os.Lstat(mbox.JournalPath(p)); err == nil {
				t.Fatalf("%s: the journal is still there after the next open", p)
			}
		}
		out, err := exec.Command(py, append([]string{"-c", pySubjects}, paths...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("python: %v\n%s", err, out)
		}
		var all [][]string
		for _, box := range strings.SplitAfter(string(out), "--\n") {
			if box != "" {
				all = append(all, strings.Split(strings.TrimSuffix(box, "--\n"), "\n"))
			}
		}
		return all
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "whole")
	os.WriteFile(p, []byte(data), 0o600)
	start := time.Now()
	run(p, 0)
	whole := time.Since(start)
	want := func(state []string) string { return strings.Join(state, "\n") + "\n" }
	if got := read(p); strings.Join(got[0], "\n") != want(newState) {
		t.Fatalf("an unkilled quit left:\n%s", strings.Join(got[0], "\n"))
	}
	var paths []string
	kills := map[string]time.Duration{}
	for i := range 100 {
		p := filepath.Join(dir, fmt.Sprintf("box%03d", i))
		os.WriteFile(p, []byte(data), 0o600)
		kills[p] = time.Duration(rand.Int64N(int64(whole) + 1))
		run(p, kills[p])
		paths = append(paths, p)
	}
	olds, news := 0, 0
	for i, got := range read(paths...) {
		switch strings.Join(got, "\n") {
		case want(oldState):
			olds++
		case want(newState):
			news++
		default:
			t.Fatalf("killed after %v (of %v): the mailbox is neither old nor new:\n%s", kills[paths[i]], whole, strings.Join(got, "\n"))
		}
	}
	t.Logf("%d kills left the old mailbox, %d the new one (a whole quit takes %v)", olds, news, whole)
}
