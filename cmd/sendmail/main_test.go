package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"unixmail/internal/sandbox"
	"unixmail/internal/testbin"
)

func mustContain(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Fatalf("%s lacks %q:\n%s", what, w, got)
		}
	}
}

func mustNotContain(t *testing.T, what, got string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(got, b) {
			t.Fatalf("%s has %q:\n%s", what, b, got)
		}
	}
}

func TestDashTDeliversToHeaderAndCommandLineRecipientsAndDropsBcc(t *testing.T) {
	sb := sandbox.New(t, "alice", "bob", "carol")
	msg := "To: Bob <bob@test.example>\nBcc: carol\nSubject: t test\n\nhello bob\n"
	r := sb.Run(msg, "sendmail", "-t", "-i", "alice")
	if r.Code != 0 {
		t.Fatalf("sendmail -t: %d %s", r.Code, r.Stderr)
	}
	for _, u := range []string{"alice", "bob", "carol"} {
		mb := sb.ReadMailbox(u)
		mustContain(t, u+"'s mailbox", mb, "Subject: t test", "hello bob", "Delivered-To: "+u+"@test.example",
			"Message-ID: <", "Date: ", `From: "Alice Example" <alice@test.example>`)
		mustNotContain(t, u+"'s mailbox", mb, "Bcc:", "carol\n\n")
	}
	mustContain(t, "log", sb.Log(), "from=<alice@test.example>, size=", "nrcpt=3", "status=sent", ": removed")
}

func TestNoRecipientsExitsUsageWithAClearMessage(t *testing.T) {
	sb := sandbox.New(t)
	for _, args := range [][]string{{}, {"-t"}, {"-oi"}} {
		r := sb.Run("Subject: nobody\n\nx\n", "sendmail", args...)
		if r.Code != 64 || !strings.Contains(r.Stderr, "no recipients") {
			t.Errorf("sendmail %v: exit %d, %q; want 64 and a message", args, r.Code, r.Stderr)
		}
	}
}

func TestAddressesStartingWithDashAreRefused(t *testing.T) {
	sb := sandbox.New(t)
	for _, args := range [][]string{{"--", "-oQ/tmp"}, {"bob", "-X/tmp/log"}, {"-f", "-oQ/tmp", "bob"}} {
		r := sb.Run("Subject: x\n\nx\n", "sendmail", args...)
		if r.Code != 64 {
			t.Errorf("sendmail %v: exit %d, want 64", args, r.Code)
		}
	}
	if sb.ReadMailbox("bob") != "" {
		t.Fatal("a refused message was delivered")
	}
}

func TestLoneDotEndsInputUnlessDashI(t *testing.T) {
	sb := sandbox.New(t)
	in := "Subject: dots\n\nbefore\n.\nafter\n"
	if r := sb.Run(in, "sendmail", "bob"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	if r := sb.Run(in, "sendmail", "-oi", "alice"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	bob, alice := sb.ReadMailbox("bob"), sb.ReadMailbox("alice")
	mustContain(t, "bob", bob, "before")
	mustNotContain(t, "bob", bob, "after")
	mustContain(t, "alice", alice, "before\n.\nafter")
}

func TestFlagsThatCallersPassAreAccepted(t *testing.T) {
	sb := sandbox.New(t)
	calls := [][]string{
		{"-oem", "-oi", "-B8BITMIME", "-N", "failure,delay", "-R", "hdrs", "--", "bob"}, // mutt
		{"-FCronDaemon", "-i", "-B8BITMIME", "-oem", "bob"},                             // cron
		{"-V", "envid-1", "-falice@test.example", "-odi", "-ti", "-m", "-U", "bob"},
		{"-r", "alice", "-F", "Someone Else", "-Ofoo=bar", "-h", "7", "-L", "x", "bob"},
	}
	for i, args := range calls {
		r := sb.Run(fmt.Sprintf("Subject: call %d\n\nx\n", i), "sendmail", args...)
		if r.Code != 0 {
			t.Fatalf("sendmail %v: %d %s", args, r.Code, r.Stderr)
		}
	}
	mb := sb.ReadMailbox("bob")
	if n := sandbox.CountMessages(mb); n != len(calls) {
		t.Fatalf("%d messages, want %d:\n%s", n, len(calls), mb)
	}
	mustContain(t, "bob", mb, `From: "CronDaemon" <alice@test.example>`, `From: "Someone Else" <alice@test.example>`)
}

func TestOdqLeavesTheMessageForTheQueueRunner(t *testing.T) {
	sb := sandbox.New(t)
	if r := sb.Run("Subject: later\n\nx\n", "sendmail", "-odq", "bob"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	q := sb.Run("", "sendmail", "-bp")
	mustContain(t, "mailq", q.Stdout, "alice@test.example", "bob@test.example", "-- 0 Kbytes in 1 Request.")
	mq := sb.Command("sendmail")
	mq.Args[0] = "mailq" // argv[0] decides, as with the installed link
	if r := sandbox.RunCmd(t, mq, ""); r.Stdout != q.Stdout {
		t.Fatalf("mailq differs from -bp:\n%s\n%s", r.Stdout, q.Stdout)
	}
	if sb.ReadMailbox("bob") != "" {
		t.Fatal("-odq delivered at once")
	}
	if r := sb.Run("", "sendmail", "-q"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	mustContain(t, "bob", sb.ReadMailbox("bob"), "Subject: later")
	mustContain(t, "mailq", sb.Run("", "sendmail", "-bp").Stdout, "Mail queue is empty")
}

func TestSwaksPipesToDashBs(t *testing.T) {
	swaks := sandbox.NeedPeer(t, "swaks")
	sb := sandbox.New(t)
	pipe := fmt.Sprintf("%s -bs", testbin.Path(t, "sendmail"))
	cmd := exec.Command(swaks, "--pipe", pipe, "--from", "alice@test.example", "--to", "bob@test.example",
		"--header", "Subject: via swaks pipe", "--body", "swaks body")
	cmd.Env = append(os.Environ(), "UNIXMAIL_CONF="+sb.Conf)
	r := sandbox.RunCmd(t, cmd, "")
	if r.Code != 0 {
		t.Fatalf("swaks: %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	mustContain(t, "swaks", r.Stdout, "250 2.0.0 Ok: queued as")
	mustContain(t, "bob", sb.WaitMail("bob", 1), "Subject: via swaks pipe", "swaks body", "Received: from")
}

func TestSwaksOverTCPToTheDaemon(t *testing.T) {
	swaks := sandbox.NeedPeer(t, "swaks")
	sb := sandbox.New(t)
	d := sb.StartDaemon("")
	cmd := exec.Command(swaks, "--server", "127.0.0.1", "--port", d.Port(), "--from", "alice@elsewhere.example",
		"--to", "bob@test.example", "--header", "Subject: via swaks tcp")
	r := sandbox.RunCmd(t, cmd, "")
	if r.Code != 0 {
		t.Fatalf("swaks: %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	mustContain(t, "bob", sb.WaitMail("bob", 1), "Subject: via swaks tcp", "Return-Path: <alice@elsewhere.example>")
	// Unknown local users are refused at RCPT time.
	cmd = exec.Command(swaks, "--server", "127.0.0.1", "--port", d.Port(), "--from", "alice@elsewhere.example",
		"--to", "nobody-here@test.example")
	r = sandbox.RunCmd(t, cmd, "")
	mustContain(t, "swaks", r.Stdout, "550 5.1.1")
}

func TestPythonSmtplibSendsThroughTheDaemon(t *testing.T) {
	py := sandbox.NeedPeer(t, "python3")
	sb := sandbox.New(t)
	d := sb.StartDaemon("")
	script := `
import smtplib, sys
from email.message import EmailMessage
m = EmailMessage()
m["From"] = "alice@test.example"; m["To"] = "bob@test.example"; m["Subject"] = "smtplib"
m.set_content("caf\u00e9 body\n")
with smtplib.SMTP("127.0.0.1", int(sys.argv[1])) as s:
    s.ehlo()
    assert s.has_extn("pipelining") and s.has_extn("8bitmime") and s.has_extn("size")
    s.send_message(m)
`
	r := sandbox.RunCmd(t, exec.Command(py, "-c", script, d.Port()), "")
	if r.Code != 0 {
		t.Fatalf("python: %s", r.Stderr)
	}
	mustContain(t, "bob", sb.WaitMail("bob", 1), "Subject: smtplib")
}

func TestSnailSendsWithOurSendmail(t *testing.T) {
	snail := sandbox.NeedPeer(t, "s-nail")
	sb := sandbox.New(t)
	cmd := exec.Command(snail, "-:/", "-Smta="+testbin.Path(t, "sendmail"), "-Sexpandaddr", "-s", "from s-nail", "bob@test.example")
	cmd.Env = append(os.Environ(), "UNIXMAIL_CONF="+sb.Conf, "HOME="+sb.Home("alice"))
	r := sandbox.RunCmd(t, cmd, "hello from s-nail\n.\nnot the end\n")
	if r.Code != 0 {
		t.Fatalf("s-nail: %d %s", r.Code, r.Stderr)
	}
	mustContain(t, "bob", sb.ReadMailbox("bob"), "Subject: from s-nail", "hello from s-nail\n.\nnot the end")
}

func TestNewaliasesReportsErrorsByLine(t *testing.T) {
	sb := sandbox.New(t)
	sb.WriteFile("aliases", "# comment\nok: bob\nbroken bob\nbad: \"|unterminated\nfine: alice,\n  bob\n", 0644)
	r := sb.Run("", "sendmail", "-bi")
	if r.Code != 65 {
		t.Fatalf("newaliases: exit %d, want 65", r.Code)
	}
	mustContain(t, "newaliases", r.Stderr, "aliases:3: missing colon", "aliases:4: alias bad: unbalanced")
	na := sb.Command("sendmail")
	na.Args[0] = "newaliases"
	if r2 := sandbox.RunCmd(t, na, ""); r2.Code != 65 {
		t.Fatalf("newaliases by argv[0]: %d", r2.Code)
	}
}

func TestAliasesReachEveryKindOfTarget(t *testing.T) {
	sb := sandbox.New(t, "alice", "bob", "carol")
	sb.Set("default_privs", "alice")
	inc := sb.WriteFile("team.inc", "carol\n# a comment\nbob\n", 0644)
	pipeOut := filepath.Join(sb.Dir, "pipe.out")
	fileOut := filepath.Join(sb.Dir, "archive.mbox")
	sb.WriteFile("aliases", strings.Join([]string{
		"root: bob",
		"postmaster: root",
		"team: :include:" + inc + ", " + fileOut + `, "|cat > ` + pipeOut + `; echo $SENDER >> ` + pipeOut + `"`,
		"self: \\alice, alice",
		"loop1: loop2",
		"loop2: loop1",
		"away: someone@remote.example",
	}, "\n")+"\n", 0644)
	if r := sb.Run("Subject: to root\n\nx\n", "sendmail", "root"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	mustContain(t, "bob", sb.ReadMailbox("bob"), "Subject: to root", "Delivered-To: bob@test.example")
	if r := sb.Run("Subject: to team\n\nteam body\n", "sendmail", "-f", "boss@test.example", "team"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	mustContain(t, "carol", sb.ReadMailbox("carol"), "Subject: to team")
	mustContain(t, "bob", sb.ReadMailbox("bob"), "Subject: to team")
	file, _ := os.ReadFile(fileOut)
	mustContain(t, "file", string(file), "From boss@test.example ", "Subject: to team")
	pipe, _ := os.ReadFile(pipeOut)
	mustContain(t, "pipe", string(pipe), "Subject: to team", "team body", "\nboss@test.example\n")
	if r := sb.Run("Subject: self\n\nx\n", "sendmail", "self"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	if n := sandbox.CountMessages(sb.ReadMailbox("alice")); n != 1 {
		t.Fatalf("self alias: alice has %d messages, want 1", n)
	}
	if r := sb.Run("Subject: loop\n\nx\n", "sendmail", "-f", "carol", "loop1"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	mustContain(t, "log", sb.Log(), "to=<loop1@test.example>", "dsn=5.4.6, status=bounced (mail forwarding loop")
	mustContain(t, "carol's bounce", sb.ReadMailbox("carol"), "Status: 5.4.6", "report-type=delivery-status")
}

func TestForwardIsIgnoredWithAWarningWhenOthersMayWriteIt(t *testing.T) {
	sb := sandbox.New(t, "alice", "bob", "carol")
	fwd := filepath.Join(sb.Home("bob"), ".forward")
	sb.WriteFile("home/bob/.forward", "carol\n", 0644)
	if r := sb.Run("Subject: one\n\nx\n", "sendmail", "bob"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	mustContain(t, "carol", sb.ReadMailbox("carol"), "Subject: one")
	if sb.ReadMailbox("bob") != "" {
		t.Fatal("a good .forward was not followed")
	}
	os.Chmod(fwd, 0664)
	if r := sb.Run("Subject: two\n\nx\n", "sendmail", "bob"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	mustContain(t, "bob", sb.ReadMailbox("bob"), "Subject: two")
	mustContain(t, "log", sb.Log(), "warning: ignoring "+fwd+": group or others may write it (mode 0664)")
	if os.Geteuid() == 0 {
		os.Chmod(fwd, 0644)
		os.Chown(fwd, 65534, 65534)
		if r := sb.Run("Subject: three\n\nx\n", "sendmail", "bob"); r.Code != 0 {
			t.Fatal(r.Stderr)
		}
		mustContain(t, "bob", sb.ReadMailbox("bob"), "Subject: three")
		mustContain(t, "log", sb.Log(), "warning: ignoring "+fwd+": it is owned by uid 65534, not by bob")
	}
	mustNotContain(t, "carol", sb.ReadMailbox("carol"), "Subject: two", "Subject: three")
}

// smtpDialog speaks raw SMTP lines and returns the transcript.
func smtpDialog(t *testing.T, addr string, lines ...string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	var out strings.Builder
	readReply := func() {
		for {
			l, err := br.ReadString('\n')
			out.WriteString(l)
			if err != nil || len(l) < 4 || l[3] != '-' {
				return
			}
		}
	}
	readReply()
	for _, l := range lines {
		fmt.Fprint(c, l)
		if strings.HasSuffix(l, "\r\n") && !strings.HasPrefix(l, "DATA") || l == "DATA\r\n" {
			readReply()
		}
	}
	return out.String()
}

func TestDaemonRefusesRelaySmugglingAndOversize(t *testing.T) {
	sb := sandbox.New(t)
	d := sb.StartDaemon("", "-o", "mynetworks=192.0.2.0/24", "-o", "message_size_limit=2000")
	relay := smtpDialog(t, d.Addr, "EHLO x\r\n", "MAIL FROM:<a@elsewhere.example>\r\n", "RCPT TO:<victim@remote.example>\r\n", "QUIT\r\n")
	mustContain(t, "relay attempt", relay, "554 5.7.1")
	smuggle := smtpDialog(t, d.Addr, "EHLO x\r\n", "MAIL FROM:<a@elsewhere.example>\r\n", "RCPT TO:<bob@test.example>\r\n",
		"DATA\r\n", "Subject: smuggle\r\n\r\nx\n.\nMAIL FROM:<evil@x>\r\n.\r\n", "QUIT\r\n")
	mustContain(t, "smuggling", smuggle, "554 5.5.2")
	big := "Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("x", 70)+"\r\n", 100) + ".\r\n"
	over := smtpDialog(t, d.Addr, "EHLO x\r\n", "MAIL FROM:<a@elsewhere.example>\r\n", "RCPT TO:<bob@test.example>\r\n",
		"DATA\r\n", big, "QUIT\r\n")
	mustContain(t, "oversize", over, "552 ")
	if mb := sb.ReadMailbox("bob"); mb != "" {
		t.Fatalf("refused mail was delivered:\n%s", mb)
	}
	mustContain(t, "mailq", sb.Run("", "sendmail", "-bp").Stdout, "Mail queue is empty")
}

func TestAnUnprivilegedCallerEnqueuesInMaildropAndRootDelivers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to play an unprivileged caller")
	}
	sb := sandbox.New(t)
	if r := sb.Run("", "sendmail", "-q"); r.Code != 0 { // makes the queue
		t.Fatal(r.Stderr)
	}
	spool := filepath.Join(sb.Dir, "spool")
	// What `make install` sets up for a setgid sendmail: maildrop's group
	// is the binary's; here the caller's own group stands in for it.
	os.Chown(filepath.Join(spool, "maildrop"), 0, 65534)
	cmd := sb.Command("sendmail", "bob")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	r := sandbox.RunCmd(t, cmd, "Subject: from nobody\n\nx\n")
	if r.Code != 0 {
		t.Fatalf("unprivileged sendmail: %d %s", r.Code, r.Stderr)
	}
	if sb.ReadMailbox("bob") != "" {
		t.Fatal("an unprivileged caller delivered")
	}
	mustContain(t, "mailq", sb.Run("", "sendmail", "-bp").Stdout, "nobody@test.example", "bob@test.example")
	if r := sb.Run("", "sendmail", "-q"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	mustContain(t, "bob", sb.ReadMailbox("bob"), "Subject: from nobody")
}

func TestTheBodyArrivesByteForByteWithOrWithoutAHeader(t *testing.T) {
	py := sandbox.NeedPeer(t, "python3")
	cases := []struct{ name, in, body string }{
		{"no header at all", "hi\n", "hi\n"},
		{"a header and a blank line", "Subject: x\n\nhi\n", "hi\n"},
		{"a header with no blank line", "Subject: x\nhi there\n", "hi there\n"},
		{"a body starting with a blank line", "Subject: x\n\n\nhi\n", "\nhi\n"},
		{"no header and two lines", "line one\nline two\n", "line one\nline two\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sb := sandbox.New(t)
			if r := sb.Run(c.in, "sendmail", "-oi", "bob"); r.Code != 0 {
				t.Fatal(r.Stderr)
			}
			script := "import mailbox,sys\nsys.stdout.write(mailbox.mbox(sys.argv[1])[0].get_payload())"
			out, err := exec.Command(py, "-c", script, sb.Mailbox("bob")).CombinedOutput()
			if err != nil || string(out) != c.body {
				t.Fatalf("python3 reads the body %q (%v), want %q", out, err, c.body)
			}
		})
	}
}

func TestTheSenderIsTheUserLOGNAMENamesAmongThoseSharingTheCallersUID(t *testing.T) {
	sb := sandbox.New(t, "alice", "bob", "carol") // one uid for all three
	sb.AddUser("nemo", 65534, 65534)
	cases := []struct{ env, want string }{
		{"LOGNAME=bob", `From: "Bob Example" <bob@test.example>`},
		{"USER=bob", `From: "Bob Example" <bob@test.example>`},
		{"LOGNAME=nemo", `From: "Alice Example" <alice@test.example>`}, // not our uid
		{"LOGNAME=", `From: "Alice Example" <alice@test.example>`},
	}
	for i, c := range cases {
		cmd := sb.Command("sendmail", "-oi", "carol")
		cmd.Env = append(cmd.Env, "LOGNAME=", "USER=", c.env)
		if r := sandbox.RunCmd(t, cmd, fmt.Sprintf("Subject: as %d\n\nx\n", i)); r.Code != 0 {
			t.Fatal(r.Stderr)
		}
		msgs := strings.Split(sb.ReadMailbox("carol"), "\nFrom ")
		mustContain(t, c.env+": carol's message", msgs[len(msgs)-1], c.want)
	}
}
