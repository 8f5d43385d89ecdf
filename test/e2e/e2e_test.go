// Package e2e drives the three local programs together, as a shell user
// does: mail hands a message to sendmail, sendmail to deliver, and the
// recipient reads it with mail; real readers we did not write (python3's
// email and mailbox, s-nail) check every step.
package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"

	"unixmail/internal/sandbox"
	"unixmail/internal/testbin"
)

// newSandbox makes alice and bob, each of whose mail goes to our sendmail.
func newSandbox(t *testing.T) *sandbox.Sandbox {
	sb := sandbox.New(t)
	sendmail := testbin.Path(t, "sendmail")
	testbin.Path(t, "deliver") // sendmail finds deliver beside itself
	for _, u := range []string{"alice", "bob"} {
		sb.MailRC(u, "set sendmail="+sendmail)
	}
	return sb
}

func run(t *testing.T, cmd *exec.Cmd, stdin string) sandbox.Result {
	t.Helper()
	r := sandbox.RunCmd(t, cmd, stdin)
	if r.Code != 0 {
		t.Fatalf("%s exited %d\nstdout: %s\nstderr: %s", cmd.Args, r.Code, r.Stdout, r.Stderr)
	}
	return r
}

func TestAMessageWithAnAttachmentTravelsFromMailThroughSendmailToMail(t *testing.T) {
	sb := newSandbox(t)
	run(t, sb.Mail("alice", "-s", "Grüße aus Köln", "-a", "testdata/report.pdf", "bob@test.example"), "Hallo Bob,\nanbei der Bericht.\n")
	sb.WaitMail("bob", 1)

	// python3's email reads the subject and the attachment exactly.
	want, _ := os.ReadFile("testdata/report.pdf")
	sum := sha256.Sum256(want)
	script := `
import mailbox, sys, hashlib, email.policy
box = mailbox.mbox(sys.argv[1], factory=None)
msgs = list(box)
assert len(msgs) == 1, len(msgs)
m = email.message_from_bytes(msgs[0].as_bytes(), policy=email.policy.default)
print(m["Subject"])
print(m.get_body(preferencelist=("plain",)).get_content().strip().splitlines()[0])
for part in m.iter_attachments():
    print(part.get_filename(), hashlib.sha256(part.get_content()).hexdigest())
`
	out, err := exec.Command(sandbox.NeedPeer(t, "python3"), "-c", script, sb.Mailbox("bob")).CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	wantOut := "Grüße aus Köln\nHallo Bob,\nreport.pdf " + hex.EncodeToString(sum[:]) + "\n"
	if string(out) != wantOut {
		t.Fatalf("python3 read\n%s\nwant\n%s", out, wantOut)
	}

	// s-nail lists it with the decoded subject.
	snail := sandbox.NeedPeer(t, "s-nail")
	sout, err := exec.Command(snail, "-:/", "-R", "-H", "-f", sb.Mailbox("bob")).CombinedOutput()
	if err != nil || !strings.Contains(string(sout), "Grüße aus Köln") {
		t.Fatalf("s-nail -H: %v\n%s", err, sout)
	}

	// bob reads it with our mail and sees the text and the attachment listed.
	r := run(t, sb.Mail("bob", "-N"), "p 1\nq\n")
	if !strings.Contains(r.Stdout, "Subject: Grüße aus Köln") || !strings.Contains(r.Stdout, "anbei der Bericht") || !strings.Contains(r.Stdout, "report.pdf") {
		t.Fatalf("mail shows:\n%s", r.Stdout)
	}
}

func TestAReplyFromMailReachesTheSender(t *testing.T) {
	sb := newSandbox(t)
	run(t, sb.Mail("alice", "-s", "lunch?", "bob@test.example"), "Noon?\n")
	sb.WaitMail("bob", 1)
	// r replies to the sender; the body comes from the lines after it, ended by ".".
	run(t, sb.Mail("bob", "-N"), "r 1\nYes, noon.\n.\nq\n")
	sb.WaitMail("alice", 1)
	r := run(t, sb.Mail("alice", "-N"), "p 1\nq\n")
	if !strings.Contains(r.Stdout, "Subject: Re: lunch?") || !strings.Contains(r.Stdout, "Yes, noon.") {
		t.Fatalf("alice sees:\n%s", r.Stdout)
	}
	if !strings.Contains(sb.Log(), "status=sent") {
		t.Fatalf("log:\n%s", sb.Log())
	}
}

func TestCronStyleMailToRootArrivesThroughTheAliases(t *testing.T) {
	sb := newSandbox(t)
	sb.WriteFile("aliases", "root: bob\n", 0o644)
	// what cron runs
	cmd := sb.Command("sendmail", "-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root")
	run(t, cmd, "Subject: Cron <root@host> backup\n\nbackup finished\n")
	sb.WaitMail("bob", 1)
	r := run(t, sb.Mail("bob", "-H"), "")
	if !strings.Contains(r.Stdout, "\"Cron <root@host>") {
		t.Fatalf("mail -H:\n%s", r.Stdout)
	}
}
