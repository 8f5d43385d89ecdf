package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/emersion/go-smtp"

	"unixmail/internal/sandbox"
)

// activeFiles lists the queue files left in a sandbox's active queue.
func activeFiles(t *testing.T, sb *sandbox.Sandbox) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(sb.Dir, "spool", "active"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestALocalMessageIsInTheMailboxWhenSendmailExitsAndLeavesNoQueueFile(t *testing.T) {
	sb := sandbox.New(t)
	if r := sb.Run("Subject: first\n\nhello\n", "sendmail", "-i", "bob"); r.Code != 0 {
		t.Fatalf("sendmail: %d %s", r.Code, r.Stderr)
	}
	// No waiting: delivered (and synced) before the exit status.
	mustContain(t, "bob's mailbox", sb.ReadMailbox("bob"), "Subject: first", "hello", "Delivered-To: bob@test.example")
	if left := activeFiles(t, sb); len(left) != 0 {
		t.Fatalf("queue files left: %v", left)
	}
	mustContain(t, "log", sb.Log(), "to=<bob@test.example>, relay=local", "status=sent (delivered to mailbox)", ": removed")
}

func TestAMailboxThatCannotBeWrittenIsQueuedAndBouncedNotLost(t *testing.T) {
	sb := sandbox.New(t)
	// A directory where bob's mailbox should be: deliver refuses it.
	if err := os.Mkdir(sb.Mailbox("bob"), 0700); err != nil {
		t.Fatal(err)
	}
	if r := sb.Run("Subject: doomed\n\nbody\n", "sendmail", "-i", "-f", "alice@test.example", "bob"); r.Code != 0 {
		t.Fatalf("sendmail: %d %s", r.Code, r.Stderr)
	}
	dsn := sb.ReadMailbox("alice")
	mustContain(t, "alice's bounce", dsn, "report-type=delivery-status", "Final-Recipient: rfc822; bob@test.example", "Subject: doomed")
	log := sb.Log()
	if n := strings.Count(log, "to=<bob@test.example>"); n != 1 {
		t.Errorf("bob's fate logged %d times, want once:\n%s", n, log)
	}
	mustContain(t, "log", log, "status=bounced", "sender non-delivery notification")
	if left := activeFiles(t, sb); len(left) != 0 {
		t.Fatalf("queue files left: %v", left)
	}
}

func TestAMessageToAProgramGoesThroughTheQueueFirst(t *testing.T) {
	sb := sandbox.New(t)
	out := filepath.Join(sb.Dir, "piped")
	sb.WriteFile("aliases", "prog: \"|cat > "+out+"\"\n", 0644)
	sb.Set("default_privs", "alice")
	if r := sb.Run("Subject: to a program\n\nbody\n", "sendmail", "-i", "prog", "bob"); r.Code != 0 {
		t.Fatalf("sendmail: %d %s", r.Code, r.Stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(b), "Subject: to a program") {
		t.Fatalf("program got %q, %v", b, err)
	}
	mustContain(t, "bob's mailbox", sb.ReadMailbox("bob"), "Subject: to a program")
}

func TestTheDaemonAsRootDeliversAsEachUserThroughAKeptDeliverChild(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to deliver as another user")
	}
	sb := sandbox.New(t, "alice")
	sb.AddUser("nemo", 65534, 65534)
	d := sb.StartDaemon("")
	c, err := smtp.Dial(d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 3 {
		msg := fmt.Sprintf("Subject: kept child %d\r\n\r\nbody\r\n", i)
		if err := c.SendMail("alice@test.example", []string{"nemo@test.example"}, strings.NewReader(msg)); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	mb := sb.WaitMail("nemo", 3)
	mustContain(t, "nemo's mailbox", mb, "Subject: kept child 0", "Subject: kept child 2", "Delivered-To: nemo@test.example")
	fi, err := os.Stat(sb.Mailbox("nemo"))
	if err != nil {
		t.Fatal(err)
	}
	if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != 65534 {
		t.Fatalf("nemo's mailbox is owned by uid %d, want 65534", uid)
	}
	// The LMTP reply of deliver -l, not deliver's exit status, said sent.
	mustContain(t, "log", sb.Log(), "to=<nemo@test.example>, relay=local", "status=sent (250 ")
}
