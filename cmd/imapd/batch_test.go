package main

import (
	"os"
	"strings"
	"testing"
)

// streamClass is imaplib's IMAP4_stream on imapd's argument vector (no
// shell between), so that the test can signal imapd itself.
const streamClass = `
import imaplib, os, shlex, signal, subprocess, sys, time, mailbox
argv = shlex.split(sys.argv[1])
class Stream(imaplib.IMAP4_stream):
    def open(self, host=None, port=None, timeout=None):
        self.host, self.port, self.sock, self.file = None, None, None, None
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.writefile, self.readfile = self.process.stdin, self.process.stdout
def flags(M, n):
    M.noop()
    typ, data = M.fetch(n, "(FLAGS)")
    return data[0].decode()
def until(M, n, flag):
    for _ in range(600):
        if flag in flags(M, n):
            return True
        time.sleep(0.1)
    return False
`

func TestTwoImapdProcessesSeeEachOthersBatchedFlagsAfterCHECKAndAfterTheDelay(t *testing.T) {
	u := newIMAPUser(t)
	u.deliver(t, message("one", "1\n"), message("two", "2\n"), message("three", "3\n"))
	out := u.python(t, streamClass+`
A, B = Stream(""), Stream("")
A.select("INBOX"); B.select("INBOX")
size = os.path.getsize(sys.argv[2])
A.store("1", "+FLAGS", r"(\Flagged)")
print("A sees at once:", flags(A, "1"))
A.check()
print("B after CHECK:", r"\Flagged" in flags(B, "1"))
B.store("2", "+FLAGS", r"(\Seen)")
print("A after the delay:", until(A, "2", r"\Seen"))
print("same size:", os.path.getsize(sys.argv[2]) == size)
before = open(sys.argv[2], "rb").read()
C = Stream("")
C.select("INBOX", readonly=True)
C.fetch("3", "(BODY[])")
C.logout()
print("EXAMINE wrote nothing:", open(sys.argv[2], "rb").read() == before)
A.logout(); B.logout()
`, u.mailbox())
	for _, want := range []string{`A sees at once: 1 (FLAGS (\Flagged`, "B after CHECK: True", "A after the delay: True", "same size: True", "EXAMINE wrote nothing: True"} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
}

func TestAKilledSessionLosesAtMostItsBatchAndATerminatedOneWritesIt(t *testing.T) {
	u := newIMAPUser(t)
	u.deliver(t, message("one", "1\n"), message("two", "2\n"), message("three", "3\n"))
	out := u.python(t, streamClass+`
K = Stream("")
K.select("INBOX")
K.store("1", "+FLAGS", r"(\Flagged)")
os.kill(K.process.pid, signal.SIGKILL)
K.process.wait()
box = mailbox.mbox(sys.argv[2], create=False)
print("after SIGKILL:", [m["subject"] for m in box])
T = Stream("")
T.select("INBOX")
T.store("2", "+FLAGS", r"(\Answered)")
os.kill(T.process.pid, signal.SIGTERM)
T.process.wait()
box = mailbox.mbox(sys.argv[2], create=False)
print("after SIGTERM:", [(m["subject"], m["x-status"]) for m in box])
# Written in place at CLOSE, not synced: a SIGKILL after it loses nothing.
W = Stream("")
W.select("INBOX")
W.store("3", "+FLAGS", r"(\Flagged)")
W.close()
os.kill(W.process.pid, signal.SIGKILL)
W.process.wait()
box = mailbox.mbox(sys.argv[2], create=False)
print("after CLOSE and SIGKILL:", [(m["subject"], m["x-status"]) for m in box])
R = Stream("")
R.select("INBOX", readonly=True)
print("seen again:", flags(R, "3"))
R.logout()
`, u.mailbox())
	for _, want := range []string{"after SIGKILL: ['one', 'two', 'three']", "after SIGTERM: [('one', ", "('two', 'A')", "('three', None)",
		"after CLOSE and SIGKILL: [('one', ", "('two', 'A'), ('three', 'F')]", `seen again: 3 (FLAGS (\Flagged`} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	if b, _ := os.ReadFile(u.mailbox()); strings.Count(string(b), "X-Keywords:") != 3 {
		t.Errorf("state fields not padded and kept once each:\n%s", b)
	}
}
