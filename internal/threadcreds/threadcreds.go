// Package threadcreds reads the credentials of this process's threads
// from /proc, for tests of privilege changes: on Linux each thread has its
// own, and a change meant for the process must reach every one.
package threadcreds

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Creds are a thread's real, effective, saved and file-system uid and
// gid, and its supplementary groups as /proc lists them.
type Creds struct {
	UID, GID [4]int
	Groups   string
}

// Of reads /proc/WHICH/status: "thread-self", "self/task/TID"...
func Of(t testing.TB, which string) Creds {
	t.Helper()
	b, err := os.ReadFile("/proc/" + which + "/status")
	if err != nil {
		t.Fatal(err)
	}
	var c Creds
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, _ := strings.Cut(line, ":")
		switch name {
		case "Uid":
			_, err = fmt.Sscan(rest, &c.UID[0], &c.UID[1], &c.UID[2], &c.UID[3])
		case "Gid":
			_, err = fmt.Sscan(rest, &c.GID[0], &c.GID[1], &c.GID[2], &c.GID[3])
		case "Groups":
			c.Groups = strings.TrimSpace(rest)
		}
		if err != nil {
			t.Fatalf("%s: %q: %v", which, line, err)
		}
	}
	return c
}

// Every calls check with each thread of the process but skip (a tid; -1
// for none). A process of fewer than five threads proves little (the Go
// runtime has started more by the time a test runs), so that fails t.
func Every(t testing.TB, skip int, check func(tid string, c Creds)) {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) < 5 {
		t.Fatalf("only %d threads to check", len(tasks))
	}
	for _, task := range tasks {
		if task.Name() != fmt.Sprint(skip) {
			check(task.Name(), Of(t, "self/task/"+task.Name()))
		}
	}
}

// Park starts n goroutines, each locked to a thread of its own for the
// rest of the test process, so that a change has more threads to reach
// than the runtime's.
func Park(n int) {
	for range n {
		go func() {
			runtime.LockOSThread()
			time.Sleep(time.Hour)
		}()
	}
	time.Sleep(50 * time.Millisecond)
}
