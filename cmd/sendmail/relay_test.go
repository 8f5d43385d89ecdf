package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"unixmail/internal/sandbox"
)

// farSide is a second MTA for domain b.example; near relays to it.
func twoMTAs(t *testing.T, farAddr string) (near, far *sandbox.Sandbox) {
	far = sandbox.New(t, "bob", "postmaster")
	far.Set("hostname", "b.example")
	near = sandbox.New(t, "alice")
	near.Set("relayhost", "["+strings.Replace(farAddr, ":", "]:", 1), "smtp_tls", "none")
	return near, far
}

func TestMailRelayedToASecondMTAArrives(t *testing.T) {
	addr := sandbox.FreePort(t)
	near, far := twoMTAs(t, addr)
	far.StartDaemon(addr)
	if r := near.Run("To: bob@b.example\nSubject: across\n\nover the wire\n", "sendmail", "-t"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	mb := far.WaitMail("bob", 1)
	mustContain(t, "bob@b.example", mb, "Subject: across", "over the wire", "Return-Path: <alice@test.example>")
	mustContain(t, "near log", near.Log(), "to=<bob@b.example>, relay=127.0.0.1[127.0.0.1]:", "status=sent (250 2.0.0")
}

func TestA550FromTheFarSideBouncesADSNThatPythonReads(t *testing.T) {
	py := sandbox.NeedPeer(t, "python3")
	addr := sandbox.FreePort(t)
	near, far := twoMTAs(t, addr)
	far.StartDaemon(addr)
	r := near.Run("To: nobody@b.example\nSubject: doomed\n\nx\n", "sendmail", "-t")
	if r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	mb := near.WaitMail("alice", 1)
	script := `
import mailbox, sys
msgs = list(mailbox.mbox(sys.argv[1]))
m = msgs[-1]
assert m.get_content_type() == "multipart/report", m.get_content_type()
assert m.get_param("report-type") == "delivery-status"
parts = m.get_payload()
assert parts[1].get_content_type() == "message/delivery-status"
blocks = parts[1].get_payload()
rcpt = blocks[1]
print(rcpt["Final-Recipient"], rcpt["Action"], rcpt["Status"], blocks[0]["Reporting-MTA"])
assert parts[2].get_content_type() == "text/rfc822-headers"
assert "Subject: doomed" in parts[2].get_payload()
`
	out := sandbox.RunCmd(t, exec.Command(py, "-c", script, near.Mailbox("alice")), "")
	if out.Code != 0 {
		t.Fatalf("python: %s\n%s", out.Stderr, mb)
	}
	mustContain(t, "python", out.Stdout, "rfc822; nobody@b.example failed 5.1.1 dns; test.example")
}

func TestFarSideDownDefersAndTheQueueRunDeliversWhenItIsUp(t *testing.T) {
	addr := sandbox.FreePort(t)
	near, far := twoMTAs(t, addr)
	if r := near.Run("Subject: patience\n\nx\n", "sendmail", "bob@b.example"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	mustContain(t, "near log", near.Log(), "status=deferred")
	mustContain(t, "mailq", near.Run("", "sendmail", "-bp").Stdout, "bob@b.example", "(", "1 Request")
	far.StartDaemon(addr)
	if r := near.Run("", "sendmail", "-q"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	mustContain(t, "bob", far.WaitMail("bob", 1), "Subject: patience")
	mustContain(t, "mailq", near.Run("", "sendmail", "-bp").Stdout, "Mail queue is empty")
}

func TestPostfixSmtpSinkReceivesWhatWeRelay(t *testing.T) {
	sink := sandbox.NeedPeer(t, "smtp-sink")
	sb := sandbox.New(t)
	addr := sandbox.FreePort(t)
	sb.Set("relayhost", "["+strings.Replace(addr, ":", "]:", 1), "smtp_tls", "none")
	dump := filepath.Join(sb.Dir, "sink")
	os.Mkdir(dump, 0777)
	cmd := exec.Command(sink, append(sandbox.SmtpSinkUser(), "-d", dump+"/%M.", addr, "10")...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sb.WaitFor("smtp-sink", func() bool {
		_, err := os.Stat(dump)
		return err == nil && strings.Contains(smtpDialogQuiet(addr), "220")
	})
	if r := sb.Run("Subject: to the sink\n\nsunk\n", "sendmail", "someone@far.example"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	mustContain(t, "log", sb.Log(), "to=<someone@far.example>", "status=sent")
	var got string
	sb.WaitFor("the sink's dump", func() bool {
		files, _ := filepath.Glob(filepath.Join(dump, "*"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			got += string(b)
		}
		return strings.Contains(got, "sunk")
	})
	mustContain(t, "sink dump", got, "Subject: to the sink")
}

func smtpDialogQuiet(addr string) string {
	c, err := netDial(addr)
	if err != nil {
		return ""
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	b := make([]byte, 512)
	n, _ := c.Read(b)
	c.Write([]byte("QUIT\r\n"))
	return string(b[:n])
}

func TestKillingTheQueueRunnerMidDeliveryLosesNothing(t *testing.T) {
	sb := sandbox.New(t)
	sb.Set("default_privs", "alice")
	out := filepath.Join(sb.Dir, "out")
	started := filepath.Join(sb.Dir, "started")
	slow := `"|cat >> ` + out + `; touch ` + started + `; sleep 600"`
	sb.WriteFile("aliases", "slow: "+slow+"\n", 0644)
	for _, s := range []string{"one", "two", "three"} {
		if r := sb.Run("Subject: "+s+"\n\nbody "+s+"\n", "sendmail", "-odq", "slow"); r.Code != 0 {
			t.Fatal(r.Stderr)
		}
	}
	runner := sb.Command("sendmail", "-q")
	runner.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := runner.Start(); err != nil {
		t.Fatal(err)
	}
	sb.WaitFor("the first delivery to start", func() bool { _, err := os.Stat(started); return err == nil })
	syscall.Kill(-runner.Process.Pid, syscall.SIGKILL)
	runner.Wait()

	sb.WriteFile("aliases", `slow: "|cat >> `+out+`"`+"\n", 0644)
	if r := sb.Run("", "sendmail", "-q"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	b, _ := os.ReadFile(out)
	got := string(b)
	total := 0
	for _, s := range []string{"one", "two", "three"} {
		n := strings.Count(got, "body "+s+"\n")
		if n == 0 {
			t.Fatalf("message %q was lost:\n%s\nlog:\n%s", s, got, sb.Log())
		}
		total += n
	}
	if total > 4 {
		t.Fatalf("%d deliveries of 3 messages; at most one may repeat:\n%s", total, got)
	}
	mustContain(t, "mailq", sb.Run("", "sendmail", "-bp").Stdout, "Mail queue is empty")
}

func netDial(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, 2*time.Second) }
