package main

import (
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"

	"unixmail/internal/sandbox"
	"unixmail/internal/testbin"
)

// The layout of README's "Past one machine": a front host runs sendmail
// -bd and hands local mail over LMTP to a store host, where deliver -l
// (started by systemd's socket activation) writes the mailboxes. Two
// network namespaces are the two hosts.
func TestAFrontHostHandsMailOverLMTPToAStoreHostAndKeepsItWhileTheStoreIsDown(t *testing.T) {
	front, store := sandbox.TwoHosts(t, "front", "store")
	activate := sandbox.NeedPeer(t, "systemd-socket-activate")
	py := sandbox.NeedPeer(t, "python3")
	lmtpAddr := store.Addr + ":24"

	storeSB := sandbox.New(t, "alice")
	storeSB.AddUser("bob", 65534, 65534)
	frontSB := sandbox.New(t, "alice", "bob")
	frontSB.Set("mailbox_transport", "lmtp:"+lmtpAddr)

	var storeCmd *exec.Cmd
	var storeErr lockedBuffer
	startStore := func() {
		t.Helper()
		storeErr.Reset()
		storeCmd = store.In(exec.Command(activate, "-l", lmtpAddr,
			"-E", "UNIXMAIL_CONF="+storeSB.Conf, "-E", "TZ=UTC", testbin.Path(t, "deliver"), "-l"))
		storeCmd.Stderr = &storeErr
		if err := storeCmd.Start(); err != nil {
			t.Fatal(err)
		}
		storeSB.WaitFor("the store's socket", func() bool { return strings.Contains(storeErr.String(), "Listening on") })
	}
	stopStore := func() {
		t.Helper()
		storeCmd.Process.Signal(syscall.SIGTERM)
		if err := storeCmd.Wait(); err != nil {
			t.Fatalf("the store's deliver -l: %v\n%s", err, storeErr.String())
		}
	}
	startStore()
	t.Cleanup(func() {
		if storeCmd.ProcessState == nil {
			storeCmd.Process.Kill()
			storeCmd.Wait()
		}
	})

	daemon := front.In(frontSB.Command("sendmail", "-bd", "-o", "smtp_listen=127.0.0.1:25"))
	daemon.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { daemon.Process.Signal(syscall.SIGTERM); daemon.Wait() })
	frontSB.WaitFor("the front's daemon", func() bool { return strings.Contains(frontSB.Log(), "listening on") })

	send := func(subject string) {
		t.Helper()
		script := `
import smtplib, sys
with smtplib.SMTP("127.0.0.1", 25) as c:
    c.sendmail("carol@far.example", ["bob@test.example"], "From: carol@far.example\r\nTo: bob@test.example\r\nSubject: " + sys.argv[1] + "\r\n\r\nfrom the front\r\n")
`
		if out, err := front.In(exec.Command(py, "-c", script, subject)).CombinedOutput(); err != nil {
			t.Fatalf("python3 smtplib to the front: %v\n%s\nfront log:\n%s", err, out, frontSB.Log())
		}
	}

	send("while the store is up")
	mb := storeSB.WaitMail("bob", 1)
	mustContain(t, "bob's mailbox on the store", mb, "Subject: while the store is up", "Delivered-To: bob@test.example")
	mustContain(t, "the front's log", frontSB.Log(), "to=<bob@test.example>, relay="+lmtpAddr, "status=sent (250 ")

	stopStore()
	send("while the store is down")
	frontSB.WaitFor("the front to defer", func() bool { return strings.Contains(frontSB.Log(), "status=deferred") })
	mustContain(t, "the front's queue", frontSB.Run("", "sendmail", "-bp").Stdout, "bob@test.example")
	if n := sandbox.CountMessages(storeSB.ReadMailbox("bob")); n != 1 {
		t.Fatalf("the store holds %d messages for bob while down", n)
	}

	startStore()
	if r := sandbox.RunCmd(t, front.In(frontSB.Command("sendmail", "-q")), ""); r.Code != 0 {
		t.Fatalf("sendmail -q on the front: %d %s", r.Code, r.Stderr)
	}
	mb = storeSB.WaitMail("bob", 2)
	mustContain(t, "bob's mailbox on the store", mb, "Subject: while the store is down")
	mustContain(t, "the front's queue", frontSB.Run("", "sendmail", "-bp").Stdout, "Mail queue is empty")
	if strings.Count(mb, "Subject: while the store is") != 2 {
		t.Errorf("bob's mailbox:\n%s", mb)
	}
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuffer) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
}
