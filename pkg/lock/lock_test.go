package lock_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"unixmail/pkg/lock"
)

// helperEnv makes the test binary, re-executed, a child process that
// takes a lock and dies holding it (see TestMain).
const helperEnv = "UNIXMAIL_LOCK_TEST_HELPER"

var recorded = lock.Append{Dev: 64769, Ino: 1234567, Size: 98765}

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "die-mid-append", "die-after-append":
		d, err := takeDot(os.Getenv("MAILBOX"), lock.Options{Timeout: 10 * time.Second})
		if err == nil {
			err = d.BeginAppend(recorded)
		}
		if err == nil && os.Getenv(helperEnv) == "die-after-append" {
			err = d.EndAppend()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0) // holding the lock, as a killed writer would
	default:
		os.Exit(2)
	}
}

// takeDot is how a program holding no other lock waits for the dot-lock:
// TryDot, and Backoff between tries, until the timeout.
func takeDot(mailbox string, o lock.Options) (*lock.Dot, error) {
	b := lock.NewBackoff(o)
	for {
		d, err := lock.TryDot(mailbox, o)
		if !errors.Is(err, lock.ErrBusy) {
			return d, err
		}
		if !b.Wait() {
			return nil, fmt.Errorf("%w: %w", err, lock.ErrTimeout)
		}
	}
}

func mailbox(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "Mailbox")
	if err := os.WriteFile(path, nil, 0600); err != nil {
		t.Fatal(err)
	}
	return path
}

// deadPid is the pid of a process that has exited and been reaped.
func deadPid(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func hostname(t *testing.T) string {
	t.Helper()
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

// short is for a lock that must not be had: the wait is bounded, and
// nothing asserts how long it took.
var short = lock.Options{Timeout: 300 * time.Millisecond}

func TestTakeDotMakesTheLockAndReleaseRemovesIt(t *testing.T) {
	mb := mailbox(t)
	d, err := takeDot(mb, lock.Options{})
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(lock.Path(mb))
	if err != nil {
		t.Fatal(err)
	}
	// PID:HOST, as Dovecot writes and reads it.
	if want := fmt.Sprintf("%d:%s", os.Getpid(), hostname(t)); string(body) != want {
		t.Errorf("lock holds %q, want %q", body, want)
	}
	if d.Recovered() != nil {
		t.Errorf("Recovered %+v from a fresh lock", d.Recovered())
	}
	if err := d.Release(); err != nil {
		t.Fatal(err)
	}
	if err := d.Release(); err != nil {
		t.Errorf("second Release: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(mb))
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
}

func TestSecondTakeDotWaitsAndTimesOut(t *testing.T) {
	mb := mailbox(t)
	d, err := takeDot(mb, lock.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Release()
	if _, err := takeDot(mb, short); !errors.Is(err, lock.ErrTimeout) {
		t.Fatalf("second TakeDot returned %v, want ErrTimeout", err)
	}
	d.Release()
	d2, err := takeDot(mb, short)
	if err != nil {
		t.Fatalf("TakeDot after Release: %v", err)
	}
	d2.Release()
}

func TestTakeDotGetsTheLockWhenItsHolderReleasesIt(t *testing.T) {
	mb := mailbox(t)
	d, err := takeDot(mb, lock.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		d2, err := takeDot(mb, lock.Options{Timeout: time.Minute})
		if err == nil {
			d2.Release()
		}
		got <- err
	}()
	time.Sleep(50 * time.Millisecond)
	d.Release()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

func TestTakeDotJudgesAnExistingLock(t *testing.T) {
	old := time.Now().Add(-10 * time.Minute)
	tests := []struct {
		name   string
		body   func(t *testing.T) string
		mtime  time.Time // zero: now
		broken bool
	}{
		{"a dead pid on this host is broken at once", func(t *testing.T) string {
			return fmt.Sprintf("%d\nhost %s\n", deadPid(t), hostname(t))
		}, time.Time{}, true},
		{"a live pid keeps it", func(t *testing.T) string {
			return fmt.Sprintf("%d\nhost %s\n", os.Getpid(), hostname(t))
		}, time.Time{}, false},
		{"a dead pid on another host keeps it", func(t *testing.T) string {
			return fmt.Sprintf("%d\nhost not-%s\n", deadPid(t), hostname(t))
		}, time.Time{}, false},
		{"Dovecot's PID:HOST of a dead pid is broken at once", func(t *testing.T) string {
			return fmt.Sprintf("%d:%s", deadPid(t), hostname(t))
		}, time.Time{}, true},
		{"Dovecot's PID:HOST of a live pid keeps it", func(t *testing.T) string {
			return fmt.Sprintf("%d:%s", os.Getpid(), hostname(t))
		}, time.Time{}, false},
		{"PID:HOST of a dead pid on another host keeps it", func(t *testing.T) string {
			return fmt.Sprintf("%d:not-%s\n", deadPid(t), hostname(t))
		}, time.Time{}, false},
		{"a bare dead pid (liblockfile) keeps it while young", func(t *testing.T) string {
			return fmt.Sprintf("%d\n", deadPid(t))
		}, time.Time{}, false},
		{"an empty lock (procmail) keeps it while young", func(t *testing.T) string { return "" }, time.Time{}, false},
		{"an old empty lock is broken", func(t *testing.T) string { return "" }, old, true},
		{"an old lock of a live pid is broken", func(t *testing.T) string {
			return fmt.Sprintf("%d\nhost %s\n", os.Getpid(), hostname(t))
		}, old, true},
		{"garbage keeps it while young", func(t *testing.T) string { return "\x00\xff junk\nhost\n" }, time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mb := mailbox(t)
			body := tt.body(t)
			if err := os.WriteFile(lock.Path(mb), []byte(body), 0644); err != nil {
				t.Fatal(err)
			}
			if !tt.mtime.IsZero() {
				if err := os.Chtimes(lock.Path(mb), tt.mtime, tt.mtime); err != nil {
					t.Fatal(err)
				}
			}
			d, err := takeDot(mb, short)
			if tt.broken {
				if err != nil {
					t.Fatalf("TakeDot: %v", err)
				}
				d.Release()
				return
			}
			if !errors.Is(err, lock.ErrTimeout) {
				t.Fatalf("TakeDot returned %v, want ErrTimeout", err)
			}
			if now, _ := os.ReadFile(lock.Path(mb)); string(now) != body {
				t.Errorf("the held lock was changed to %q", now)
			}
		})
	}
}

func TestBeginAppendIsRecoveredByTheNextLocker(t *testing.T) {
	tests := []struct {
		mode string
		want *lock.Append
	}{
		{"die-mid-append", &recorded},
		{"die-after-append", nil},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			mb := mailbox(t)
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), helperEnv+"="+tt.mode, "MAILBOX="+mb)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			body, _ := os.ReadFile(lock.Path(mb))
			d, err := takeDot(mb, lock.Options{Timeout: 10 * time.Second})
			if err != nil {
				t.Fatalf("TakeDot after the holder died: %v (lock %q)", err, body)
			}
			defer d.Release()
			got := d.Recovered()
			if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
				t.Errorf("Recovered %+v, want %+v (lock was %q)", got, tt.want, body)
			}
		})
	}
}

func TestBeginAppendKeepsTheLockHeld(t *testing.T) {
	mb := mailbox(t)
	d, err := takeDot(mb, lock.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Release()
	if err := d.BeginAppend(recorded); err != nil {
		t.Fatal(err)
	}
	body, _ := os.ReadFile(lock.Path(mb))
	// After a NUL: Dovecot reads PID:HOST as a C string, and still can.
	want := fmt.Sprintf("%d:%s\x00append %d %d %d\n", os.Getpid(), hostname(t), recorded.Dev, recorded.Ino, recorded.Size)
	if string(body) != want {
		t.Errorf("lock holds %q, want %q", body, want)
	}
	if _, err := takeDot(mb, short); !errors.Is(err, lock.ErrTimeout) {
		t.Errorf("TakeDot during the append returned %v", err)
	}
	if err := d.EndAppend(); err != nil {
		t.Fatal(err)
	}
	if body, _ := os.ReadFile(lock.Path(mb)); strings.Contains(string(body), "append") {
		t.Errorf("EndAppend left %q", body)
	}
}

func TestTouchRenewsTheLocksAge(t *testing.T) {
	mb := mailbox(t)
	d, err := takeDot(mb, lock.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Release()
	old := time.Now().Add(-time.Hour)
	os.Chtimes(lock.Path(mb), old, old)
	if err := d.Touch(); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(lock.Path(mb))
	if fi.ModTime().Before(old.Add(30 * time.Minute)) {
		t.Errorf("mtime still %v", fi.ModTime())
	}
}

func TestTryDotDoesNotWaitAndNamesTheHolder(t *testing.T) {
	mb := mailbox(t)
	d, err := lock.TryDot(mb, lock.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Release()
	start := time.Now()
	_, err = lock.TryDot(mb, lock.Options{Timeout: time.Hour})
	var busy *lock.BusyError
	if !errors.As(err, &busy) || busy.Pid != os.Getpid() || busy.Path != lock.Path(mb) {
		t.Fatalf("TryDot on a held lock: %v, want a BusyError naming pid %d", err, os.Getpid())
	}
	if time.Since(start) > 10*time.Second {
		t.Error("TryDot waited")
	}
}

func TestBackoffEndsAtTheTimeout(t *testing.T) {
	b := lock.NewBackoff(lock.Options{Timeout: 50 * time.Millisecond})
	start, tries := time.Now(), 0
	for b.Wait() {
		tries++
	}
	if el := time.Since(start); el < 50*time.Millisecond || tries < 2 {
		t.Errorf("gave up after %v and %d pauses", el, tries)
	}
}
