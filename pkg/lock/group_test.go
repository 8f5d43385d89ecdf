package lock

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The helper process's credentials: a user's, with the mail group saved
// as a setgid program run by that user has it.
const (
	helperUID  = 65534
	helperGID  = 65534
	helperMail = 12345 // any group the user is not in
	helperEnv  = "UNIXMAIL_LOCK_GROUP_HELPER"
)

// A setgid program run by a user lends its group to one thread for one
// call: inside fn the calling thread alone has it (and a file made there
// gets it), no other thread does, and afterwards every thread is back to
// the user's group. Credentials are the process's, so this runs in a
// process of its own, started as root and made the user.
func TestWithGroupLendsTheGroupToTheCallingThreadAloneForTheCall(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		groupHelper(t)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root, to start a process with a saved group as a setgid program has")
	}
	// A directory only the mail group may write in, as /var/mail.
	dir := t.TempDir()
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 0, helperMail); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o775); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("helper: %v\n%s", err, out)
	}
}

func groupHelper(t *testing.T) {
	dir := os.Getenv(helperEnv)
	// As a setgid-mail program run by the user: real group the user's,
	// effective and saved the mail group. Becoming the user is the
	// process-wide kind of change (every thread).
	if err := syscall.Setgroups(nil); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setresgid(helperGID, helperMail, helperMail); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setresuid(helperUID, helperUID, helperUID); err != nil {
		t.Fatal(err)
	}
	if err := DropGroup(); err != nil {
		t.Fatal(err)
	}
	// More threads than the runtime's own, each parked on a thread.
	for range 4 {
		go func() {
			runtime.LockOSThread()
			time.Sleep(time.Hour)
		}()
	}
	time.Sleep(50 * time.Millisecond)
	everyThread(t, "after DropGroup", -1, [4]int{helperGID, helperGID, helperMail, helperGID})

	err := WithGroup(func() error {
		everyThread(t, "inside WithGroup", syscall.Gettid(), [4]int{helperGID, helperGID, helperMail, helperGID})
		me := threadGids(t, "thread-self")
		if me != [4]int{helperGID, helperGID, helperMail, helperMail} {
			t.Errorf("inside WithGroup, the calling thread: real, effective, saved, fs group %v", me)
		}
		f, err := os.Create(filepath.Join(dir, "made-with-group"))
		if err != nil {
			return err
		}
		return f.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(dir, "made-with-group"), &st); err != nil || st.Gid != helperMail {
		t.Errorf("file made inside WithGroup: %v, group %d, want %d", err, st.Gid, helperMail)
	}
	everyThread(t, "after WithGroup", -1, [4]int{helperGID, helperGID, helperMail, helperGID})
	if f, err := os.Create(filepath.Join(dir, "made-without")); !errors.Is(err, os.ErrPermission) {
		f.Close()
		t.Errorf("file made after WithGroup in the group's directory: %v, want permission denied", err)
	}
}

// everyThread checks the real, effective, saved and fs group of every
// thread of the process but skip (a tid; -1 for none).
func everyThread(t *testing.T, when string, skip int, want [4]int) {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) < 5 {
		t.Fatalf("%s: only %d threads to check", when, len(tasks))
	}
	for _, task := range tasks {
		if task.Name() == fmt.Sprint(skip) {
			continue
		}
		if got := threadGids(t, "self/task/"+task.Name()); got != want {
			t.Errorf("%s: thread %s has real, effective, saved, fs group %v, want %v", when, task.Name(), got, want)
		}
	}
}

// threadGids reads the Gid line of /proc/<which>/status.
func threadGids(t *testing.T, which string) [4]int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + which + "/status")
	if err != nil {
		t.Fatal(err)
	}
	var g [4]int
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Gid:"); ok {
			if _, err := fmt.Sscan(rest, &g[0], &g[1], &g[2], &g[3]); err != nil {
				t.Fatalf("%s: %q: %v", which, line, err)
			}
			return g
		}
	}
	t.Fatalf("%s: no Gid line", which)
	return g
}
