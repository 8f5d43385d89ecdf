package main

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
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

func TestTheDaemonAsRootDeliversAsEachUserThroughOneKeptDeliverChildSharedBySessions(t *testing.T) {
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

	// Sessions at once share that one child, each over a connection of
	// its own, and every message is there, whole.
	const sessions, each = 6, 4
	var wg sync.WaitGroup
	errs := make(chan error, sessions*each)
	for s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := smtp.Dial(d.Addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for i := range each {
				msg := fmt.Sprintf("Subject: session %d message %d\r\n\r\nbody\r\n", s, i)
				if err := c.SendMail("alice@test.example", []string{"nemo@test.example"}, strings.NewReader(msg)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mb = sb.WaitMail("nemo", 3+sessions*each)
	for s := range sessions {
		mustContain(t, "nemo's mailbox", mb, fmt.Sprintf("Subject: session %d message %d\n", s, each-1))
	}
	if kids := childrenOf(t, d.Pid(), 65534); len(kids) != 1 {
		t.Errorf("the daemon has %d children running as nemo (%v), want one", len(kids), kids)
	}
}

// childrenOf lists the processes whose parent is pid and whose uid is uid.
func childrenOf(t *testing.T, pid, uid int) []int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/status")
	var kids []int
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		var ppid, ruid, self int
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) >= 2 && f[0] == "PPid:":
				fmt.Sscan(f[1], &ppid)
			case len(f) >= 2 && f[0] == "Uid:":
				fmt.Sscan(f[1], &ruid)
			case len(f) >= 2 && f[0] == "Pid:":
				fmt.Sscan(f[1], &self)
			}
		}
		if ppid == pid && ruid == uid {
			kids = append(kids, self)
		}
	}
	return kids
}

func TestFileAndProgramAliasesRunAsASystemDefaultPrivsBesideAUserDBFile(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	sb := sandbox.New(t) // alice and bob live in a user_db file; me does not
	sb.Set("default_privs", me.Username)
	box, piped := filepath.Join(sb.Dir, "archive.mbox"), filepath.Join(sb.Dir, "piped")
	sb.WriteFile("aliases", "archive: "+box+"\nprog: \"|cat > "+piped+"\"\n", 0644)
	if r := sb.Run("", "sendmail", "-bv", "archive", "prog"); r.Code != 0 || strings.Count(r.Stdout, "deliverable: local") != 2 {
		t.Fatalf("sendmail -bv: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := sb.Run("Subject: to the archive\n\nbody\n", "sendmail", "-oi", "archive", "prog"); r.Code != 0 {
		t.Fatalf("sendmail: %d %s", r.Code, r.Stderr)
	}
	for _, f := range []string{box, piped} {
		b, err := os.ReadFile(f)
		if err != nil || !strings.Contains(string(b), "Subject: to the archive") {
			t.Fatalf("%s holds %q (%v); log:\n%s", f, b, err, sb.Log())
		}
	}
	mustNotContain(t, "log", sb.Log(), "status=bounced", "status=deferred")
}

func TestAnUnknownDefaultPrivsDefersAndSendmailBvSaysSo(t *testing.T) {
	sb := sandbox.New(t)
	sb.Set("default_privs", "u11nosuch")
	box := filepath.Join(sb.Dir, "archive.mbox")
	sb.WriteFile("aliases", "archive: "+box+"\nprog: \"|cat\"\n", 0644)
	for _, rcpt := range []string{"archive", "prog"} {
		r := sb.Run("", "sendmail", "-bv", rcpt)
		if r.Code != 75 {
			t.Errorf("sendmail -bv %s: exit %d, want 75\n%s", rcpt, r.Code, r.Stdout)
		}
		mustContain(t, "sendmail -bv "+rcpt, r.Stdout, "deferred: ", "u11nosuch", "configuration error")
	}
	if r := sb.Run("Subject: held\n\nbody\n", "sendmail", "-oi", "archive", "prog"); r.Code != 0 {
		t.Fatalf("sendmail: %d %s", r.Code, r.Stderr)
	}
	log := sb.Log()
	mustContain(t, "log", log, "dsn=4.3.5, status=deferred", "u11nosuch")
	mustNotContain(t, "log", log, "status=bounced")
	if mb := sb.ReadMailbox("alice"); mb != "" {
		t.Fatalf("the sender got a bounce:\n%s", mb)
	}
	mustContain(t, "mailq", sb.Run("", "sendmail", "-bp").Stdout, "archive.mbox", "u11nosuch")
}

func TestAsRootFilesAndProgramsOfAliasesRunAsNobody(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run as nobody")
	}
	sb := sandbox.New(t)
	dir := filepath.Join(sb.Dir, "nobodys")
	if err := os.Mkdir(dir, 0755); err != nil {
		t.Fatal(err)
	}
	os.Chown(dir, 65534, 65534)
	box, ids := filepath.Join(dir, "archive.mbox"), filepath.Join(dir, "ids")
	sb.WriteFile("aliases", "archive: "+box+"\nprog: \"|id -u > "+ids+"\"\n", 0644)
	if r := sb.Run("Subject: as nobody\n\nbody\n", "sendmail", "-oi", "archive", "prog"); r.Code != 0 {
		t.Fatalf("sendmail: %d %s", r.Code, r.Stderr)
	}
	fi, err := os.Stat(box)
	if err != nil {
		t.Fatalf("%v; log:\n%s", err, sb.Log())
	}
	if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != 65534 {
		t.Fatalf("the archive is owned by uid %d, want 65534 (nobody)", uid)
	}
	if b, _ := os.ReadFile(ids); strings.TrimSpace(string(b)) != "65534" {
		t.Fatalf("the program ran as uid %q, want 65534", b)
	}
}

func TestTheDaemonLogsClientFirstAsPostfixDoes(t *testing.T) {
	sb := sandbox.New(t)
	d := sb.StartDaemon("")
	c, err := smtp.Dial(d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("alice@test.example", []string{"bob@test.example"}, strings.NewReader("Subject: order\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	var id string
	sb.WaitFor("the message to be removed", func() bool {
		m := regexp.MustCompile(`(\w+): removed`).FindStringSubmatch(sb.Log())
		if m != nil {
			id = m[1]
		}
		return m != nil
	})
	var order []string
	for _, l := range strings.Split(sb.Log(), "\n") {
		if _, rest, ok := strings.Cut(l, ": "+id+": "); ok {
			word, _, _ := strings.Cut(rest, "=")
			word, _, _ = strings.Cut(word, " ")
			order = append(order, word)
		}
	}
	if strings.Join(order, " ") != "client from to removed" {
		t.Fatalf("%s's lines come as %q, want client, from, to, removed:\n%s", id, order, sb.Log())
	}
}
