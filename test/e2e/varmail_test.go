package e2e

import (
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"unixmail/internal/sandbox"
	"unixmail/internal/testbin"
)

// spoolUser makes (or reuses) a real user with useradd, whose mailbox is
// in /var/mail, and removes what an earlier run left there.
func spoolUser(t *testing.T, name string) *user.User {
	t.Helper()
	if _, err := user.Lookup(name); err != nil {
		var out []byte
		for try := 0; try < 20; try++ {
			if out, err = exec.Command("useradd", "-m", "-s", "/bin/sh", name).CombinedOutput(); err == nil || strings.Contains(string(out), "already exists") {
				break
			}
			time.Sleep(500 * time.Millisecond) // another engineer's useradd holds /etc/passwd
		}
		if err != nil && !strings.Contains(string(out), "already exists") {
			t.Fatalf("useradd %s: %v\n%s", name, err, out)
		}
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/var/mail/" + name, filepath.Join(u.HomeDir, "mbox")} {
		os.Remove(p)
	}
	return u
}

// setgidMailCopy installs a copy of one of our programs setgid mail, as
// make install does, in a directory every user may enter.
func setgidMailCopy(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(testbin.Path(t, name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	mail, err := user.LookupGroup("mail")
	if err != nil {
		t.Fatal(err)
	}
	gid, _ := strconv.Atoi(mail.Gid)
	if err := os.Chown(p, 0, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o755|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	return p
}

// spoolLeftovers lists what is in /var/mail for name besides its mailbox:
// dot-locks, journals, temporary files.
func spoolLeftovers(name string) []string {
	entries, _ := os.ReadDir("/var/mail")
	var left []string
	for _, e := range entries {
		if e.Name() != name && strings.Contains(e.Name(), name) {
			left = append(left, e.Name())
		}
	}
	return left
}

// The Debian spool as it is: /var/mail root:mail 2775, a user made with
// useradd. deliver, run as root, creates the missing mailbox as
// NAME:mail 0600; mail, run as the user, reads, deletes and quits
// (rewriting the file in place, its dot-lock made with the mail group),
// moves what was read to ~/mbox once, and removes the emptied mailbox;
// nothing else is left in /var/mail.
func TestVarMailWorksForAUseraddUser(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("needs root")
		}
		t.Skip("needs root")
	}
	if fi, err := os.Stat("/var/mail"); err != nil || !fi.IsDir() {
		t.Fatalf("/var/mail: %v", err)
	}
	const name = "u7spool"
	u := spoolUser(t, name)
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	box := "/var/mail/" + name
	t.Cleanup(func() { os.Remove(box) })

	dir := t.TempDir()
	for d := dir; d != "/tmp" && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	deliver := setgidMailCopy(t, dir, "deliver")
	mail := setgidMailCopy(t, dir, "mail")
	conf := filepath.Join(dir, "unixmail.conf")
	os.WriteFile(conf, []byte("mailbox = /var/mail/%u\nhostname = test.example\nlog = stderr\n"), 0o644)

	for i, subject := range []string{"first", "second", "third"} {
		cmd := exec.Command(deliver, "-C", conf, "-f", "alice@test.example", name)
		if i == 2 {
			cmd.Args = append(cmd.Args, "root") // two users: through a child per user
		}
		if r := sandbox.RunCmd(t, cmd, "From: alice@test.example\nSubject: "+subject+"\n\nhello\n"); r.Code != 0 {
			t.Fatalf("deliver %s: exit %d: %s", subject, r.Code, r.Stderr)
		}
	}
	os.Remove("/var/mail/root.lock")
	var st syscall.Stat_t
	if err := syscall.Stat(box, &st); err != nil {
		t.Fatal(err)
	}
	mailGroup, _ := user.LookupGroup("mail")
	if strconv.Itoa(int(st.Uid)) != u.Uid || strconv.Itoa(int(st.Gid)) != mailGroup.Gid || st.Mode&0o7777 != 0o600 {
		t.Errorf("%s is %d:%d %o, want %s:mail 0600", box, st.Uid, st.Gid, st.Mode&0o7777, name)
	}
	ino := st.Ino

	runMail := func(script string, code int) sandbox.Result {
		t.Helper()
		cmd := exec.Command(mail, "-C", conf, "-N")
		cmd.Env = []string{"HOME=" + u.HomeDir, "USER=" + name, "LOGNAME=" + name, "PATH=/usr/bin:/bin"}
		cmd.Dir = u.HomeDir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}
		r := sandbox.RunCmd(t, cmd, script)
		if r.Code != code {
			t.Fatalf("mail %q: exit %d: %s", script, r.Code, r.Stderr)
		}
		if left := spoolLeftovers(name); len(left) > 0 {
			t.Errorf("mail %q left %v in /var/mail", script, left)
		}
		return r
	}
	runMail("d 1\nq\n", 0)
	if err := syscall.Stat(box, &st); err != nil || st.Ino != ino {
		t.Fatalf("after quit: %v, inode %d, was %d", err, st.Ino, ino)
	}
	data, _ := os.ReadFile(box)
	if sandbox.CountMessages(string(data)) != 2 || strings.Contains(string(data), "Subject: first") {
		t.Fatalf("after deleting message 1:\n%s", data)
	}
	runMail("p 1\np 2\nq\n", 0)
	if _, err := os.Stat(box); err == nil {
		t.Error("the emptied mailbox was not removed")
	}
	runMail("q\n", 1) // no mail: nothing saved again
	saved, _ := os.ReadFile(filepath.Join(u.HomeDir, "mbox"))
	if n := sandbox.CountMessages(string(saved)); n != 2 || !strings.Contains(string(saved), "Subject: second") {
		t.Errorf("~/mbox holds %d messages, want 2 (second, third):\n%s", n, saved)
	}
}

// ipop3d run as root on the Debian spool, installed setgid mail as make
// install does: it becomes the user after login but keeps the mail group
// for its dot-lock and journal, so poplib's DELE and QUIT rewrite
// /var/mail/NAME in place and leave nothing beside it.
func TestIpop3dDeletesFromVarMailForAUseraddUser(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("needs root")
		}
		t.Skip("needs root")
	}
	const name, password = "u9fpop", "correct horse"
	spoolUser(t, name)
	box := "/var/mail/" + name
	t.Cleanup(func() { os.Remove(box) })
	chpasswd := exec.Command("chpasswd")
	chpasswd.Stdin = strings.NewReader(name + ":" + password + "\n")
	if out, err := chpasswd.CombinedOutput(); err != nil {
		t.Fatalf("chpasswd: %v %s", err, out)
	}

	s := sandbox.New(t)
	for d := s.Dir; d != "/tmp" && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	s.Set("user_db", "system", "mailbox", "/var/mail/%u", "client_auth_failure_delay", "0",
		"daemon_state_dir", filepath.Join(s.Dir, "state"))
	deliver := setgidMailCopy(t, s.Dir, "deliver")
	ipop3d := setgidMailCopy(t, s.Dir, "ipop3d")
	for _, subject := range []string{"first", "second"} {
		cmd := exec.Command(deliver, "-C", s.Conf, "-f", "alice@test.example", name)
		if r := sandbox.RunCmd(t, cmd, "From: alice@test.example\nSubject: "+subject+"\n\nhello\n"); r.Code != 0 {
			t.Fatalf("deliver %s: exit %d: %s", subject, r.Code, r.Stderr)
		}
	}
	var st syscall.Stat_t
	if err := syscall.Stat(box, &st); err != nil {
		t.Fatal(err)
	}
	ino := st.Ino

	addr := sandbox.FreePort(t)
	host, port, _ := net.SplitHostPort(addr)
	sandbox.Background(t, exec.Command(sandbox.NeedPeer(t, "socat"), "TCP-LISTEN:"+port+",bind=127.0.0.1,reuseaddr,fork", "EXEC:"+ipop3d+" -C "+s.Conf+",nofork"))
	s.WaitListening(addr)
	script := `import poplib, sys
p = poplib.POP3(sys.argv[1], int(sys.argv[2]), timeout=30)
p.user(sys.argv[3]); p.pass_(sys.argv[4])
print(p.dele(1).decode()); print(p.quit().decode())`
	out, err := exec.Command(sandbox.NeedPeer(t, "python3"), "-c", script, host, port, name, password).CombinedOutput()
	if err != nil {
		t.Fatalf("poplib: %v\n%s\nlog:\n%s", err, out, s.Log())
	}
	if err := syscall.Stat(box, &st); err != nil || st.Ino != ino {
		t.Fatalf("after QUIT: %v, inode %d, was %d", err, st.Ino, ino)
	}
	data, _ := os.ReadFile(box)
	if sandbox.CountMessages(string(data)) != 1 || strings.Contains(string(data), "Subject: first") || !strings.Contains(string(data), "Subject: second") {
		t.Errorf("after DELE 1 and QUIT, %s holds:\n%s\nlog:\n%s", box, data, s.Log())
	}
	if left := spoolLeftovers(name); len(left) > 0 {
		t.Errorf("ipop3d left %v in /var/mail", left)
	}
}
