package main

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"unixmail/internal/sandbox"
)

// idler is the watcher script idling in an imapd session of its own:
// what it hears comes on lines; a line on stdin ends its IDLE.
type idler struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

// startIdler starts the watcher and waits until it idles.
func startIdler(t *testing.T, u *imapUser) *idler {
	t.Helper()
	py := sandbox.NeedPeer(t, "python3")
	w := &idler{cmd: exec.Command(py, "-c", watcher, u.imapdCommand()), lines: make(chan string, 10000)}
	w.stdin, _ = w.cmd.StdinPipe()
	stdout, _ := w.cmd.StdoutPipe()
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			w.lines <- sc.Text()
		}
		close(w.lines)
	}()
	if l := <-w.lines; !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}
	return w
}

// An imaplib session idles while deliver brings mail, one message at a
// time: each is announced by itself, long before the next. How long each
// took is logged (speed is no assertion here).
func TestAnIdlingImaplibSessionHearsOfEachDelivery(t *testing.T) {
	u := newIMAPUser(t)
	u.deliver(t, message("first", "1\n"))
	w := startIdler(t, u)
	defer w.cmd.Wait()
	defer io.WriteString(w.stdin, "stop\n")
	for n := 2; n <= 4; n++ {
		start := time.Now()
		u.deliver(t, message(fmt.Sprintf("mail %d", n), "more\n"))
		want := fmt.Sprintf("* %d EXISTS", n)
		deadline := time.After(30 * time.Second)
	wait:
		for {
			select {
			case l, ok := <-w.lines:
				if !ok {
					t.Fatalf("the idler ended before %q; log:\n%s", want, u.log())
				}
				if l == want {
					break wait
				}
			case <-deadline:
				t.Fatalf("no %q in 30 s; log:\n%s", want, u.log())
			}
		}
		t.Logf("delivery %d announced %v after deliver started", n, time.Since(start).Round(time.Millisecond))
	}
}
