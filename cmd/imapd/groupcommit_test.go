package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"unixmail/internal/sandbox"
)

// pipelineSession sends n APPENDs (LITERAL+) to a folder in one write over
// imaplib's connection to imapd, then reads their replies, printing
// "STATUS i UIDVALIDITY UID" for each. With kill > 0, imapd is killed
// (SIGKILL) once that many replies are in, and the replies it had sent
// by then are read to the end. Last, unless killed, a few APPENDs made
// the usual way (each waiting for its reply) print the same way.
const pipelineSession = `
import imaplib, os, re, signal, sys, threading
n, kill, box = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
M = imaplib.IMAP4_stream("exec " + sys.argv[1])
M.select(box)
def msg(i):
    return ("From: Pipeliner <p@test.example>\r\nSubject: piped %d\r\n\r\nbody of %d\r\n" % (i, i)).encode()
data = b"".join(b"p%d APPEND %s (\\Seen) {%d+}\r\n%s\r\n" % (i, box.encode(), len(msg(i)), msg(i)) for i in range(n))
def feed():
    try:
        M.send(data)
    except OSError:
        pass
threading.Thread(target=feed, daemon=True).start()
done = 0
while done < n:
    line = M.readline()
    if not line:
        break
    m = re.match(rb"p(\d+) (OK|NO|BAD)(?: \[APPENDUID (\d+) (\d+)\])?", line)
    if not m:
        continue
    done += 1
    print(m.group(2).decode(), m.group(1).decode(), (m.group(3) or b"-").decode(), (m.group(4) or b"-").decode())
    if done == kill:
        os.kill(M.process.pid, signal.SIGKILL)
if kill:
    sys.exit(0)
for i in range(n, n + 5):
    typ, got = M.append(box, None, None, msg(i))
    u = re.search(rb"APPENDUID (\d+) (\d+)", got[0])
    print(typ, i, u.group(1).decode(), u.group(2).decode())
M.logout()
`

var replyLine = regexp.MustCompile(`(?m)^(OK|NO|BAD) (\d+) (\S+) (\S+)$`)

// okUIDs is what the replies in out said: for each APPEND OK'ed, the
// subject of its message and "UIDVALIDITY UID".
func okUIDs(t *testing.T, out string) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, m := range replyLine.FindAllStringSubmatch(out, -1) {
		if m[1] != "OK" {
			t.Errorf("APPEND %s answered %s", m[2], m[1])
			continue
		}
		got["piped "+m[2]] = m[3] + " " + m[4]
	}
	return got
}

// storedUIDs is "UIDVALIDITY UID" by subject, as a new imapd reads them.
func storedUIDs(t *testing.T, u *imapUser) map[string]string {
	t.Helper()
	stored := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^GIVEN (\d+) (\d+) (.*)$`).FindAllStringSubmatch(u.python(t, uidsSession), -1) {
		stored[m[3]] = m[1] + " " + m[2]
	}
	return stored
}

// inFile is how many times each subject is in the mbox at box, as
// python's mailbox reads it.
func inFile(t *testing.T, u *imapUser, box string) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, m := range u.readMailboxAt(t, box) {
		got[m.Subject]++
	}
	return got
}

// onceEach fails for each subject that is not in got exactly once.
func onceEach(t *testing.T, got map[string]int, subjects []string) {
	t.Helper()
	for _, s := range subjects {
		if got[s] != 1 {
			t.Errorf("%s is in the file %d times", s, got[s])
		}
	}
}

// storedAsGiven fails for each APPEND (subject: "UIDVALIDITY UID", as
// okUIDs gives them) that a new imapd does not read under the UID its
// APPENDUID gave.
func storedAsGiven(t *testing.T, u *imapUser, given map[string]string) {
	t.Helper()
	stored := storedUIDs(t, u)
	for subject, uid := range given {
		if stored[subject] != uid {
			t.Errorf("%s: APPENDUID %s, stored as %q", subject, uid, stored[subject])
		}
	}
}

// pipelineFolder makes the folder the APPENDs go to: the user's small
// INBOX, or a big one, whose UIDs live in its index.
func pipelineFolder(t *testing.T, u *imapUser, big bool) string {
	if !big {
		u.deliver(t, message("delivered", "before the appends\n"))
		return u.mailbox()
	}
	dir := filepath.Join(u.sb.Dir, "big")
	os.Mkdir(dir, 0o755)
	os.Chown(dir, 65534, 65534)
	box := filepath.Join(dir, "Mailbox")
	u.sb.Set("mailbox", box)
	writeFolder(t, box, 300, 60<<10) // 18 MB
	os.Chown(box, 65534, 65534)
	u.python(t, uidsSession) // numbers it, and saves its index
	return box
}

// The APPENDs a client pipelines are all stored, each under the UID its
// APPENDUID gave, python's mailbox and go-mbox read the file, a client
// that waits for each reply still gets it, and in a big folder the
// messages were made to last in far fewer syncs than APPENDs (strace
// counts them).
func TestPipelinedAPPENDsAllLandUnderTheirUIDsSyncedTogether(t *testing.T) {
	for _, big := range []bool{false, true} {
		t.Run(fmt.Sprintf("big=%v", big), func(t *testing.T) {
			u := newIMAPUser(t)
			box := pipelineFolder(t, u, big)
			strace := sandbox.NeedPeer(t, "strace")
			count := filepath.Join(u.sb.Dir, "strace.out")
			argv := u.argv
			u.argv = append([]string{strace, "-f", "-c", "-e", "trace=fdatasync,fsync", "-o", count}, argv...)
			const n = 400
			out := u.python(t, pipelineSession, fmt.Sprint(n), "0", "INBOX")
			u.argv = argv
			given := okUIDs(t, out)
			if len(given) != n+5 {
				t.Fatalf("%d APPENDs OK'ed, want %d:\n%s\nlog:\n%s", len(given), n+5, out, u.log())
			}
			storedAsGiven(t, u, given)
			py := map[string]int{}
			for _, m := range u.readMailboxAt(t, box) {
				py[m.Subject]++
			}
			gm := map[string]int{}
			for _, s := range sandbox.SubjectsByGoMbox(t, box) {
				gm[s]++
			}
			for subject := range given {
				if py[subject] != 1 || gm[subject] != 1 {
					t.Errorf("%s: python's mailbox reads it %d times, go-mbox %d", subject, py[subject], gm[subject])
				}
			}
			b, _ := os.ReadFile(count)
			syncs := 0
			for _, m := range regexp.MustCompile(`(?m)^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(?:fdatasync|fsync)$`).FindAllStringSubmatch(string(b), -1) {
				var k int
				fmt.Sscan(m[1], &k)
				syncs += k
			}
			// Each APPEND made alone syncs the mailbox and a big one's
			// index; those pipelined share. A small folder's base,
			// raised in place before its X-UIDs are written, is raised
			// ahead for the APPENDs of a run: a few syncs a run too.
			// How many APPENDs a run holds depends on the machine's
			// speed (a run is cut after 200 ms, and strace slows every
			// call), so the bound is loose: made alone they would take
			// n syncs at least.
			if syncs == 0 || syncs > n/2 {
				t.Errorf("%d syncs for %d pipelined APPENDs and 5 more:\n%s", syncs, n, b)
			}
			t.Logf("%d syncs for %d pipelined APPENDs and 5 more", syncs, n)
		})
	}
}

// imapd killed (SIGKILL) in the middle of pipelined APPENDs loses none it
// had answered OK: each is in the file under its UID, and the next imapd
// reads them so (the dead one's locks and half-written append repaired).
func TestAKilledImapdLosesNoAPPENDItAnsweredOK(t *testing.T) {
	for _, big := range []bool{false, true} {
		t.Run(fmt.Sprintf("big=%v", big), func(t *testing.T) {
			u := newIMAPUser(t)
			box := pipelineFolder(t, u, big)
			out := u.python(t, pipelineSession, "3000", "300", "INBOX")
			given := okUIDs(t, out)
			if len(given) < 300 {
				t.Fatalf("only %d replies before the kill:\n%s", len(given), out)
			}
			stored := storedUIDs(t, u)
			inFile := map[string]string{}
			for _, m := range u.readMailboxAt(t, box) {
				inFile[m.Subject] = m.UID
			}
			for subject, uid := range given {
				if _, x, _ := strings.Cut(uid, " "); inFile[subject] != x {
					t.Errorf("%s: OK'ed as UID %s, in the file with X-UID %q", subject, x, inFile[subject])
				}
				if stored[subject] != uid {
					t.Errorf("%s: OK'ed as %s, imapd reads it as %q", subject, uid, stored[subject])
				}
			}
			if n := len(sandbox.SubjectsByGoMbox(t, box)); n < len(given) {
				t.Errorf("go-mbox reads %d messages, fewer than the %d OK'ed", n, len(given))
			}
		})
	}
}

// ttySession runs imapd on a terminal (a pty in raw mode, as someone
// typing at `ssh -t host imapd`), sends an APPEND and a NOOP after it, and
// prints what came back until the NOOP's reply, or TIMEOUT.
const ttySession = `
import os, pty, select, shlex, subprocess, sys, time, tty
master, slave = pty.openpty()
tty.setraw(slave)
p = subprocess.Popen(shlex.split(sys.argv[1]), stdin=slave, stdout=slave, stderr=subprocess.DEVNULL)
os.close(slave)
def until(want):
    got, end = b"", time.time() + 30
    while want not in got:
        r, _, _ = select.select([master], [], [], max(0, end - time.time()))
        if not r:
            print(got.decode(errors="replace"))
            print("TIMEOUT waiting for", want)
            sys.exit(0)
        got += os.read(master, 4096)
    print(got.decode(errors="replace"))
until(b"PREAUTH")
os.write(master, b"a1 APPEND INBOX {16+}\r\nSubject: typed\r\n\r\n")
until(b"a1 OK")
os.write(master, b"a2 LOGOUT\r\n")
until(b"a2 OK")
p.wait()
`

// On a terminal, where no read can be given a deadline, an APPEND's reply
// is not held waiting to learn whether more input is coming: it goes out.
func TestAnAPPENDTypedAtATerminalIsAnsweredWithoutMoreInput(t *testing.T) {
	u := newIMAPUser(t)
	out := u.python(t, ttySession)
	if strings.Contains(out, "TIMEOUT") || !strings.Contains(out, "a1 OK [APPENDUID") {
		t.Fatalf("on a terminal:\n%s\nlog:\n%s", out, u.log())
	}
	if got := u.readMailbox(t); len(got) != 1 || got[0].Subject != "typed" {
		t.Fatalf("mailbox holds %+v", got)
	}
}

// Pipelined APPENDs, their folder held across each run of them, share it
// with dovecot-lda (in both lock orders), procmail and deliver writing at
// the same moment: nobody waits past a short while (a round that does not
// end in time is a deadlock), and every message, APPENDed or delivered,
// is in the file once, the APPENDed ones under the UIDs their replies gave.
func TestPipelinedAPPENDsShareTheFolderWithDovecotLdaProcmailAndDeliver(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	// A big folder takes other paths: UIDs its index alone holds, its
	// base raised in place, X-UIDs written after the peers' mail.
	for _, big := range []bool{false, true} {
		t.Run(fmt.Sprintf("big=%v", big), func(t *testing.T) {
			u := newIMAPUser(t)
			box := pipelineFolder(t, u, big)
			const n, each = 300, 15
			var want []string
			given := map[string]string{}
			for round, order := range []string{"fcntl dotlock", "dotlock fcntl"} {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				writers := peerWriters(ctx, t, u, box, fmt.Sprint(round), order)
				var out string
				want = append(want, deliverRound(ctx, t, u, fmt.Sprintf("round %d (dovecot-lda: %s)", round, order), fmt.Sprintf("round %d", round), writers, each, func() {
					out = u.python(t, pipelineSession, fmt.Sprint(n), "0", "INBOX")
				})...)
				ok := okUIDs(t, out)
				if len(ok) != n+5 {
					t.Fatalf("round %d: %d APPENDs OK'ed, want %d:\n%s\nlog:\n%s", round, len(ok), n+5, out, u.log())
				}
				for subject, uid := range ok {
					given[fmt.Sprintf("%s (round %d)", subject, round)] = uid
				}
				storedAsGiven(t, u, ok)
			}
			got := inFile(t, u, box)
			onceEach(t, got, want)
			for subject := range given {
				// Both rounds' sessions append the same subjects.
				if s := strings.Split(subject, " (round")[0]; got[s] != 2 {
					t.Errorf("%s is in the file %d times, want once a round", s, got[s])
				}
			}
		})
	}
}

// peerWriters are the programs that deliver to the folder at box beside
// imapd, each by name a function delivering one message of the subject
// given: deliver, dovecot-lda taking its locks in order ("fcntl dotlock"
// or "dotlock fcntl"), and, beside dovecot-lda's dot-lock-first order
// only, procmail, given the variable assignments in procmailVars. Beside
// the other order the two deadlock each other without imapd (procmail
// waits for the dot-lock holding its fcntl lock, dovecot-lda the
// reverse). name tells apart the dovecot-lda configurations of a test.
func peerWriters(ctx context.Context, t *testing.T, u *imapUser, box, name, order string, procmailVars ...string) map[string]func(subject string) error {
	t.Helper()
	lda := "/usr/lib/dovecot/dovecot-lda"
	if _, err := os.Stat(lda); err != nil {
		sandbox.NeedPeer(t, "dovecot-lda")
	}
	procmail := sandbox.NeedPeer(t, "procmail")
	home := u.sb.Home(u.name)
	env := []string{"HOME=" + home, "USER=" + u.name, "LOGNAME=" + u.name, "PATH=/usr/bin:/bin"}
	run := func(stdin string, argv ...string) error {
		cmd := u.asUser(exec.CommandContext(ctx, argv[0], argv[1:]...))
		cmd.Env, cmd.Stdin = env, strings.NewReader(stdin)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", argv[0], err, out)
		}
		return nil
	}
	conf := filepath.Join(u.sb.Dir, "lda-"+name+".conf")
	os.WriteFile(conf, []byte("mail_location = mbox:~/dovecot:INBOX="+box+":INDEX=~/dovecot-index\nmbox_write_locks = "+order+"\nmbox_dirty_syncs = no\nmbox_lock_timeout = 60s\nlog_path = "+filepath.Join(home, "lda.log")+"\n"), 0o644)
	writers := map[string]func(subject string) error{
		"lda": func(s string) error {
			return run("From: lda@example.org\nSubject: "+s+"\n\nhello\n", lda, "-c", conf, "-f", "lda@example.org")
		},
		"deliver": func(s string) error {
			if r := u.sb.Run(message(s, "hello\n"), "deliver", u.name); r.Code != 0 {
				return fmt.Errorf("deliver: %d %s", r.Code, r.Stderr)
			}
			return nil
		},
	}
	if order == "dotlock fcntl" {
		writers["procmail"] = func(s string) error {
			args := append([]string{procmail, "-f", "procmail@example.org"}, procmailVars...)
			return run("From: procmail@example.org\nSubject: "+s+"\n\nhello\n", append(args, "DEFAULT="+box)...)
		}
	}
	return writers
}

// deliverRound has each writer deliver count messages (subjects "ROUND
// NAME I"), all at once, each its own one after another, while also runs
// (nil: nothing more). It waits for them all, failing the test as a
// deadlock (named by label) if ctx ends first, and fails for each writer
// that could not deliver. It gives the subjects meant.
func deliverRound(ctx context.Context, t *testing.T, u *imapUser, label, round string, writers map[string]func(subject string) error, count int, also func()) []string {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(writers))
	if also != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			also()
		}()
	}
	var want []string
	for name, deliverOne := range writers {
		var subjects []string
		for i := range count {
			subjects = append(subjects, fmt.Sprintf("%s %s %d", round, name, i))
		}
		want = append(want, subjects...)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, s := range subjects {
				if err := deliverOne(s); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	endsInTime(t, ctx, &wg, u, label)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	return want
}

// appendedAndDeliveredOnce fails unless every APPEND OK'ed in out (as
// okUIDs reads it) is stored under the UID its APPENDUID gave, and each of
// those messages and of the delivered ones is in the file at box once.
// It gives the APPENDs OK'ed.
func appendedAndDeliveredOnce(t *testing.T, u *imapUser, box, out string, delivered []string) map[string]string {
	t.Helper()
	given := okUIDs(t, out)
	storedAsGiven(t, u, given)
	onceEach(t, inFile(t, u, box), append(slices.Collect(maps.Keys(given)), delivered...))
	return given
}

// streamSession pipelines APPENDs (LITERAL+) to INBOX without pause, in
// chunks as fast as imapd takes them, until the file named by its second
// argument exists, or for its third argument's seconds at most. It makes
// the file named by its fourth once the first reply is in, prints each
// APPEND's reply as pipelineSession does, and last "STREAM stopped",
// "STREAM ran out" (the time was up first) or "STREAM cut" (imapd went).
// The file it makes holds imapd's pid.
const streamSession = `
import imaplib, os, re, sys, threading, time
stop, most, started = sys.argv[2], float(sys.argv[3]), sys.argv[4]
M = imaplib.IMAP4_stream("exec " + sys.argv[1])
M.select("INBOX")
def msg(i):
    return ("From: Streamer <s@test.example>\r\nSubject: piped %d\r\n\r\nbody of %d\r\n" % (i, i)).encode()
how = []
def feed():
    end, i = time.time() + most, 0
    try:
        while not os.path.exists(stop):
            if time.time() > end:
                how.append("ran out")
                break
            M.send(b"".join(b"p%d APPEND INBOX {%d+}\r\n%s\r\n" % (k, len(msg(k)), msg(k)) for k in range(i, i + 20)))
            i += 20
        M.send(b"end NOOP\r\n")
    except OSError:
        pass
threading.Thread(target=feed, daemon=True).start()
first = True
while True:
    line = M.readline()
    if not line:
        how.insert(0, "cut")
        break
    if line.startswith(b"end "):
        break
    m = re.match(rb"p(\d+) (OK|NO|BAD)(?: \[APPENDUID (\d+) (\d+)\])?", line)
    if not m:
        continue
    if first:
        with open(started, "w") as f:
            f.write(str(M.process.pid))
        first = False
    print(m.group(2).decode(), m.group(1).decode(), (m.group(3) or b"-").decode(), (m.group(4) or b"-").decode())
print("STREAM", (how or ["stopped"])[0])
if how[:1] != ["cut"]:
    M.logout()
`

// startStream starts streamSession against u's INBOX and waits for its
// first reply. It gives imapd's pid, the file that stops the stream, and
// where its output comes once it ends.
func startStream(t *testing.T, u *imapUser) (int, string, chan string) {
	t.Helper()
	stop := filepath.Join(u.sb.Dir, "stop")
	started := filepath.Join(u.sb.Dir, "started")
	streamed := make(chan string, 1)
	go func() { streamed <- u.python(t, streamSession, stop, "120", started) }()
	for {
		if b, err := os.ReadFile(started); err == nil && len(b) > 0 {
			pid, _ := strconv.Atoi(string(b))
			return pid, stop, streamed
		}
		select {
		case out := <-streamed:
			t.Fatalf("the stream ended before its first reply:\n%s\nlog:\n%s", out, u.log())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// A client that pipelines APPENDs without end does not keep the folder
// from the programs that deliver to it: deliver, dovecot-lda (either lock
// order) and procmail (polling every second: LOCKSLEEP=1) each deliver
// three messages while the stream goes on, and are done before it would
// have ended by itself; every message is in the file once, the APPENDed
// ones under their APPENDUIDs. Before imapd made room, each run of
// APPENDs let the locks go for microseconds and deliver, which polls,
// waited for the end of the stream.
func TestPeersDeliverWhileAClientPipelinesAPPENDsWithoutEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	for _, c := range []struct{ peer, order string }{
		{"deliver", "fcntl dotlock"},
		{"lda", "fcntl dotlock"},
		{"lda", "dotlock fcntl"},
		{"procmail", "dotlock fcntl"},
	} {
		t.Run(c.peer+" "+c.order, func(t *testing.T) {
			u := newIMAPUser(t)
			box := pipelineFolder(t, u, false)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			deliverOne := peerWriters(ctx, t, u, box, "stream", c.order, "LOCKSLEEP=1")[c.peer]
			_, stop, streamed := startStream(t, u)
			var took []time.Duration // for the log: how long each waited
			timed := func(s string) error {
				start := time.Now()
				defer func() { took = append(took, time.Since(start).Round(time.Millisecond)) }()
				return deliverOne(s)
			}
			want := deliverRound(ctx, t, u, c.peer+" beside the stream", "beside the stream", map[string]func(string) error{c.peer: timed}, 3, nil)
			os.WriteFile(stop, nil, 0o644)
			out := <-streamed
			if !strings.Contains(out, "STREAM stopped") {
				t.Fatalf("%s delivered only once the stream ran out:\n%s", c.peer, out[max(0, len(out)-500):])
			}
			given := appendedAndDeliveredOnce(t, u, box, out, want)
			t.Logf("%d APPENDs beside %s, whose deliveries took %v", len(given), c.peer, took)
		})
	}
}

// imapd killed (SIGKILL) while it holds a folder for a run of APPENDs
// leaves its dot-lock behind. dovecot-lda, which would wait two minutes
// for a lock nobody changes (mbox_dotlock_change_timeout; here it gives
// up after one, mbox_lock_timeout), breaks it within seconds by the pid
// in it, which it reads in its own form, PID:HOST; deliver breaks it at
// once. Their mail and every APPEND answered OK are in the file after.
func TestPeersBreakTheDotLockOfAnImapdKilledHoldingTheFolder(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	for _, peer := range []string{"lda", "deliver"} {
		t.Run(peer, func(t *testing.T) {
			u := newIMAPUser(t)
			box := pipelineFolder(t, u, false)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			deliverOne := peerWriters(ctx, t, u, box, "killed", "dotlock fcntl")[peer]
			pid, _, streamed := startStream(t, u)
			// Stopped while it holds the folder between two appends (the
			// lock holds its pid alone, no append record), then killed.
			host, _ := os.Hostname()
			held := false
			for range 5000 {
				syscall.Kill(pid, syscall.SIGSTOP)
				if b, _ := os.ReadFile(box + ".lock"); string(b) == fmt.Sprintf("%d:%s", pid, host) {
					held = true
					break
				}
				syscall.Kill(pid, syscall.SIGCONT)
				time.Sleep(time.Millisecond)
			}
			syscall.Kill(pid, syscall.SIGKILL)
			out := <-streamed
			if !held {
				t.Fatalf("imapd was never caught holding the folder:\n%s", out)
			}
			want := deliverRound(ctx, t, u, peer+" after the kill", "after the kill", map[string]func(string) error{peer: deliverOne}, 1, nil)
			appendedAndDeliveredOnce(t, u, box, out, want)
		})
	}
}
