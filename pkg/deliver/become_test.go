package deliver

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"unixmail/internal/threadcreds"
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
	threadcreds.Park(4)
	if err := become(&userdb.User{Name: "nobody", UID: 65534, GID: 65534}); err != nil {
		t.Fatal(err)
	}
	want := threadcreds.Creds{UID: [4]int{65534, 65534, 65534, 65534}, GID: [4]int{65534, 65534, savedGid, 65534}}
	everyThreadHas(t, "after become", -1, want)
	if !setgid {
		return
	}
	err := lock.WithGroup(func() error {
		everyThreadHas(t, "inside WithGroup", syscall.Gettid(), want)
		lent := want
		lent.GID[3] = mailGroup
		if got := threadcreds.Of(t, "thread-self"); got != lent {
			t.Errorf("inside WithGroup, the calling thread has %+v, want %+v", got, lent)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	everyThreadHas(t, "after WithGroup", -1, want)
}

// everyThreadHas checks every thread of the process but skip (a tid; -1
// for none).
func everyThreadHas(t *testing.T, when string, skip int, want threadcreds.Creds) {
	t.Helper()
	threadcreds.Every(t, skip, func(tid string, got threadcreds.Creds) {
		if got != want {
			t.Errorf("%s: thread %s has %+v, want %+v", when, tid, got, want)
		}
	})
}
