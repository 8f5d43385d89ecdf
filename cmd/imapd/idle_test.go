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

// An imaplib session idles while deliver brings mail, one message at a
// time: each is announced by itself, long before the next. How long each
// took is logged (speed is no assertion here).
func TestAnIdlingImaplibSessionHearsOfEachDelivery(t *testing.T) {
	u := newIMAPUser(t)
	u.deliver(t, message("first", "1\n"))
	py := sandbox.NeedPeer(t, "python3")
	w := exec.Command(py, "-c", watcher, u.imapdCommand())
	stdin, _ := w.StdinPipe()
	stdout, _ := w.StdoutPipe()
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Wait()
	defer io.WriteString(stdin, "stop\n")
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	if l := <-lines; !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}
	for n := 2; n <= 4; n++ {
		start := time.Now()
		u.deliver(t, message(fmt.Sprintf("mail %d", n), "more\n"))
		want := fmt.Sprintf("* %d EXISTS", n)
		deadline := time.After(30 * time.Second)
	wait:
		for {
			select {
			case l, ok := <-lines:
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
