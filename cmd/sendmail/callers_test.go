package main

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"unixmail/internal/sandbox"
	"unixmail/internal/testbin"
)

// Postfix's smtp-source, the load generator Postfix's authors test with,
// sends many messages over concurrent sessions; every one must arrive.
func TestSmtpSourceLoadArrivesWhole(t *testing.T) {
	source := sandbox.NeedPeer(t, "smtp-source")
	sb := sandbox.New(t)
	d := sb.StartDaemon("")
	const sessions, messages = 5, 100
	cmd := exec.Command(source, "-s", fmt.Sprint(sessions), "-m", fmt.Sprint(messages), "-l", "2048",
		"-f", "load@test.example", "-t", "bob@test.example", d.Addr)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("smtp-source: %v\n%s", err, out)
	}
	if n := sandbox.CountMessages(sb.WaitMail("bob", messages)); n != messages {
		t.Fatalf("bob has %d messages, want %d", n, messages)
	}
	if n := strings.Count(sb.Log(), "status=sent"); n != messages {
		t.Errorf("the log has %d status=sent lines, want %d", n, messages)
	}
	// Concurrent sessions into one mailbox are committed in groups; python
	// must still find every message whole, each with its one body.
	script := `
import mailbox, sys
msgs = list(mailbox.mbox(sys.argv[1]))
sizes = {len(m.get_payload()) for m in msgs}
print(len(msgs), len(sizes))
`
	out, err := exec.Command(sandbox.NeedPeer(t, "python3"), "-c", script, sb.Mailbox("bob")).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != fmt.Sprintf("%d 1", messages) {
		t.Fatalf("python3 reads %q (%v), want %d messages of one size", out, err, messages)
	}
}

// bsd-mailx (OpenBSD's mail) is what many Debian users type; its sendmail
// variable points it at ours.
func TestBsdMailxSendsWithOurSendmail(t *testing.T) {
	mailx := sandbox.NeedPeer(t, "bsd-mailx")
	sb := sandbox.New(t)
	sb.WriteFile("home/alice/.mailrc", "set sendmail="+testbin.Path(t, "sendmail")+"\n", 0o644)
	cmd := exec.Command(mailx, "-n", "-s", "from bsd-mailx", "bob@test.example")
	cmd.Env = append(sb.Command("sendmail").Env, "HOME="+sb.Home("alice"), "MAILRC="+sb.Home("alice")+"/.mailrc")
	if r := sandbox.RunCmd(t, cmd, "sent by the classic mail\n"); r.Code != 0 {
		t.Fatalf("bsd-mailx exited %d: %s", r.Code, r.Stderr)
	}
	box := sb.WaitMail("bob", 1)
	if !strings.Contains(box, "Subject: from bsd-mailx") || !strings.Contains(box, "sent by the classic mail") {
		t.Fatalf("bob's mailbox:\n%s", box)
	}
}
