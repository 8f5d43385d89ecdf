package main

import (
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"unixmail/internal/sandbox"
)

// The watcher idles until told to stop on its standard input, then lists
// the UIDs it knows; every response it saw is printed.
const watcher = `
import imaplib, sys, threading
M = imaplib.IMAP4_stream(sys.argv[1])
M.select("INBOX")
M.send(b"w1 IDLE\r\n")
print(M.readline().decode().strip(), flush=True)
def stop():
    sys.stdin.readline()
    M.send(b"DONE\r\n")
threading.Thread(target=stop).start()
while True:
    l = M.readline().decode().strip()
    print(l, flush=True)
    if l.startswith("w1 "):
        break
typ, data = M.uid("SEARCH", "ALL")
print("UIDS", data[0].decode(), flush=True)
M.logout()
`

// The expunger deletes the first few messages again and again, printing
// the subjects of those it removed.
const expunger = `
import imaplib, sys, time, re
M = imaplib.IMAP4_stream(sys.argv[1])
for round in range(8):
    typ, data = M.select("INBOX")
    if int(data[0]) >= 3:
        typ, data = M.fetch("1:3", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        subjects = [item[1].decode().strip() for item in data if isinstance(item, tuple)]
        M.store("1:3", "+FLAGS", r"(\Deleted)")
        typ, data = M.expunge()
        print("EXPUNGED", "|".join(subjects), flush=True)
    time.sleep(0.3)
M.logout()
`

func TestFiveHundredDeliveriesBesideAnIdlerAndAnExpungerLoseNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	u := newIMAPUser(t)
	u.deliver(t, message("msg start", "first\n"))
	py := sandbox.NeedPeer(t, "python3")
	cmdline := u.imapdCommand()
	idle := startIdler(t, u)
	lines := idle.lines

	var wg sync.WaitGroup
	var expOut []byte
	var expErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		expOut, expErr = exec.Command(py, "-c", expunger, cmdline).CombinedOutput()
	}()
	const n = 500
	jobs := make(chan int)
	for k := 0; k < 4; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if r := u.sb.Run(message(fmt.Sprintf("msg %03d", i), "body\n"), "deliver", u.name); r.Code != 0 {
					t.Errorf("deliver %d: %d %s", i, r.Code, r.Stderr)
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if expErr != nil {
		t.Fatalf("expunger: %v\n%s", expErr, expOut)
	}

	// Wait until the idler has heard of the last delivery, then stop it.
	var tally idleTally
	deadline := time.Now().Add(3 * time.Minute)
	for !tally.sawAll(u, lines) {
		if time.Now().After(deadline) {
			t.Fatalf("the idler announced %d messages, the mailbox holds %d; it said last:\n%s\nlog:\n%s",
				tally.count, sandbox.CountMessages(u.sb.ReadMailbox(u.name)), strings.Join(tally.last, "\n"), u.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	io.WriteString(idle.stdin, "stop\n")
	var seen []string
	for l := range lines {
		seen = append(seen, l)
	}
	idle.cmd.Wait()

	expunged := map[string]bool{}
	for _, l := range strings.Split(string(expOut), "\n") {
		if s, ok := strings.CutPrefix(l, "EXPUNGED "); ok {
			for _, subj := range strings.Split(s, "|") {
				expunged[strings.TrimPrefix(subj, "Subject: ")] = true
			}
		}
	}
	box := u.readMailbox(t)
	present := map[string]bool{}
	var uids []int
	for _, m := range box {
		if present[m.Subject] {
			t.Errorf("%q twice in the mailbox", m.Subject)
		}
		present[m.Subject] = true
		var uid int
		fmt.Sscan(m.UID, &uid)
		uids = append(uids, uid)
	}
	for i := 0; i < n; i++ {
		s := fmt.Sprintf("msg %03d", i)
		if present[s] == expunged[s] {
			t.Errorf("%s: in the mailbox %v, expunged %v", s, present[s], expunged[s])
		}
	}
	if !sort.IntsAreSorted(uids) {
		t.Errorf("X-UIDs out of order: %v", uids)
	}
	last := seen[len(seen)-1]
	m := regexp.MustCompile(`UIDS (.*)`).FindStringSubmatch(last)
	if m == nil || len(strings.Fields(m[1])) != len(box) {
		t.Fatalf("the idler knows %q, the mailbox holds %d (expunged %d)", last, len(box), len(expunged))
	}
}

// idleTally follows what the idler says: the messages it has announced
// (EXISTS, net of EXPUNGEs) and its last lines, for a failure's report.
type idleTally struct {
	count int
	last  []string
}

// sawAll reports whether the idler has announced as many messages as the
// mailbox holds, reading what it said so far without waiting.
func (it *idleTally) sawAll(u *imapUser, lines chan string) bool {
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return true
			}
			it.last = append(it.last, l)
			if len(it.last) > 20 {
				it.last = it.last[1:]
			}
			var k int
			if _, err := fmt.Sscanf(l, "* %d EXISTS", &k); err == nil {
				it.count = k
			} else if _, err := fmt.Sscanf(l, "* %d EXPUNGE", &k); err == nil {
				it.count--
			}
		default:
			return it.count == sandbox.CountMessages(u.sb.ReadMailbox(u.name))
		}
	}
}
