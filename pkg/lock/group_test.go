package lock

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

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
