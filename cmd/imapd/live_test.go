package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"unixmail/internal/sandbox"
)

// numbered is message k of the live tests: every body line names it, and
// the line count differs from message to message, so that bytes of one
// message read at another's offsets never pass for it. fetchChecker in
// python builds the same text.
func numbered(k int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Alice <alice@test.example>\nTo: bob@test.example\nSubject: msg %d\n\n", k)
	for i := range numberedLines(k) {
		fmt.Fprintf(&b, "msg %d line %d\n", k, i)
	}
	return b.String()
}

func numberedLines(k int) int {
	if k%6 == 0 {
		return 8000 + k*37%2000
	}
	return 20 + k%7
}

// fetchChecker is python that checks a FETCH BODY[] answer against
// numbered: check(M, uid) fetches the message with that UID and says what
// came back: "ok K", "gone" (no FETCH response: expunged), or "WRONG ...".
const fetchChecker = `
import imaplib, os, re, shlex, subprocess, sys, time, mailbox
def expected_body(k):
    n = 8000 + k*37%2000 if k % 6 == 0 else 20 + k%7
    return "".join("msg %d line %d\r\n" % (k, i) for i in range(n)).encode()
def check(M, uid):
    typ, data = M.uid("FETCH", str(uid), "(BODY.PEEK[])")
    if typ != "OK":
        return "no " + repr(data)
    lits = [d for d in data if isinstance(d, tuple)]
    if not lits:
        return "gone"
    if len(lits) != 1:
        return "WRONG %d answers" % len(lits)
    head, lit = lits[0]
    m = re.search(rb"UID (\d+)", head)
    if not m or int(m.group(1)) != uid:
        return "WRONG uid in %r" % head
    hdr, sep, body = lit.partition(b"\r\n\r\n")
    s = re.search(rb"(?m)^Subject: msg (\d+)\r?$", hdr)
    if not sep or not s:
        return "WRONG header %r" % lit[:200]
    k = int(s.group(1))
    if body != expected_body(k):
        return "WRONG body of msg %d (uid %d): %r" % (k, uid, body[:120])
    return "ok %d" % k
`

// The fetcher fetches every message's BODY[] again and again, until the
// file named by its second argument exists; a message must always be the
// one its UID named first. It prints a summary and every wrong answer.
const fetcher = fetchChecker + `
M = imaplib.IMAP4_stream(sys.argv[1])
M.select("INBOX")
names, counts = {}, {"ok": 0, "gone": 0, "no": 0, "hangup": 0}
rounds = 0
while not os.path.exists(sys.argv[2]) or rounds < 3:
    rounds += 1
    try:
        M.noop()
        typ, data = M.uid("FETCH", "1:*", "(UID ENVELOPE)")
        for d in data:
            m = re.search(rb'UID (\d+) ENVELOPE \((?:NIL|"[^"]*") "msg (\d+)"', d or b"")
            if not m:
                print("WRONG envelope %r" % d, flush=True)
            elif names.setdefault(int(m.group(1)), int(m.group(2))) != int(m.group(2)):
                print("WRONG envelope of uid %s: msg %s" % (m.group(1), m.group(2)), flush=True)
        typ, data = M.uid("SEARCH", "ALL")
        for uid in [int(u) for u in data[0].split()]:
            r = check(M, uid)
            kind = r.split()[0]
            if kind == "ok":
                k = int(r.split()[1])
                if names.setdefault(uid, k) != k:
                    print("WRONG uid %d was msg %d, now msg %d" % (uid, names[uid], k), flush=True)
            elif kind in counts:
                pass
            else:
                print(r, flush=True)
            counts[kind] = counts.get(kind, 0) + 1
    except imaplib.IMAP4.abort as e:
        # imapd hung up rather than finish a literal it could not send
        # right: a clean failure, the client starts again.
        counts["hangup"] += 1
        M = imaplib.IMAP4_stream(sys.argv[1])
        M.select("INBOX")
print("ROUNDS", rounds, "COUNTS", counts, flush=True)
M.logout()
`

// liveDovecot is a configuration for Dovecot's imap on the user's own
// mailbox (not a copy): its folders and indexes kept apart from ours.
func (u *imapUser) liveDovecot(t *testing.T, extra string) string {
	t.Helper()
	home := u.sb.Home(u.name)
	conf := filepath.Join(u.sb.Dir, "dovecot-live.conf")
	text := "protocols = imap\nssl = no\nmail_location = mbox:~/dovecot:INBOX=" + u.mailbox() + ":INDEX=~/dovecot-index\n" +
		"log_path = " + filepath.Join(home, "dovecot.log") + "\n" + extra
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return conf
}

// dovecotIMAP runs Dovecot's imap pre-authenticated on the live mailbox
// with the given commands and returns its transcript.
func (u *imapUser) dovecotIMAP(t *testing.T, conf string, commands ...string) (string, error) {
	bin := "/usr/lib/dovecot/imap"
	if _, err := os.Stat(bin); err != nil {
		sandbox.NeedPeer(t, "dovecot-imap")
	}
	cmd := u.asUser(exec.Command(bin, "-c", conf))
	cmd.Env = []string{"HOME=" + u.sb.Home(u.name), "USER=" + u.name, "PATH=/usr/bin:/bin"}
	cmd.Stdin = strings.NewReader(strings.Join(commands, "\r\n") + "\r\n")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// A session fetches every message's BODY[] in a loop while mail(1) and
// Dovecot's imap in turn expunge the first message, each rewriting the
// file in place so that every later message moves, and deliver brings
// more. Each answer must be the bytes of the message its UID names, or
// none (expunged), or a hang-up; never another message's bytes, or the
// right message's bytes read at a place another's now hold.
func TestAFetchRacingAnotherProgramsRewriteSendsTheRightMessageOrNothing(t *testing.T) {
	newIMAPUser(t).raceRewrites(t, fetcher, 70)
}

// raceRewrites delivers n numbered messages and runs a python script (the
// imapd command line and a file to stop at as its arguments) while
// rewriteRounds rewrites the mailbox 60 times: the script must finish and
// say nothing WRONG, and the mailbox then hold n messages.
func (u *imapUser) raceRewrites(t *testing.T, script string, n int) {
	t.Helper()
	for k := 1; k <= n; k++ {
		u.deliver(t, numbered(k))
	}
	conf := u.liveDovecot(t, "")
	py := sandbox.NeedPeer(t, "python3")
	stop := filepath.Join(t.TempDir(), "stop")
	cmd := exec.Command(py, "-c", script, u.imapdCommand(), stop)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	u.rewriteRounds(t, conf, n+1, 60)
	os.WriteFile(stop, nil, 0o644)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("python: %v\n%s\nlog:\n%s", err, out.String(), u.log())
	}
	t.Log(strings.TrimSpace(out.String()))
	if strings.Contains(out.String(), "WRONG") || !strings.Contains(out.String(), "COUNTS") {
		t.Fatalf("wrong bytes sent or copied:\n%s", out.String())
	}
	if got := len(u.readMailbox(t)); got != n {
		t.Errorf("the mailbox holds %d messages, want %d", got, n)
	}
}

// rewriteRounds delivers message first+r, then has mail(1) or Dovecot's
// imap in turn expunge the first message, rewriting the file in place so
// that every later message moves; for r from 0 to rounds.
func (u *imapUser) rewriteRounds(t *testing.T, conf string, first, rounds int) {
	t.Helper()
	for r := range rounds {
		u.deliver(t, numbered(first+r))
		if r%2 == 0 {
			mail := u.asUser(u.sb.Command("mail", "-n", "-N", "-f", u.mailbox()))
			mail.Env = append(mail.Env, "HOME="+u.sb.Home(u.name), "LOGNAME="+u.name)
			if res := sandbox.RunCmd(t, mail, "d 1\nq\n"); res.Code != 0 {
				t.Errorf("mail: %d %s", res.Code, res.Stderr)
			}
		} else if tr, err := u.dovecotIMAP(t, conf, `a SELECT INBOX`, `b STORE 1 +FLAGS (\Deleted)`, `c EXPUNGE`, `d LOGOUT`); err != nil || !strings.Contains(tr, "c OK") {
			t.Errorf("dovecot: %v\n%s", err, tr)
		}
	}
}

// A client that goes away in the middle of a big message's literal (a
// phone losing its network) ends its imapd: the write fails, the response
// is let go, and the process exits, its flag changes written; it does not
// linger, holding the library's writer, for ever.
func TestImapdExitsWhenItsClientGoesAwayInTheMiddleOfALiteral(t *testing.T) {
	u := newIMAPUser(t)
	u.deliver(t, message("small", "1\n"), message("big", strings.Repeat("a line of a big message\n", 400000)))
	out := u.python(t, streamClass+`
S = Stream("")
S.select("INBOX")
S.store("1", "+FLAGS", r"(\Flagged)")
S.send(b"f1 FETCH 2 (BODY.PEEK[])\r\n")
S.readfile.read(4096)
S.readfile.close(); S.writefile.close()
try:
    S.process.wait(timeout=120)
    print("exited")
except subprocess.TimeoutExpired:
    S.process.kill()
    print("still running")
box = mailbox.mbox(sys.argv[2], create=False)
print("flags:", box[0]["x-status"])
`, u.mailbox())
	if !strings.Contains(out, "exited") || !strings.Contains(out, "flags: F") {
		t.Fatalf("after the client went away:\n%s\nlog:\n%s", out, u.log())
	}
}

// The copier copies every message of INBOX to Copies again and again,
// until the file named by its second argument exists, and checks each
// copy through a second session on Copies: the copy COPYUID names must be
// the message its source UID named, whole. Every third round it also
// moves a message to Copies and back. It prints a summary and every
// wrong copy.
const copier = fetchChecker + `
import functools
expected_body = functools.lru_cache(None)(expected_body)
def uids(s):
    out = []
    for r in s.split(b","):
        a, _, b = r.partition(b":")
        out += list(range(int(a), int(b or a) + 1))
    return out
def session(name):
    S = imaplib.IMAP4_stream(sys.argv[1])
    S.select(name)
    return S
def copyuid(S, typ):
    codes = S.response("COPYUID")[1]
    if typ != "OK" or not codes or codes[-1] is None:
        return []
    v, src, dst = codes[-1].split()
    return list(zip(uids(src), uids(dst)))
M = imaplib.IMAP4_stream(sys.argv[1])
M.create("Copies")
M.select("INBOX")
C = session("Copies")
names, counts = {}, {"copied": 0, "moved": 0, "no": 0, "hangup": 0}
def name(uid):
    if uid not in names:
        r = check(M, uid)
        if r.startswith("ok "):
            names[uid] = int(r.split()[1])
    return names.get(uid)
def verify(pairs, what):
    C.noop()
    for src, dst in pairs:
        r = check(C, dst)
        if not r.startswith("ok ") or int(r.split()[1]) != name(src):
            print("WRONG %s of uid %d (msg %s) as %d: %s" % (what, src, name(src), dst, r), flush=True)
rounds = 0
while not os.path.exists(sys.argv[2]) or rounds < 3:
    rounds += 1
    try:
        M.noop()
        typ, data = M.uid("SEARCH", "ALL")
        for uid in [int(u) for u in data[0].split()]:
            name(uid)
        M.response("COPYUID")
        typ, data = M.uid("COPY", "1:*", "Copies")
        pairs = copyuid(M, typ)
        if typ != "OK":
            counts["no"] += 1
            print("NO", data, flush=True)
            continue
        verify(pairs, "copy")
        counts["copied"] += len(pairs)
        if pairs:
            C.uid("STORE", ",".join(str(d) for _, d in pairs), "+FLAGS.SILENT", r"(\Deleted)")
            C.expunge()
        if rounds % 3 == 0:
            typ, data = M.uid("MOVE", str(max(names)), "Copies")
            pairs = copyuid(M, typ)
            if typ != "OK":
                counts["no"] += 1
                continue
            verify(pairs, "move")
            counts["moved"] += len(pairs)
            for _, dst in pairs:
                typ, data = C.uid("MOVE", str(dst), "INBOX")
                if typ != "OK":
                    print("WRONG: the move back failed", data, flush=True)
    except imaplib.IMAP4.abort as e:
        counts["hangup"] += 1
        M, C = session("INBOX"), session("Copies")
print("ROUNDS", rounds, "COUNTS", counts, flush=True)
M.logout()
`

// A session copies every message of INBOX to another folder in a loop,
// and now and then moves one there and back, while mail(1) and Dovecot's
// imap in turn expunge the first message of INBOX, each rewriting the file
// in place so that every later message moves, and deliver brings more.
// Each copy must be the whole message its source UID names, or the
// command must fail; never another message's bytes, or a torn message.
func TestACopyRacingAnotherProgramsRewriteCopiesTheRightMessagesOrFails(t *testing.T) {
	newIMAPUser(t).raceRewrites(t, copier, 30)
}
