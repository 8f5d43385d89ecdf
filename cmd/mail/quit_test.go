package main

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"unixmail/internal/sandbox"
)

// pyMessages prints each message of an mbox as python's mailbox reads it,
// as its exact bytes in hex, one per line.
const pyMessages = `import mailbox, sys
for m in mailbox.mbox(sys.argv[1]): print(m.as_bytes().hex())`

func pyList(t *testing.T, path string) []string {
	t.Helper()
	py := sandbox.NeedPeer(t, "python3")
	out, err := exec.Command(py, "-c", pyMessages, path).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	return strings.Fields(string(out))
}

func TestDeleteAndQuitKeepsEveryOtherMessageByteIdentical(t *testing.T) {
	sb := sandbox.New(t)
	p := folder(t, t.TempDir(), "five.mbox")
	before := pyList(t, p)
	r := sandbox.RunCmd(t, sb.Mail("bob", "-N", "-f", p), "d 2 4\nq\n")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	after := pyList(t, p)
	want := []string{before[0], before[2], before[4]}
	if strings.Join(after, "\n") != strings.Join(want, "\n") {
		t.Errorf("python reads %d messages; the kept ones changed", len(after))
	}
}

func TestExitLeavesTheFolderUntouchedAndReadOnlyIsNeverWritten(t *testing.T) {
	sb := sandbox.New(t)
	for _, c := range []struct{ args, script string }{{"", "d 1\np 2\nx\n"}, {"-R", "p 2\nq\n"}, {"", "f *\nq\n"}} {
		p := folder(t, t.TempDir(), "five.mbox")
		orig, _ := os.ReadFile(p)
		fi0, _ := os.Stat(p)
		args := append(strings.Fields(c.args), "-N", "-f", p)
		sandbox.RunCmd(t, sb.Mail("bob", args...), c.script)
		now, _ := os.ReadFile(p)
		fi1, _ := os.Stat(p)
		if string(now) != string(orig) || !os.SameFile(fi0, fi1) {
			t.Errorf("%q with %q changed the folder", c.args, c.script)
		}
	}
}

// TestQuitMovesReadMailToMboxUnlessHold follows POSIX: read messages of
// the system mailbox go to ~/mbox at quit; with hold they stay, marked read.
func TestQuitMovesReadMailToMboxUnlessHold(t *testing.T) {
	for _, hold := range []bool{false, true} {
		t.Run(fmt.Sprint("hold=", hold), func(t *testing.T) {
			sb := sandbox.New(t)
			b, _ := os.ReadFile("testdata/five.mbox")
			os.WriteFile(sb.Mailbox("bob"), b, 0o600)
			if hold {
				sb.MailRC("bob", "set hold")
			}
			r := sandbox.RunCmd(t, sb.Mail("bob", "-N"), "p 1\np 3\npreserve 3\nd 5\nq\n")
			if r.Code != 0 {
				t.Fatalf("exit %d: %s", r.Code, r.Stderr)
			}
			box, _ := os.ReadFile(sb.Mailbox("bob"))
			mb, _ := os.ReadFile(filepath.Join(sb.Home("bob"), "mbox"))
			if hold != strings.Contains(string(box), "Plain message one") || hold == strings.Contains(string(mb), "Plain message one") {
				t.Errorf("message 1 in the wrong place:\nmailbox:\n%s\nmbox:\n%s", box, mb)
			}
			if !strings.Contains(string(box), "Schöne") && !strings.Contains(string(box), "Sch=C3=B6ne") {
				t.Errorf("preserved message 3 left the mailbox:\n%s", box)
			}
			if strings.Contains(string(box), "Last message") || strings.Contains(string(mb), "Last message") {
				t.Error("deleted message 5 kept")
			}
			if strings.Count(string(box), "Status: O\n") < 2 {
				t.Errorf("unread messages not marked old:\n%s", box)
			}
		})
	}
}

// TestFlagsWrittenAreMutts reads 1, flags 2 and answers 4 the way the mutt
// fixture did, and compares the state headers with what mutt wrote.
func TestFlagsWrittenAreMutts(t *testing.T) {
	sb := sandbox.New(t)
	b, _ := os.ReadFile("testdata/five.mbox")
	p := sb.Mailbox("bob")
	os.WriteFile(p, b, 0o600)
	sb.FakeSendmail(t, "bob", "0")
	sb.MailRC("bob", "set hold")
	r := sandbox.RunCmd(t, sb.Mail("bob", "-N"), "p 1\nflag 2\nd 3\nReply 4\nok\n~.\nq\n")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	state := func(path string) []string {
		b, _ := os.ReadFile(path)
		var out []string
		for _, msg := range strings.Split(string(b), "\nFrom ")[0:] {
			var st []string
			for _, l := range strings.Split(msg, "\n") {
				if strings.HasPrefix(l, "Status:") || strings.HasPrefix(l, "X-Status:") {
					st = append(st, l)
				}
				if l == "" {
					break
				}
			}
			out = append(out, strings.Join(st, " "))
		}
		return out
	}
	got, want := state(p), state("testdata/mutt-after-quit.mbox")
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("state headers\n got %q\nwant %q (mutt)", got, want)
	}
}

// mailOnFive starts mail on bob's mailbox, testdata/five.mbox, and returns
// once it has read it (its folder line came).
func mailOnFive(t *testing.T, sb *sandbox.Sandbox) (*exec.Cmd, io.WriteCloser, *bufio.Reader) {
	t.Helper()
	b, _ := os.ReadFile("testdata/five.mbox")
	os.WriteFile(sb.Mailbox("bob"), b, 0o600)
	cmd := sb.Mail("bob")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(stdout)
	if line, _ := rd.ReadString('\n'); !strings.Contains(line, "5 messages") {
		t.Fatalf("first line %q", line)
	}
	return cmd, stdin, rd
}

func TestMailDeliveredWhileMailIsOpenSurvivesQuit(t *testing.T) {
	sb := sandbox.New(t)
	cmd, stdin, rd := mailOnFive(t, sb)
	d := sb.Run("From: late@example.org\nSubject: arrived late\n\nhello\n", "deliver", "-f", "late@example.org", "bob")
	if d.Code != 0 {
		t.Fatalf("deliver: %d %s", d.Code, d.Stderr)
	}
	fmt.Fprint(stdin, "d 1\np 2\nnewmail\nq\n")
	stdin.Close()
	rest, _ := bufio.NewReader(rd).ReadString(0)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("mail: %v\n%s", err, rest)
	}
	if !strings.Contains(rest, "arrived late") {
		t.Errorf("newmail did not list the late message:\n%s", rest)
	}
	box, _ := os.ReadFile(sb.Mailbox("bob"))
	if !strings.Contains(string(box), "Subject: arrived late") || strings.Contains(string(box), "Plain message one") {
		t.Errorf("after quit:\n%s", box)
	}
}

// TestAHundredThousandMessagesListInBoundedMemory lists every header of
// a 100,000-message folder with -H and with "from *" in a session. Peak
// RSS is read by GNU time, which starts mail with fork: Go starts a child
// with vfork, and Linux counts the parent's (the test's) RSS in the
// child's ru_maxrss until exec.
func TestAHundredThousandMessagesListInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 30 MB mailbox")
	}
	timeBin := sandbox.NeedPeer(t, "time")
	sb := sandbox.New(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "big.mbox")
	writeBig(t, p, 100000)
	for _, c := range []struct{ name, stdin string }{{"-H", ""}, {"from *", "from *\nx\n"}} {
		args := []string{"-N", "-f", p}
		if c.name == "-H" {
			args = []string{"-H", "-f", p}
		}
		mail := sb.Mail("bob", args...)
		rssFile := filepath.Join(dir, "rss")
		cmd := exec.Command(timeBin, append([]string{"-f", "%M", "-o", rssFile}, mail.Args...)...)
		cmd.Env, cmd.Stdin = mail.Env, strings.NewReader(c.stdin)
		out, err := os.Create(filepath.Join(dir, "out"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout = out
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		fi, _ := out.Stat()
		out.Close()
		b, _ := os.ReadFile(rssFile)
		rss, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatalf("%s: GNU time said %q", c.name, b)
		}
		t.Logf("%s: listed 100000 messages, %d bytes of summary, peak RSS %d KiB", c.name, fi.Size(), rss)
		if rss > 32<<10 {
			t.Errorf("%s: peak RSS %d KiB, want <= 32 MiB", c.name, rss)
		}
		if fi.Size() < 100000*60 {
			t.Errorf("%s: summary too short: %d bytes", c.name, fi.Size())
		}
	}
}

// writeBig writes an mbox of n small messages.
func writeBig(t testing.TB, path string, n int) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range n {
		fmt.Fprintf(w, "From user%d@example.org  Wed Nov 25 17:24:14 2026\nFrom: User %d <user%d@example.org>\nTo: bob@example.org\nSubject: message number %d\nDate: Wed, 25 Nov 2026 17:24:14 +0000\nMessage-ID: <%d@example.org>\n\nHello, this is message %d.\nIt has a few lines of body text.\n\n", i%97, i, i%97, i, i, i)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// Quitting on a full disk: the rewrite cannot be made, so the folder is
// left exactly as it was, mail says so, and no temporary file remains.
func TestQuitOnAFullDiskLeavesTheFolderAsItWas(t *testing.T) {
	disk := sandbox.SmallDisk(t, "64k")
	sb := sandbox.New(t)
	p := folder(t, disk, "five.mbox")
	before, _ := os.ReadFile(p)
	// Fill every free byte.
	filler, _ := os.Create(filepath.Join(disk, "filler"))
	block := make([]byte, 4096)
	for {
		if _, err := filler.Write(block); err != nil {
			break
		}
	}
	filler.Close()
	r := sandbox.RunCmd(t, sb.Mail("bob", "-N", "-f", p), "d 2\nq\n")
	if r.Code == 0 || !strings.Contains(r.Stderr, "no space left") {
		t.Errorf("exit %d, stderr %q: want a failure that names the full disk", r.Code, r.Stderr)
	}
	if after, _ := os.ReadFile(p); string(after) != string(before) {
		t.Fatalf("the folder changed on a full disk")
	}
	entries, _ := os.ReadDir(disk)
	for _, e := range entries {
		if e.Name() != "five.mbox" && e.Name() != "filler" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestAFileThatIsNotAnMboxIsNamedWithWhatItBeginsWithAndLeftAlone(t *testing.T) {
	sb := sandbox.New(t)
	p := filepath.Join(t.TempDir(), "junk")
	junk := "\x00\x9frandom bytes\nFrom x Wed Nov 25 17:24:14 2026\n\nbody\n"
	os.WriteFile(p, []byte(junk), 0o600)
	r := sandbox.RunCmd(t, sb.Mail("bob", "-N", "-f", p), "q\n")
	if r.Code != 66 {
		t.Errorf("exit %d, want 66", r.Code)
	}
	for _, want := range []string{p, "not an mbox file", `it begins "\x00\x9frandom bytes\n`} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr %q does not say %q", r.Stderr, want)
		}
	}
	if b, _ := os.ReadFile(p); string(b) != junk {
		t.Error("the file was changed")
	}
}

// TestQuitFindsItsMessagesAgainAfterAnotherProgramRewroteTheMailbox: while
// mail is open, another program adds a header to message 1 (as
// dovecot-lda does to earlier messages) and removes message 4 (as ipop3d
// does), shifting every offset mail read. At quit mail still moves the
// message read to ~/mbox and deletes the one deleted, keeps the other
// program's header, and says what it could not find.
func TestQuitFindsItsMessagesAgainAfterAnotherProgramRewroteTheMailbox(t *testing.T) {
	sb := sandbox.New(t)
	cmd, stdin, rd := mailOnFive(t, sb)
	b, _ := os.ReadFile("testdata/five.mbox")
	msgs := strings.SplitAfter(string(b), "\n\nFrom ")
	msgs[0] = strings.Replace(msgs[0], "\n", "\nX-Other: added by another program\n", 1)
	rewritten := strings.Join(append(msgs[:3:3], msgs[4:]...), "")
	if err := os.WriteFile(sb.Mailbox("bob"), []byte(rewritten), 0o600); err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(stdin, "p 2\nd 3\nd 4\nq\n")
	stdin.Close()
	rest, _ := bufio.NewReader(rd).ReadString(0)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("mail: %v\n%s", err, rest)
	}
	if !strings.Contains(rest, "1 message had been removed") {
		t.Errorf("mail did not say a message had gone:\n%s", rest)
	}
	subjects := func(path string) []string {
		var s []string
		for _, m := range pyList(t, path) {
			raw, _ := hex.DecodeString(m)
			for _, l := range strings.Split(string(raw), "\n") {
				if strings.HasPrefix(l, "Subject: ") || strings.HasPrefix(l, "X-Other: ") {
					s = append(s, l)
				}
			}
		}
		return s
	}
	box := subjects(sb.Mailbox("bob"))
	want := []string{"X-Other: added by another program", "Subject: Plain message one", "Subject: Last message, to be deleted in some fixtures"}
	if strings.Join(box, "|") != strings.Join(want, "|") {
		t.Errorf("mailbox holds %q, want %q", box, want)
	}
	saved := subjects(filepath.Join(sb.Home("bob"), "mbox"))
	if len(saved) != 1 || saved[0] != "Subject: Body lines that look like From_ lines" {
		t.Errorf("mbox holds %q, want message 2", saved)
	}
}
