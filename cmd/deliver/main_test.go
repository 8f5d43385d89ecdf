package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"unixmail/internal/sandbox"
	"unixmail/internal/testbin"
)

type pyMessage struct {
	From        string   `json:"from_"`
	Subject     string   `json:"subject"`
	ReturnPath  string   `json:"return_path"`
	DeliveredTo string   `json:"delivered_to"`
	Status      []string `json:"status"`
	XUID        []string `json:"x_uid"`
	XKeywords   []string `json:"x_keywords"`
	Body        string   `json:"body"`
}

// readWithPython parses a mailbox with python3's mailbox and email modules.
func readWithPython(t *testing.T, path string) []pyMessage {
	t.Helper()
	py := sandbox.NeedPeer(t, "python3")
	out, err := exec.Command(py, "testdata/readmbox.py", path).Output()
	if err != nil {
		t.Fatalf("python3 mailbox on %s: %v", path, err)
	}
	var msgs []pyMessage
	if err := json.Unmarshal(out, &msgs); err != nil {
		t.Fatalf("python3 output: %v\n%s", err, out)
	}
	return msgs
}

func message(subject, body string) string {
	return "From: Alice <alice@test.example>\nTo: bob@test.example\nSubject: " + subject + "\n\n" + body
}

func TestDeliveredMailboxIsReadByPythonAndSnail(t *testing.T) {
	sb := sandbox.New(t)
	bodies := []string{
		"plain body\n",
		"From the start of a line\n>From already quoted\n>>From twice\nFrom\n",
		"no final newline",
		"crlf line\r\nanother\r\n",
	}
	for i, body := range bodies {
		r := sb.Run(message(fmt.Sprintf("msg %d", i), body), "deliver", "-f", "alice@test.example", "bob")
		if r.Code != 0 {
			t.Fatalf("deliver %d: exit %d: %s", i, r.Code, r.Stderr)
		}
	}
	msgs := readWithPython(t, sb.Mailbox("bob"))
	if len(msgs) != len(bodies) {
		t.Fatalf("python3 read %d messages, want %d\n%s", len(msgs), len(bodies), sb.ReadMailbox("bob"))
	}
	want := []string{"plain body\n", bodies[1], "no final newline\n", "crlf line\nanother\n"}
	for i, m := range msgs {
		if m.Body != want[i] {
			t.Errorf("message %d body = %q, want %q", i, m.Body, want[i])
		}
		if m.ReturnPath != "<alice@test.example>" || m.DeliveredTo != "bob@test.example" {
			t.Errorf("message %d: Return-Path %q Delivered-To %q", i, m.ReturnPath, m.DeliveredTo)
		}
		if !strings.HasPrefix(m.From, "alice@test.example ") {
			t.Errorf("message %d From_ line %q", i, m.From)
		}
		// The padding kept for flags is one X-Keywords field of no keyword.
		if len(m.XKeywords) != 1 || strings.TrimSpace(m.XKeywords[0]) != "" || len(m.Status) != 0 {
			t.Errorf("message %d: X-Keywords %q Status %q", i, m.XKeywords, m.Status)
		}
	}
	snail := sandbox.NeedPeer(t, "s-nail")
	out, err := exec.Command(snail, "-:/", "-R", "-H", "-f", sb.Mailbox("bob")).CombinedOutput()
	if err != nil {
		t.Fatalf("s-nail: %v\n%s", err, out)
	}
	if got := strings.Count(string(out), "msg "); got != len(bodies) {
		t.Errorf("s-nail lists %d messages:\n%s", got, out)
	}
}

func TestDeliverStripsStateHeadersAndLeadingFromLine(t *testing.T) {
	sb := sandbox.New(t)
	in := "From forged@evil.example Wed Nov 25 17:24:14 2026\n" +
		"Status: RO\nX-Status: D\nx-uid: 7\nX-IMAPbase: 1 99\nX-Keywords: $Junk\nContent-Length: 3\n" +
		"X-IMAP: 1 2\n continued\nSubject: forged state\n\nbody\n"
	if r := sb.Run(in, "deliver", "bob"); r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	got := sb.ReadMailbox("bob")
	for _, h := range []string{"Status:", "X-Status", "x-uid", "X-IMAP", "$Junk", "Content-Length", "continued"} {
		if strings.Contains(got, h) {
			t.Errorf("mailbox still has %q:\n%s", h, got)
		}
	}
	if n := strings.Count(got, "X-Keywords:"); n != 1 || !strings.Contains(got, "\nX-Keywords:"+strings.Repeat(" ", 32)+"\n\nbody") {
		t.Errorf("the sender's X-Keywords is kept, or ours is not the padding:\n%s", got)
	}
	if !strings.HasPrefix(got, "From forged@evil.example ") || !strings.Contains(got, "Return-Path: <forged@evil.example>") {
		t.Errorf("the From_ line's sender was not used:\n%s", got)
	}
}

func TestDeliverToSeveralUsersInOneCall(t *testing.T) {
	sb := sandbox.New(t, "alice", "bob", "carol")
	r := sb.Run(message("to three", "hello\n"), "deliver", "-f", "x@y", "alice", "bob", "carol")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	for _, u := range []string{"alice", "bob", "carol"} {
		msgs := readWithPython(t, sb.Mailbox(u))
		if len(msgs) != 1 || msgs[0].Body != "hello\n" || msgs[0].DeliveredTo != u+"@test.example" {
			t.Errorf("%s: %+v", u, msgs)
		}
	}
	if n := strings.Count(sb.Log(), "status=sent"); n != 3 {
		t.Errorf("log has %d sent lines:\n%s", n, sb.Log())
	}
}

func TestEightConcurrentDeliverersLeaveEveryMessageWhole(t *testing.T) {
	sb := sandbox.New(t)
	const writers, each = 8, 200
	var wg sync.WaitGroup
	errs := make(chan string, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				body := strings.Repeat(fmt.Sprintf("writer %d message %d\n", w, i), 20)
				cmd := sb.Command("deliver", "-f", "load@test.example", "bob")
				r := sandbox.RunCmd(t, cmd, message(fmt.Sprintf("w%d-%d", w, i), body))
				if r.Code != 0 {
					errs <- fmt.Sprintf("writer %d message %d: exit %d: %s", w, i, r.Code, r.Stderr)
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	msgs := readWithPython(t, sb.Mailbox("bob"))
	if len(msgs) != writers*each {
		t.Fatalf("python3 reads %d messages, want %d", len(msgs), writers*each)
	}
	seen := map[string]bool{}
	for _, m := range msgs {
		var w, i int
		fmt.Sscanf(m.Subject, "w%d-%d", &w, &i)
		want := strings.Repeat(fmt.Sprintf("writer %d message %d\n", w, i), 20)
		if m.Body != want || seen[m.Subject] {
			t.Errorf("message %q is damaged or repeated", m.Subject)
		}
		seen[m.Subject] = true
	}
}

func TestDeliverKilledMidMessageLeavesOnlyWholeMessages(t *testing.T) {
	sb := sandbox.New(t)
	if r := sb.Run(message("before", "first\n"), "deliver", "bob"); r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	before := sb.ReadMailbox("bob")

	cmd := sb.Command("deliver", "bob")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(stdin, message("huge", ""))
	line := strings.Repeat("x", 99) + "\n"
	chunk := strings.Repeat(line, 10000) // 1 MB
	// Send 10 MB of a 20 MB message, wait until it is on its way into the
	// mailbox, then kill the deliverer.
	for i := 0; i < 10; i++ {
		io.WriteString(stdin, chunk)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		fi, err := os.Stat(sb.Mailbox("bob"))
		if err == nil && fi.Size() > int64(len(before))+1<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("deliver never started writing")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	stdin.Close()

	if r := sb.Run(message("after", "last\n"), "deliver", "bob"); r.Code != 0 {
		t.Fatalf("delivery after the kill: exit %d: %s", r.Code, r.Stderr)
	}
	got := sb.ReadMailbox("bob")
	if !strings.HasPrefix(got, before) || strings.Contains(got, "xxxx") {
		t.Fatalf("the half-written message was not rolled back (%d bytes)", len(got))
	}
	msgs := readWithPython(t, sb.Mailbox("bob"))
	if len(msgs) != 2 || msgs[0].Subject != "before" || msgs[1].Subject != "after" {
		t.Fatalf("python3 reads %+v", msgs)
	}
	if _, err := os.Stat(sb.Mailbox("bob") + ".lock"); !os.IsNotExist(err) {
		t.Errorf("a lock file is left behind: %v", err)
	}
}

func TestDeliverHittingTheFileSizeLimitExits75AndChangesNothing(t *testing.T) {
	sb := sandbox.New(t)
	if r := sb.Run(message("small", "first\n"), "deliver", "bob"); r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	before := sb.ReadMailbox("bob")
	big := message("big", strings.Repeat(strings.Repeat("y", 99)+"\n", 20000)) // 2 MB
	deliver := sb.Command("deliver", "bob")
	cmd := exec.Command("/bin/sh", "-c", `ulimit -f 1000; exec "$0" "$@"`, deliver.Path, "bob")
	cmd.Env = deliver.Env
	r := sandbox.RunCmd(t, cmd, big)
	if r.Code != 75 {
		t.Fatalf("exit %d, want 75: %s", r.Code, r.Stderr)
	}
	if got := sb.ReadMailbox("bob"); got != before {
		t.Fatalf("mailbox changed: %d bytes, was %d", len(got), len(before))
	}
}

func TestDeliverRefusals(t *testing.T) {
	tests := []struct {
		name     string
		rootOnly bool
		setup    func(t *testing.T, sb *sandbox.Sandbox) string // returns the user
		code     int
		stderr   string
	}{
		{"unknown user", false, func(t *testing.T, sb *sandbox.Sandbox) string { return "nosuchuser" }, 67, "no such user"},
		{"symlinked mailbox", false, func(t *testing.T, sb *sandbox.Sandbox) string {
			target := filepath.Join(sb.Dir, "target")
			os.WriteFile(target, nil, 0600)
			if err := os.Symlink(target, sb.Mailbox("bob")); err != nil {
				t.Fatal(err)
			}
			return "bob"
		}, 77, "symbolic link"},
		{"hard-linked mailbox", false, func(t *testing.T, sb *sandbox.Sandbox) string {
			other := filepath.Join(sb.Dir, "other")
			os.WriteFile(other, nil, 0600)
			if err := os.Link(other, sb.Mailbox("bob")); err != nil {
				t.Fatal(err)
			}
			return "bob"
		}, 77, "hard links"},
		{"mailbox is a directory", false, func(t *testing.T, sb *sandbox.Sandbox) string {
			os.Mkdir(sb.Mailbox("bob"), 0700)
			return "bob"
		}, 77, "not a regular file"},
		{"mailbox owned by someone else", true, func(t *testing.T, sb *sandbox.Sandbox) string {
			os.WriteFile(sb.Mailbox("bob"), nil, 0600)
			os.Chown(sb.Mailbox("bob"), 65534, 65534)
			return "bob"
		}, 77, "owned by uid 65534"},
		{"unwritable home", false, func(t *testing.T, sb *sandbox.Sandbox) string {
			if os.Geteuid() == 0 {
				// root passes permission checks: deliver for a user
				// with another uid, whose home root owns.
				sb.AddUser("nobodyhome", 65534, 65534)
				os.Chown(sb.Home("nobodyhome"), 0, 0)
				os.Chmod(sb.Home("nobodyhome"), 0755)
				return "nobodyhome"
			}
			os.Chmod(sb.Home("bob"), 0555)
			t.Cleanup(func() { os.Chmod(sb.Home("bob"), 0755) })
			return "bob"
		}, 73, "permission denied"},
		{"mailbox that is not an mbox", false, func(t *testing.T, sb *sandbox.Sandbox) string {
			os.WriteFile(sb.Mailbox("bob"), []byte("\x00\x9frandom bytes, not a From_ line\n"), 0600)
			return "bob"
		}, 75, "not an mbox file"},
		{"user with another uid, when not root", false, func(t *testing.T, sb *sandbox.Sandbox) string {
			if os.Geteuid() == 0 {
				t.Skip("root may deliver to anyone")
			}
			sb.AddUser("other", os.Getuid()+1, os.Getgid())
			return "other"
		}, 77, "cannot deliver to other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.rootOnly && os.Geteuid() != 0 {
				t.Skip("needs root to chown")
			}
			sb := sandbox.New(t)
			user := tt.setup(t, sb)
			r := sb.Run(message("refused", "body\n"), "deliver", user)
			if r.Code != tt.code || !strings.Contains(r.Stderr, tt.stderr) {
				t.Fatalf("exit %d (%q), want %d with %q", r.Code, r.Stderr, tt.code, tt.stderr)
			}
			if tt.code == 75 && !strings.Contains(sb.Log(), sb.Mailbox(user)) {
				t.Errorf("the log line does not name %s:\n%s", sb.Mailbox(user), sb.Log())
			}
			if strings.Contains(sb.ReadMailbox(user), "refused") {
				t.Error("something was written")
			}
			if b, _ := os.ReadFile(filepath.Join(sb.Dir, "target")); len(b) > 0 {
				t.Error("the symlink's target was written")
			}
			if !strings.Contains(sb.Log(), "to=<"+user+">") {
				t.Errorf("no log line for %s:\n%s", user, sb.Log())
			}
		})
	}
}

// A user name that begins with "-" would be an option to the programs
// deliver hands it to: it is refused, after "--" as anywhere, and nothing
// is delivered.
func TestDeliverRefusesAUserNameThatLooksLikeAnOption(t *testing.T) {
	for _, args := range [][]string{{"--", "-Cevil"}, {"bob", "-o"}} {
		sb := sandbox.New(t)
		r := sb.Run(message("refused", "body\n"), "deliver", args...)
		if r.Code != 64 || !strings.Contains(r.Stderr, "refusing user name") {
			t.Fatalf("deliver %q: exit %d (%q), want 64 refusing the user name", args, r.Code, r.Stderr)
		}
		if strings.Contains(sb.ReadMailbox("bob"), "refused") {
			t.Fatalf("deliver %q wrote to bob's mailbox", args)
		}
	}
}

func TestDeliverLMTPRepliesOncePerRecipient(t *testing.T) {
	sb := sandbox.New(t, "alice", "bob")
	cmd := sb.Command("deliver", "-l")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	rd := bufio.NewReader(stdout)
	var transcript strings.Builder
	reply := func() string {
		var all string
		for {
			line, err := rd.ReadString('\n')
			transcript.WriteString("S: " + line)
			all += line
			if err != nil || len(line) < 4 || line[3] == ' ' {
				return all
			}
		}
	}
	send := func(s string) {
		transcript.WriteString("C: " + s)
		io.WriteString(stdin, s)
	}
	expect := func(got, prefix string) {
		t.Helper()
		if !strings.HasPrefix(got, prefix) {
			t.Fatalf("got %q, want %s\n%s", got, prefix, transcript.String())
		}
	}
	expect(reply(), "220")
	send("LHLO client.example\r\n")
	expect(reply(), "250")
	send("MAIL FROM:<carol@remote.example>\r\n")
	expect(reply(), "250")
	send("RCPT TO:<alice@test.example>\r\n")
	expect(reply(), "250")
	send("RCPT TO:<nosuch@test.example>\r\n")
	expect(reply(), "550")
	send("RCPT TO:<bob@test.example>\r\n")
	expect(reply(), "250")
	send("DATA\r\n")
	expect(reply(), "354")
	send("Subject: over lmtp\r\n\r\nFrom a body line\r\n..dot stuffed\r\n.\r\n")
	expect(reply(), "250") // alice
	expect(reply(), "250") // bob
	send("QUIT\r\n")
	expect(reply(), "221")
	stdin.Close()
	for _, u := range []string{"alice", "bob"} {
		msgs := readWithPython(t, sb.Mailbox(u))
		if len(msgs) != 1 || msgs[0].Body != "From a body line\n.dot stuffed\n" || msgs[0].ReturnPath != "<carol@remote.example>" || msgs[0].DeliveredTo != u+"@test.example" {
			t.Errorf("%s: %+v\n%s", u, msgs, transcript.String())
		}
	}
}

func TestDeliverOnAFullDiskExits75AndChangesNothing(t *testing.T) {
	disk := sandbox.SmallDisk(t, "64k")
	sb := sandbox.New(t)
	sb.Set("mailbox", filepath.Join(disk, "%u"))
	if r := sb.Run(message("small", "first\n"), "deliver", "bob"); r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	box := filepath.Join(disk, "bob")
	before, _ := os.ReadFile(box)
	r := sb.Run(message("too big", strings.Repeat(strings.Repeat("z", 99)+"\n", 2000)), "deliver", "bob")
	if r.Code != 75 || !strings.Contains(r.Stderr, "no space left") {
		t.Fatalf("exit %d (%s), want 75 for a full disk", r.Code, r.Stderr)
	}
	if after, _ := os.ReadFile(box); string(after) != string(before) {
		t.Fatalf("the mailbox changed: %d bytes, was %d", len(after), len(before))
	}
	if _, err := os.Stat(box + ".lock"); !os.IsNotExist(err) {
		t.Errorf("a lock is left behind: %v", err)
	}
	if !strings.Contains(sb.Log(), "status=deferred") {
		t.Errorf("log:\n%s", sb.Log())
	}
}

// As root, deliver writes through a child running as the user; the child
// must not need the user database, which holds password hashes and may be
// readable by root alone.
func TestRootDeliversAsTheUserWithoutLettingItReadTheUserDatabase(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	sb := sandbox.New(t)
	sb.AddUser("carol", 65534, 65534)
	if err := os.Chmod(filepath.Join(sb.Dir, "passwd"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := sb.Run(message("private db", "hello carol\n"), "deliver", "-f", "x@y", "carol")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(sb.Mailbox("carol"), &st); err != nil || st.Uid != 65534 {
		t.Fatalf("carol's mailbox: %v, owner %d", err, st.Uid)
	}
	if msgs := readWithPython(t, sb.Mailbox("carol")); len(msgs) != 1 || msgs[0].Body != "hello carol\n" || msgs[0].DeliveredTo != "carol@test.example" {
		t.Fatalf("python3 reads %+v", msgs)
	}
	if !strings.Contains(sb.Log(), "to=<carol>") || !strings.Contains(sb.Log(), "status=sent") {
		t.Errorf("log:\n%s", sb.Log())
	}
}

// As root for one user, deliver becomes the user itself rather than
// starting itself again as the user: a copy only root may execute still
// delivers, and the mailbox is the user's. For several users it still
// needs a child per user, which that copy cannot start.
func TestRootBecomesTheOneUserInTheSameProcess(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	sb := sandbox.New(t)
	sb.AddUser("carol", 65534, 65534)
	sb.AddUser("dave", 65534, 65534)
	private := filepath.Join(t.TempDir(), "root-only")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(private, "deliver")
	b, err := os.ReadFile(testbin.Path(t, "deliver"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, b, 0o700); err != nil {
		t.Fatal(err)
	}
	run := func(users ...string) sandbox.Result {
		cmd := sb.Command("deliver", append([]string{"-f", "x@y"}, users...)...)
		cmd.Path = exe
		return sandbox.RunCmd(t, cmd, message("same process", "hello\n"))
	}
	if r := run("carol"); r.Code != 0 {
		t.Fatalf("one user: exit %d: %s", r.Code, r.Stderr)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(sb.Mailbox("carol"), &st); err != nil || st.Uid != 65534 || st.Gid != 65534 {
		t.Fatalf("carol's mailbox: %v, owner %d:%d", err, st.Uid, st.Gid)
	}
	if n := sandbox.CountMessages(sb.ReadMailbox("carol")); n != 1 {
		t.Fatalf("carol's mailbox holds %d messages", n)
	}
	if r := run("carol", "dave"); r.Code != 75 || !strings.Contains(r.Stderr, "permission denied") {
		t.Fatalf("two users through a root-only copy: exit %d: %s", r.Code, r.Stderr)
	}
}

// deliver -l started by systemd's socket activation serves the sessions
// on its socket at once, and every message lands whole.
func TestDeliverLMTPServesSessionsAtOnceOnASocketFromSystemd(t *testing.T) {
	activate := sandbox.NeedPeer(t, "systemd-socket-activate")
	py := sandbox.NeedPeer(t, "python3")
	sb := sandbox.New(t)
	sock := filepath.Join(sb.Dir, "lmtp.sock")
	// It passes on only the environment named with -E.
	cmd := exec.Command(activate, "-l", sock, "-E", "UNIXMAIL_CONF="+sb.Conf, "-E", "TZ=UTC", testbin.Path(t, "deliver"), "-l")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i == 500 {
			t.Fatalf("no socket: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	const sessions, each = 4, 5
	out, err := exec.Command(py, "testdata/lmtpclients.py", sock, fmt.Sprint(sessions), fmt.Sprint(each)).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != fmt.Sprint(sessions*each) {
		t.Fatalf("python3 LMTP clients: %v\n%s\ndeliver: %s", err, out, stderr.String())
	}
	msgs := readWithPython(t, sb.Mailbox("alice"))
	if len(msgs) != sessions*each {
		t.Fatalf("python3 reads %d messages, want %d", len(msgs), sessions*each)
	}
	for _, m := range msgs {
		var s, i int
		if _, err := fmt.Sscanf(m.Subject, "session %d message %d", &s, &i); err != nil || m.Body != fmt.Sprintf("body %d %d\n", s, i) {
			t.Errorf("message %q: body %q", m.Subject, m.Body)
		}
	}
	// Asked to stop, it ends cleanly.
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("deliver -l after SIGTERM: %v: %s", err, stderr.String())
	}
}

// As root with log = FILE (root's, mode 0640), the deliveries done as each
// user are logged by the root parent or through the log it opened: a user
// cannot open that file, and nothing of the log may end up in the error a
// bounce quotes.
func TestRootLogsToItsFileWhileDeliveringAsEachUserAndBouncesCarryNoLogText(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	sb := sandbox.New(t, "alice")
	sb.AddUser("carol", 65534, 65534)
	sb.AddUser("dave", 65534, 65534)
	logFile := filepath.Join(sb.Dir, "maillog")
	if err := os.WriteFile(logFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// dave's mailbox is a symbolic link: refused, exit 77.
	if err := os.Symlink("/etc/passwd", sb.Mailbox("dave")); err != nil {
		t.Fatal(err)
	}
	for _, users := range [][]string{{"carol"}, {"dave"}, {"carol", "dave"}} {
		r := sb.Run(message("logged by root", "x\n"), "deliver", append([]string{"-f", "x@y"}, users...)...)
		if strings.Contains(r.Stderr, "log") || strings.Contains(r.Stderr, "warning") {
			t.Errorf("deliver %v: log text on stderr: %q", users, r.Stderr)
		}
	}
	log := sb.Log()
	if n := strings.Count(log, "to=<carol> mailbox="+sb.Mailbox("carol")); n != 2 {
		t.Errorf("%d lines for carol, want 2:\n%s", n, log)
	}
	if n := strings.Count(log, "warning: to=<dave>"); n != 2 {
		t.Errorf("%d lines for dave, want 2:\n%s", n, log)
	}
	if r := sb.Run("Subject: to dave\n\nx\n", "sendmail", "-oi", "dave"); r.Code != 0 {
		t.Fatalf("sendmail: %d %s", r.Code, r.Stderr)
	}
	bounce := sb.ReadMailbox("alice")
	if !strings.Contains(bounce, "Status: 5.") || strings.Contains(bounce, "warning:") || strings.Contains(bounce, "cannot open log") {
		t.Fatalf("the bounce to alice:\n%s", bounce)
	}
}

// deliver -l runs deliver-lmtp from its own directory; without it there
// it says so and exits 71 (EX_OSERR), so that the MTA retries.
func TestDeliverLMTPWithoutItsProgramBesideItSaysSo(t *testing.T) {
	sb := sandbox.New(t, "alice")
	b, err := os.ReadFile(testbin.Path(t, "deliver"))
	if err != nil {
		t.Fatal(err)
	}
	alone := filepath.Join(t.TempDir(), "deliver")
	if err := os.WriteFile(alone, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := sb.Command("deliver", "-l")
	cmd.Path = alone
	r := sandbox.RunCmd(t, cmd, "LHLO x\r\n")
	if r.Code != 71 || !strings.Contains(r.Stderr, "deliver-lmtp") || r.Stdout != "" {
		t.Fatalf("exit %d, want 71 naming deliver-lmtp\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
	}
}

// A log file deliver cannot open (run as a user, the administrator's
// file) gives way to syslog or nothing, never to standard error, which an
// MTA quotes in a bounce: stderr carries the failure alone.
func TestDeliverWithAnUnopenableLogKeepsLogTextOffStderr(t *testing.T) {
	sb := sandbox.New(t, "alice")
	sb.Set("log", filepath.Join(sb.Dir, "no", "such", "dir", "maillog"))
	tests := []struct {
		name, user string
		code       int
		stderr     string
	}{
		{"a delivery", "alice", 0, ""},
		{"a failed delivery", "nosuchuser", 67, "deliver: nosuchuser: no such user\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := sb.Run(message("unlogged", "x\n"), "deliver", "-f", "x@y", tc.user)
			if r.Code != tc.code || r.Stderr != tc.stderr {
				t.Errorf("exit %d, stderr %q; want %d, %q", r.Code, r.Stderr, tc.code, tc.stderr)
			}
		})
	}
}

// A journal beside a user's mailbox that is not for that file (another
// program renamed a new file over the one a killed rewrite left) is set
// aside, not replayed; the per-user child that finds it tells its root
// parent, which logs it beside the delivery.
func TestRootLogsAJournalItsChildSetAsideForTheUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	sb := sandbox.New(t)
	sb.AddUser("carol", 65534, 65534)
	sb.AddUser("dave", 65534, 65534)
	if r := sb.Run(message("first", "x\n"), "deliver", "-f", "x@y", "carol"); r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	jpath := sb.ForeignJournal(t, "carol", 65534)
	if r := sb.Run(message("second", "y\n"), "deliver", "-f", "x@y", "carol", "dave"); r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	if n := sandbox.CountMessages(sb.ReadMailbox("carol")); n != 2 {
		t.Fatalf("carol's mailbox holds %d messages", n)
	}
	aside, _ := filepath.Glob(jpath + ".unmatched-*")
	if _, err := os.Stat(jpath); err == nil || len(aside) != 1 {
		t.Fatalf("the journal: still there %v, set aside as %v", err == nil, aside)
	}
	if log := sb.Log(); !strings.Contains(log, "warning: to=<carol>") || !strings.Contains(log, aside[0]) {
		t.Fatalf("the log does not say where the journal went:\n%s", log)
	}
}
