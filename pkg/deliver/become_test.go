package deliver

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"unixmail/pkg/lock"
	"unixmail/pkg/userdb"
)

const becomeHelperEnv = "UNIXMAIL_BECOME_HELPER"

// mailGroup stands for the group a setgid deliver is installed with.
const mailGroup = 12345

// Root becoming the one user changes every thread of the process, not
// only the one that asked: after become, each thread has the user's uid
// and gid (real, effective, saved, fs) and no supplementary group. A
// deliver installed setgid mail keeps the mail group as the saved one
// alone, and still lends it to one thread at a time for a dot-lock.
// Credentials are the process's, so each case runs in a process of its
// own, started as root.
func TestBecomeChangesEveryThreadOfTheProcess(t *testing.T) {
	if mode := os.Getenv(becomeHelperEnv); mode != "" {
		becomeHelper(t, mode == "setgid")
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, mode := range []string{"plain", "setgid"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBecomeChangesEveryThreadOfTheProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), becomeHelperEnv+"="+mode)
			if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "PASS") {
				t.Fatalf("helper: %v\n%s", err, out)
			}
		})
	}
}

func becomeHelper(t *testing.T, setgid bool) {
	// Root has supplementary groups to lose.
	if err := syscall.Setgroups([]int{0, 1, 2}); err != nil {
		t.Fatal(err)
	}
	savedGid := 65534
	if setgid {
		// As root starting a deliver installed setgid mail.
		if err := syscall.Setresgid(0, mailGroup, mailGroup); err != nil {
			t.Fatal(err)
		}
		if err := lock.DropGroup(); err != nil {
			t.Fatal(err)
		}
		savedGid = mailGroup
	}
	// More threads than the runtime's own, each parked on a thread.
	for range 4 {
		go func() {
			runtime.LockOSThread()
			time.Sleep(time.Hour)
		}()
	}
	time.Sleep(50 * time.Millisecond)
	if err := become(&userdb.User{Name: "nobody", UID: 65534, GID: 65534}); err != nil {
		t.Fatal(err)
	}
	want := threadCreds{uid: [4]int{65534, 65534, 65534, 65534}, gid: [4]int{65534, 65534, savedGid, 65534}}
	checkEveryThread(t, "after become", -1, want)
	if !setgid {
		return
	}
	err := lock.WithGroup(func() error {
		checkEveryThread(t, "inside WithGroup", syscall.Gettid(), want)
		lent := want
		lent.gid[3] = mailGroup
		if got := readCreds(t, "thread-self"); got != lent {
			t.Errorf("inside WithGroup, the calling thread has %+v, want %+v", got, lent)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	checkEveryThread(t, "after WithGroup", -1, want)
}

// threadCreds are a thread's real, effective, saved and fs uid and gid,
// and its supplementary groups, as /proc shows them.
type threadCreds struct {
	uid, gid [4]int
	groups   string
}

// checkEveryThread checks every thread of the process but skip (a tid;
// -1 for none).
func checkEveryThread(t *testing.T, when string, skip int, want threadCreds) {
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
		if got := readCreds(t, "self/task/"+task.Name()); got != want {
			t.Errorf("%s: thread %s has %+v, want %+v", when, task.Name(), got, want)
		}
	}
}

func readCreds(t *testing.T, which string) threadCreds {
	t.Helper()
	b, err := os.ReadFile("/proc/" + which + "/status")
	if err != nil {
		t.Fatal(err)
	}
	var c threadCreds
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, _ := strings.Cut(line, ":")
		switch name {
		case "Uid":
			_, err = fmt.Sscan(rest, &c.uid[0], &c.uid[1], &c.uid[2], &c.uid[3])
		case "Gid":
			_, err = fmt.Sscan(rest, &c.gid[0], &c.gid[1], &c.gid[2], &c.gid[3])
		case "Groups":
			c.groups = strings.TrimSpace(rest)
		}
		if err != nil {
			t.Fatalf("%s: %q: %v", which, line, err)
		}
	}
	return c
}
