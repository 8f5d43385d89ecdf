package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"unixmail/internal/sandbox"
	"unixmail/internal/testbin"
)

// TestASetgidSendmailGivesUpItsGroupForACallersOwnConfiguration: with the
// group a caller could make files in maildrop/ through -o log=..., and
// the queue runner used to stop at them. Now the group goes first, and
// what is there anyway goes to corrupt/ without stopping the rest.
func TestASetgidSendmailGivesUpItsGroupForACallersOwnConfiguration(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("needs root, which CI has")
		}
		t.Skip("needs root to install a setgid binary")
	}
	const group = 65533 // stands in for the unixmail group
	sb := sandbox.New(t)
	if r := sb.Run("", "sendmail", "-q"); r.Code != 0 { // makes the queue
		t.Fatal(r.Stderr)
	}
	spool := filepath.Join(sb.Dir, "spool")
	maildrop := filepath.Join(spool, "maildrop")
	os.Chown(maildrop, 0, group)
	// A setgid copy, as make install leaves it.
	src, err := os.ReadFile(testbin.Path(t, "sendmail"))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(sb.Dir, "sendmail-setgid")
	os.WriteFile(bin, src, 0o755)
	os.Chown(bin, 0, group)
	os.Chmod(bin, 0o755|os.ModeSetgid)
	nobody := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}

	for _, args := range [][]string{
		{"-o", "log=" + filepath.Join(maildrop, "0"), "-bp"},
		{"-C", sb.Conf, "-o", "log=" + filepath.Join(maildrop, "1"), "-bp"},
	} {
		cmd := sb.Command("sendmail", args...)
		cmd.Path, cmd.Args[0] = bin, bin
		cmd.SysProcAttr = nobody
		sandbox.RunCmd(t, cmd, "")
	}
	if ents, _ := os.ReadDir(maildrop); len(ents) != 0 {
		t.Fatalf("an ordinary user's own configuration wrote into maildrop/ with the setgid group: %v", ents)
	}

	// A junk file there anyway is set aside and later mail still flows.
	os.WriteFile(filepath.Join(maildrop, "junk"), []byte("not a queue file\n"), 0o640)
	cmd := sb.Command("sendmail", "bob")
	cmd.SysProcAttr = nobody
	os.Chown(maildrop, 0, 65534) // the caller's group stands in for the setgid one
	if r := sandbox.RunCmd(t, cmd, "Subject: after the junk\n\nx\n"); r.Code != 0 {
		t.Fatalf("submit: %d %s", r.Code, r.Stderr)
	}
	if r := sb.Run("", "sendmail", "-q"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	mustContain(t, "bob", sb.ReadMailbox("bob"), "Subject: after the junk")
	mustContain(t, "log", sb.Log(), "maildrop/junk: not a queue file: moved to corrupt/")
	if _, err := os.Stat(filepath.Join(spool, "corrupt", "maildrop-junk")); err != nil {
		t.Errorf("junk not in corrupt/: %v", err)
	}
	if strings.Contains(sb.Log(), "short queue file") {
		t.Errorf("log:\n%s", sb.Log())
	}
}

// TestAnyUserListsTheQueueWithoutSeeingMessages: active/ is root's, so an
// ordinary user's mailq asks the daemon, as Postfix's showq, and gets the
// envelope listing and nothing of the messages.
func TestAnyUserListsTheQueueWithoutSeeingMessages(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("needs root, which CI has")
		}
		t.Skip("needs root to play an ordinary user")
	}
	sb := sandbox.New(t)
	// Mail for a host that refuses: it stays queued.
	sb.Set("relayhost", "["+strings.Replace(sandbox.FreePort(t), ":", "]:", 1))
	if r := sb.Run("Subject: the secret plan\n\nsecret body\n", "sendmail", "far@remote.example"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	os.Chmod(filepath.Join(sb.Dir, "spool"), 0o755)
	mailq := func() sandbox.Result {
		cmd := sb.Command("sendmail", "-bp")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		return sandbox.RunCmd(t, cmd, "")
	}
	if r := mailq(); r.Code != 69 || !strings.Contains(r.Stderr, "queue report unavailable") {
		t.Errorf("without the daemon: exit %d, %q; want 69 and why", r.Code, r.Stderr)
	}
	sb.StartDaemon("", "-q1h")
	r := mailq()
	if r.Code != 0 {
		t.Fatalf("mailq as nobody: %d %s", r.Code, r.Stderr)
	}
	mustContain(t, "mailq as nobody", r.Stdout, "far@remote.example", "-- 0 Kbytes in 1 Request.")
	if strings.Contains(r.Stdout, "secret") {
		t.Errorf("mailq shows the message:\n%s", r.Stdout)
	}
}

// TestAForwardIncludeOfARootOnlyFileBouncesWithoutQuotingIt: a user's
// .forward names a root-only file; the mail bounces, and neither the
// bounce nor the log carries a byte of the file.
func TestAForwardIncludeOfARootOnlyFileBouncesWithoutQuotingIt(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("needs root, which CI has")
		}
		t.Skip("needs root to read as root")
	}
	sb := sandbox.New(t, "alice")
	sb.AddUser("eve", 60011, 60011)
	secret := sb.WriteFile("shadow", "root:$y$j9T$SECRETHASH:19000:0:99999:7:::\n", 0o600)
	fwd := sb.WriteFile("home/eve/.forward", ":include:"+secret+"\n", 0o600)
	os.Chown(fwd, 60011, 60011)
	if r := sb.Run("Subject: to eve\n\nx\n", "sendmail", "-f", "alice@test.example", "eve"); r.Code != 0 {
		t.Fatalf("sendmail: %d %s", r.Code, r.Stderr)
	}
	bounce := sb.WaitMail("alice", 1)
	mustContain(t, "alice's bounce", bounce, "report-type=delivery-status", ".forward line 1 is not owned by eve")
	for what, text := range map[string]string{"bounce": bounce, "log": sb.Log()} {
		if strings.Contains(text, "SECRETHASH") || strings.Contains(text, "19000") {
			t.Errorf("the %s quotes the root-only file:\n%s", what, text)
		}
	}
}
