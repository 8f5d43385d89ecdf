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

	"unixmail/internal/threadcreds"
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
	threadcreds.Park(4)
	everyThread(t, "after DropGroup", -1, [4]int{helperGID, helperGID, helperMail, helperGID})

	err := WithGroup(func() error {
		everyThread(t, "inside WithGroup", syscall.Gettid(), [4]int{helperGID, helperGID, helperMail, helperGID})
		me := threadcreds.Of(t, "thread-self").GID
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
	threadcreds.Every(t, skip, func(tid string, got threadcreds.Creds) {
		if got.GID != want {
			t.Errorf("%s: thread %s has real, effective, saved, fs group %v, want %v", when, tid, got.GID, want)
		}
	})
}

// lendOwnGroup makes WithGroup lend the group the test already has (no
// root needed, nothing changes hands), its setfsgid calls going through
// fake.
func lendOwnGroup(t *testing.T, fake func(gid int) (int, error)) {
	t.Helper()
	g, f := mailGid, setfsgidOn
	t.Cleanup(func() { mailGid, setfsgidOn = g, f })
	mailGid, setfsgidOn = os.Getegid(), fake
}

// threadGone waits until the thread tid of this process has ended, and
// reports false if it is still there after a generous while. The main
// thread, which the runtime cannot end, is parked for good instead: it
// counts as gone.
func threadGone(tid int) bool {
	if tid == os.Getpid() {
		return true
	}
	for range 1000 {
		if _, err := os.Stat(fmt.Sprintf("/proc/self/task/%d", tid)); errors.Is(err, os.ErrNotExist) {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

func TestAThreadThatCannotGiveTheGroupBackEndsAndTheCallerNeverRunsOnIt(t *testing.T) {
	calls := 0
	lendOwnGroup(t, func(gid int) (int, error) {
		if calls++; calls == 2 {
			return gid, errors.New("the thread's group stays the mail group")
		}
		return setfsgid(gid)
	})
	var tid int
	err := WithGroup(func() error {
		tid = syscall.Gettid()
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "give back group") {
		t.Fatalf("WithGroup: %v, want the failure to give the group back", err)
	}
	// The caller goes on on another thread.
	runtime.LockOSThread()
	me := syscall.Gettid()
	runtime.UnlockOSThread()
	if me == tid {
		t.Fatalf("the caller runs on thread %d, which kept the mail group", tid)
	}
	if !threadGone(tid) {
		t.Fatalf("thread %d, which kept the mail group, is still there", tid)
	}
}

func TestWithGroupGivesTheGroupBackBeforeAPanicInTheCallReachesTheCaller(t *testing.T) {
	var gave []int
	lendOwnGroup(t, func(gid int) (int, error) {
		gave = append(gave, gid)
		return setfsgid(gid)
	})
	defer func() {
		if p := recover(); p != "boom" {
			t.Fatalf("recovered %v, want the call's panic", p)
		}
		if len(gave) != 2 {
			t.Fatalf("setfsgid called with %v: the group was not given back", gave)
		}
	}()
	WithGroup(func() error { panic("boom") })
	t.Fatal("WithGroup returned after a panic in the call")
}
