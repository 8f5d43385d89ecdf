package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"unixmail/internal/sandbox"
	"unixmail/internal/testbin"
)

// asNobody is a command run as uid 65534, who owns the peer home, with
// only the environment given.
func asNobody(t *testing.T, env []string, argv ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(sandbox.NeedPeer(t, "setpriv"), append([]string{"--reuid=65534", "--regid=65534", "--clear-groups"}, argv...)...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "USER=nobody", "LOGNAME=nobody"}, env...)
	return cmd
}

// One mailbox, everyone at once: dovecot-lda, procmail and mutt (saving
// a copy of what it sends into the mailbox) append, and so does our
// deliver, while our mail opens the mailbox and quits in a loop, each quit
// that finds new mail rewriting it in place to mark that mail old. The
// peers take the two locks in the order they were built with and wait for
// the second holding the first: dovecot-lda in Debian's order (fcntl, then
// the dot-lock, as mutt) and in upstream's (dot-lock, then fcntl, as
// procmail). Peers of opposite orders deadlock each other (until Dovecot's
// five-minute timeout), so each round pairs dovecot-lda with the peer of
// its order; ours, which never wait holding a lock, run in every round.
// Every round must end (each is bounded), every delivery must succeed, and
// every message must be in the mailbox exactly once, as python's mailbox
// reads it.
func TestEveryoneDeliversWhileMailRewritesAndNothingIsLostOrStuck(t *testing.T) {
	if os.Getuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("needs root")
		}
		t.Skip("needs root: every program runs as uid 65534, the owner of the mailbox")
	}
	lda := "/usr/lib/dovecot/dovecot-lda"
	if _, err := os.Stat(lda); err != nil {
		sandbox.NeedPeer(t, "dovecot-lda")
	}
	procmail, mutt, py := sandbox.NeedPeer(t, "procmail"), sandbox.NeedPeer(t, "mutt"), sandbox.NeedPeer(t, "python3")
	home := sandbox.PeerHome(t, nil)
	dir := filepath.Dir(home)
	box := filepath.Join(home, "Mailbox")
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	passwd := write("passwd", "nob:x:65534:65534:Nobody:"+home+":/bin/sh\n")
	conf := write("unixmail.conf", "user_db = "+passwd+"\nmailbox = ~/Mailbox\nhostname = test.example\nlog = stderr\nlock_timeout = 2m\n")
	mailrc := write("mailrc", "set hold\n")
	muttrc := write("muttrc", "set mbox_type=mbox\nset record="+box+"\nset copy=yes\nset sendmail=/bin/true\nset from=mutt@example.org\n")
	ldaConf := func(order string) string {
		return write("lda.conf", "mail_location = mbox:~/mail:INBOX=~/Mailbox\nmbox_write_locks = "+order+"\nlog_path = "+home+"/lda.log\n")
	}
	deliver, mail := testbin.Path(t, "deliver"), testbin.Path(t, "mail")
	env := []string{"HOME=" + home}

	const perWriter = 6
	var want []string
	rounds := []struct{ order, peer string }{
		{"fcntl dotlock", "mutt"}, {"dotlock fcntl", "procmail"}, {"fcntl dotlock", "mutt"}, {"dotlock fcntl", "procmail"},
	}
	for round, rd := range rounds {
		order := rd.order
		lc := ldaConf(order)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		writers := map[string]func(subject string) *exec.Cmd{
			"lda": func(s string) *exec.Cmd {
				c := asNobody(t, env, lda, "-c", lc, "-f", "lda@example.org")
				c.Stdin = strings.NewReader("From: lda@example.org\nSubject: " + s + "\n\nhello\n")
				return c
			},
			"procmail": func(s string) *exec.Cmd {
				c := asNobody(t, env, procmail, "-f", "procmail@example.org", "DEFAULT="+box)
				c.Stdin = strings.NewReader("From: procmail@example.org\nSubject: " + s + "\n\nhello\n")
				return c
			},
			"mutt": func(s string) *exec.Cmd {
				c := asNobody(t, env, mutt, "-n", "-F", muttrc, "-s", s, "x@example.org")
				c.Stdin = strings.NewReader("hello\n")
				return c
			},
			"deliver": func(s string) *exec.Cmd {
				c := asNobody(t, env, deliver, "-C", conf, "-f", "deliver@example.org", "nob")
				c.Stdin = strings.NewReader("From: deliver@example.org\nSubject: " + s + "\n\nhello\n")
				return c
			},
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failures []string
		fail := func(f string, a ...any) {
			mu.Lock()
			failures = append(failures, fmt.Sprintf(f, a...))
			mu.Unlock()
		}
		for name, cmdFor := range writers {
			if name == map[string]string{"mutt": "procmail", "procmail": "mutt"}[rd.peer] {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perWriter {
					s := fmt.Sprintf("round %d %s %d", round, name, i)
					cmd := cmdFor(s)
					if out, err := cmd.CombinedOutput(); err != nil {
						fail("%s: %v: %s", s, err, out)
					}
					if ctx.Err() != nil {
						return
					}
				}
			}()
			for i := range perWriter {
				want = append(want, fmt.Sprintf("round %d %s %d", round, name, i))
			}
		}
		done := make(chan struct{})
		quits := 0
		go func() {
			defer close(done)
			for {
				select {
				case <-ctx.Done():
					return
				default:
				}
				cmd := asNobody(t, append(env, "MAIL="+box, "MAILRC="+mailrc), mail, "-C", conf, "-N")
				cmd.Stdin = strings.NewReader("q\n")
				out, err := cmd.CombinedOutput()
				switch {
				case err == nil || strings.Contains(string(out), "No mail"):
				default:
					fail("mail: %v: %s", err, out)
				}
				quits++
			}
		}()
		finished := make(chan struct{})
		go func() { wg.Wait(); close(finished) }()
		select {
		case <-finished:
		case <-ctx.Done():
			t.Fatalf("round %d (dovecot-lda: %s) did not end in time: a deadlock", round, order)
		}
		cancel()
		<-done
		if len(failures) > 0 {
			t.Fatalf("round %d (dovecot-lda: %s):\n%s", round, order, strings.Join(failures, "\n"))
		}
		out, err := exec.Command(py, "-c", "import mailbox, sys\nfor m in mailbox.mbox(sys.argv[1]): print(m['Subject'])", box).CombinedOutput()
		if err != nil {
			t.Fatalf("python: %v\n%s", err, out)
		}
		got := strings.Split(strings.TrimSpace(string(out)), "\n")
		sort.Strings(got)
		sort.Strings(want)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("round %d (dovecot-lda: %s): the mailbox holds\n%s\nwant each of\n%s", round, order, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		t.Logf("round %d (dovecot-lda: %s): %d messages, mail quit %d times", round, order, len(got), quits)
	}
}
