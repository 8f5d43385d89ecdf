package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"unixmail/internal/sandbox"
)

// imapWorker is an IMAP client working on the mailbox while others do:
// it flags every message whose subject ends in "flag", and deletes and
// expunges every one ending in "imapdel", its flag changes batched by
// imapd (written after 2 s, or at EXPUNGE, CHECK, LOGOUT). It goes on
// until the file named by its second argument exists, then writes its
// changes (CHECK) and lists every UID it saw with its subject; a UID that
// ever names another subject is WRONG.
const imapWorker = `
import imaplib, os, re, sys, time
M = imaplib.IMAP4_stream(sys.argv[1])
M.select("INBOX")
seen = {}
def look():
    typ, data = M.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    for d in data:
        if not isinstance(d, tuple):
            continue
        m = re.search(rb"UID (\d+)", d[0])
        s = re.search(rb"Subject: (.*?)\r?\n", d[1])
        if not m or not s:
            print("WRONG answer %r" % (d,), flush=True)
            continue
        uid, subj = int(m.group(1)), s.group(1).decode()
        if seen.setdefault(uid, subj) != subj:
            print("WRONG uid %d was %r, now %r" % (uid, seen[uid], subj), flush=True)
        flags = d[0].decode()
        if subj.endswith(" flag") and "\\Flagged" not in flags:
            M.uid("STORE", str(uid), "+FLAGS.SILENT", r"(\Flagged)")
        if subj.endswith(" imapdel") and "\\Deleted" not in flags:
            M.uid("STORE", str(uid), "+FLAGS.SILENT", r"(\Deleted)")
done = False
while not done:
    done = os.path.exists(sys.argv[2])
    M.noop()
    look()
    typ, data = M.expunge()
    if typ != "OK":
        print("EXPUNGE", typ, data, flush=True)
    time.sleep(0.2)
typ, data = M.check()
print("CHECK", typ, flush=True)
for uid in sorted(seen):
    print("SEEN %d %s" % (uid, seen[uid]))
M.logout()
`

// subjectsAndFlags is python's mailbox reading the file: subject, then
// X-Status, one message a line.
const subjectsAndFlags = `
import mailbox, sys
for m in mailbox.mbox(sys.argv[2], create=False):
    print("%s|%s|%s" % (m["subject"], m["x-status"] or "", (m["x-uid"] or "").strip()))
`

// One mailbox, everyone at once, in bounded rounds: an imapd session
// flags messages and expunges others, its flag changes batched; another
// idles; dovecot-lda delivers, in Debian's lock order (fcntl, then the
// dot-lock) in one round and upstream's (dot-lock, then fcntl) in the
// other, with our deliver, and procmail in the second round (peers of
// opposite orders deadlock each other, not us); in the first round mutt
// then flags and deletes messages, rewriting the file, while the imapd
// sessions go on. A round that does not end in time fails the test
// (a deadlock). Then every message is accounted for: those meant to stay
// are there exactly once, with the flags set on them; those deleted are
// gone; the UIDs imapd first gave stand; and python's mailbox and
// go-mbox read the file without an error.
func TestImapdBatchesAndExpungesBesideDovecotLdaInBothLockOrdersProcmailMuttAndDeliver(t *testing.T) {
	everyoneAtOnce(t, 0)
}

// The same on a folder of 300 messages more, of which imapd keeps an index
// (a small one keeps none): its flag changes are written where the index
// says each message's state fields lie (mbox.Room), unread, while the
// others append and rewrite.
func TestImapdBatchesAndExpungesBesideThePeersOnAFolderWhoseIndexItKeeps(t *testing.T) {
	everyoneAtOnce(t, 300)
}

// everyoneAtOnce is the test above on a mailbox that begins with fillers
// messages (writeFolder's "message N").
func everyoneAtOnce(t *testing.T, fillers int) {
	if testing.Short() {
		t.Skip("long")
	}
	u := newIMAPUser(t)
	u.sb.Set("lock_timeout", "2m")
	lda := "/usr/lib/dovecot/dovecot-lda"
	if _, err := os.Stat(lda); err != nil {
		sandbox.NeedPeer(t, "dovecot-lda")
	}
	procmail, mutt, script, py := sandbox.NeedPeer(t, "procmail"), sandbox.NeedPeer(t, "mutt"), sandbox.NeedPeer(t, "script"), sandbox.NeedPeer(t, "python3")
	home, box := u.sb.Home(u.name), u.mailbox()
	env := []string{"HOME=" + home, "USER=" + u.name, "LOGNAME=" + u.name, "PATH=/usr/bin:/bin", "TERM=xterm", "LC_ALL=C.UTF-8"}
	muttrc := filepath.Join(u.sb.Dir, "muttrc")
	os.WriteFile(muttrc, []byte("set mbox_type=mbox\nset sort=mailbox-order\nset wait_key=no\nset quit=yes\nset move=no\nset delete=yes\nset header_cache=\"\"\nset mark_old=no\n"), 0o644)
	var before []string
	if fillers > 0 {
		writeFolder(t, box, fillers, 200)
		os.Chown(box, 65534, 65534)
		for i := 1; i <= fillers; i++ {
			before = append(before, fmt.Sprintf("message %d", i))
		}
	}
	u.deliver(t, message("start keep", "hello\n"))
	before = append(before, "start keep")

	// What each message is for, by the last word of its subject.
	var want []string
	var wantMu sync.Mutex
	meant := func(s string) { wantMu.Lock(); want = append(want, s); wantMu.Unlock() }

	idle := startIdler(t, u)
	stop := filepath.Join(t.TempDir(), "stop")
	worker := exec.Command(py, "-c", imapWorker, u.imapdCommand(), stop)
	var workerOut strings.Builder
	worker.Stdout, worker.Stderr = &workerOut, &workerOut
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	kinds := []string{"keep", "flag", "imapdel"}
	rounds := []struct{ order, peer string }{{"fcntl dotlock", "mutt"}, {"dotlock fcntl", "procmail"}}
	for round, rd := range rounds {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		conf := filepath.Join(u.sb.Dir, fmt.Sprintf("lda%d.conf", round))
		// mbox_dirty_syncs = no, as Dovecot must be set beside programs
		// that rewrite the middle of the file (see imapd(8)): with its
		// default, a file that grew since dovecot-lda's last look is
		// taken for one that was only appended to, and after an expunge
		// by imapd plus a delivery it reads its stale offsets ("Next
		// message unexpectedly corrupted", "Message body offset lookup
		// failed", exit 75) or numbers its mail from its own stale next
		// UID, giving an expunged message's UID again.
		os.WriteFile(conf, []byte("mail_location = mbox:~/dovecot:INBOX="+box+":INDEX=~/dovecot-index\nmbox_write_locks = "+rd.order+"\nmbox_dirty_syncs = no\nlog_path = "+filepath.Join(home, "lda.log")+"\n"), 0o644)
		run := func(stdin string, argv ...string) error {
			cmd := u.asUser(exec.CommandContext(ctx, argv[0], argv[1:]...))
			cmd.Env = env
			cmd.Stdin = strings.NewReader(stdin)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("%s: %v: %s", argv[0], err, out)
			}
			return nil
		}
		runMutt := func() error {
			// A message of each kind first, so that every pattern matches.
			for _, k := range []string{"muttdel", "muttflag"} {
				s := fmt.Sprintf("r%d mutt-run %d %s", round, time.Now().UnixNano(), k)
				if r := u.sb.Run(message(s, "for mutt\n"), "deliver", u.name); r.Code != 0 {
					return fmt.Errorf("deliver: %d %s", r.Code, r.Stderr)
				}
				meant(s)
			}
			// delete-pattern, not a tag-prefix: with nothing tagged, the
			// latter would act on the message under the cursor.
			keys := `push "<delete-pattern>~s muttdel$<enter><tag-pattern>~s muttflag$ !~F<enter><tag-prefix><flag-message><sync-mailbox><quit>"`
			line := mutt + " -n -F " + muttrc + " -f " + box + " -e '" + keys + "'"
			return run("", script, "-qec", line, "/dev/null")
		}
		var wg sync.WaitGroup
		var failMu sync.Mutex
		var failures []string
		fail := func(err error) {
			failMu.Lock()
			failures = append(failures, err.Error())
			failMu.Unlock()
		}
		var wg2 sync.WaitGroup // the writers alone
		writer := func(name string, deliverOne func(subject string) error) {
			wg.Add(1)
			wg2.Add(1)
			go func() {
				defer wg.Done()
				defer wg2.Done()
				for i := range 9 {
					s := fmt.Sprintf("r%d %s %d %s", round, name, i, kinds[i%3])
					if err := deliverOne(s); err != nil {
						fail(err)
						return
					}
					meant(s)
				}
			}()
		}
		writer("lda", func(s string) error {
			return run("From: lda@example.org\nSubject: "+s+"\n\nhello\n", lda, "-c", conf, "-f", "lda@example.org")
		})
		writer("deliver", func(s string) error {
			if r := u.sb.Run(message(s, "hello\n"), "deliver", u.name); r.Code != 0 {
				return fmt.Errorf("deliver: %d %s", r.Code, r.Stderr)
			}
			return nil
		})
		if rd.peer == "procmail" {
			writer("procmail", func(s string) error {
				return run("From: procmail@example.org\nSubject: "+s+"\n\nhello\n", procmail, "-f", "procmail@example.org", "DEFAULT="+box)
			})
		} else {
			// mutt runs once the deliveries are in, beside the imapd
			// sessions only: waiting for a dot-lock that others hold,
			// it asks on its terminal whether to remove it, and waits.
			wg.Add(1)
			go func() {
				defer wg.Done()
				wg2.Wait()
				for range 2 {
					if err := runMutt(); err != nil {
						fail(err)
						return
					}
				}
			}()
		}
		endsInTime(t, ctx, &wg, u, fmt.Sprintf("round %d (dovecot-lda: %s, %s)", round, rd.order, rd.peer))
		cancel()
		if len(failures) > 0 {
			lda, _ := os.ReadFile(filepath.Join(home, "lda.log"))
			t.Fatalf("round %d (dovecot-lda: %s, %s):\n%s\ndovecot-lda's log:\n%s\nlog:\n%s", round, rd.order, rd.peer, strings.Join(failures, "\n"), lastLines(string(lda), 10), lastLines(u.log(), 10))
		}
	}
	// The last word, once everyone is done: the worker's expunges and
	// flags, written at CHECK.
	os.WriteFile(stop, nil, 0o644)
	waited := make(chan error, 1)
	go func() { waited <- worker.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("imap worker: %v\n%s\nlog:\n%s", err, workerOut.String(), u.log())
		}
	case <-time.After(3 * time.Minute):
		worker.Process.Kill()
		t.Fatalf("the imap worker did not end: a deadlock?\n%s", workerOut.String())
	}
	io.WriteString(idle.stdin, "stop\n")
	for range idle.lines {
	}
	idle.cmd.Wait()
	wout := workerOut.String()
	if strings.Contains(wout, "WRONG") || !strings.Contains(wout, "CHECK OK") {
		t.Fatalf("the imap worker says:\n%s\nlog:\n%s", wout, u.log())
	}

	// Every message accounted for.
	lines := strings.Split(strings.TrimSpace(u.python(t, subjectsAndFlags, box)), "\n")
	got := map[string]int{}
	flags := map[string]string{}
	fileUID := map[string]string{}
	for _, l := range lines {
		f := strings.Split(l, "|")
		got[f[0]]++
		flags[f[0]], fileUID[f[0]] = f[1], f[2]
	}
	sort.Strings(want)
	for _, s := range append(want, before...) {
		kind := s[strings.LastIndexByte(s, ' ')+1:]
		switch n := got[s]; {
		case kind == "imapdel" || kind == "muttdel":
			if n != 0 {
				t.Errorf("%q: deleted, yet %d in the mailbox", s, n)
			}
		case n != 1:
			t.Errorf("%q: %d in the mailbox, want 1", s, n)
		case (kind == "flag" || kind == "muttflag") && !strings.Contains(flags[s], "F"):
			t.Errorf("%q: not flagged (X-Status %q)", s, flags[s])
		}
		delete(got, s)
	}
	for s, n := range got {
		t.Errorf("%q: %d in the mailbox, never sent", s, n)
	}
	// UIDs: what the worker first saw is what the file says now.
	for _, m := range regexp.MustCompile(`(?m)^SEEN (\d+) (.*)$`).FindAllStringSubmatch(wout, -1) {
		if uid, ok := fileUID[m[2]]; ok && uid != m[1] {
			t.Errorf("%q had UID %s, now %s", m[2], m[1], uid)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(box), "."+filepath.Base(box)+".index")); fillers > 0 && err != nil {
		t.Errorf("imapd kept no index of the folder: %v", err)
	}
	if n := len(sandbox.SubjectsByGoMbox(t, box)); n != len(lines) {
		t.Errorf("go-mbox reads %d messages, python %d", n, len(lines))
	}
	t.Logf("%d messages sent, %d left; imap worker:\n%s", len(want)+len(before), len(lines), lastLines(wout, 3))
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

// endsInTime waits for a round's writers; one still running when ctx
// ends is taken for a deadlock between them.
func endsInTime(t *testing.T, ctx context.Context, wg *sync.WaitGroup, u *imapUser, round string) {
	t.Helper()
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-ctx.Done():
		t.Fatalf("%s did not end in time: a deadlock\nlog:\n%s", round, u.log())
	}
}
