package lock_test

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"

	"unixmail/internal/sandbox"
	"unixmail/pkg/lock"
)

// pyLocker is a python3 process holding fcntl.lockf on a file, as a
// foreign mail program would. It locks, says so, and unlocks when its
// stdin closes.
type pyLocker struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

const pyLockScript = `
import fcntl, sys
f = open(sys.argv[1], "r+")
fcntl.lockf(f, fcntl.LOCK_EX if sys.argv[2] == "ex" else fcntl.LOCK_SH)
print("locked", flush=True)
sys.stdin.read()
`

func pyLock(t *testing.T, path, mode string) *pyLocker {
	t.Helper()
	cmd := exec.Command(sandbox.NeedPeer(t, "python3"), "-c", pyLockScript, path, mode)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &pyLocker{cmd, stdin}
	t.Cleanup(p.release)
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "locked\n" {
		t.Fatalf("python3 did not lock: %q %v", line, err)
	}
	return p
}

func (p *pyLocker) release() {
	p.stdin.Close()
	p.cmd.Wait()
}

// pyTry asks python3 whether it could lock path now, without waiting.
func pyTry(t *testing.T, path, mode string) bool {
	t.Helper()
	const script = `
import fcntl, sys
f = open(sys.argv[1], "r+")
try:
    fcntl.lockf(f, (fcntl.LOCK_EX if sys.argv[2] == "ex" else fcntl.LOCK_SH) | fcntl.LOCK_NB)
except OSError:
    sys.exit(1)
`
	err := exec.Command(sandbox.NeedPeer(t, "python3"), "-c", script, path, mode).Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return err == nil
}

func openFile(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestTryFcntlIsRefusedWhileAPythonLockfHolderHoldsIt(t *testing.T) {
	tests := []struct {
		name            string
		held            string
		exclusive, gets bool
	}{
		{"exclusive held, exclusive wanted", "ex", true, false},
		{"exclusive held, shared wanted", "ex", false, false},
		{"shared held, shared wanted", "sh", false, true},
		{"shared held, exclusive wanted", "sh", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mb := mailbox(t)
			py := pyLock(t, mb, tt.held)
			f := openFile(t, mb)
			err := lock.TryFcntl(f, tt.exclusive)
			if tt.gets {
				if err != nil {
					t.Fatalf("TryFcntl: %v", err)
				}
				lock.Unfcntl(f)
				return
			}
			var busy *lock.BusyError
			if !errors.As(err, &busy) || !errors.Is(err, lock.ErrBusy) {
				t.Fatalf("TryFcntl returned %v, want a BusyError", err)
			}
			if busy.Pid != py.cmd.Process.Pid {
				t.Errorf("the holder is pid %d, want python3's %d", busy.Pid, py.cmd.Process.Pid)
			}
			py.release()
			if err := lock.TryFcntl(f, tt.exclusive); err != nil {
				t.Fatalf("TryFcntl after python3 let go: %v", err)
			}
		})
	}
}

func TestFcntlKeepsAPythonLockfOut(t *testing.T) {
	mb := mailbox(t)
	f := openFile(t, mb)
	if err := lock.TryFcntl(f, true); err != nil {
		t.Fatal(err)
	}
	if pyTry(t, mb, "ex") || pyTry(t, mb, "sh") {
		t.Error("python3 locked a file we hold exclusively")
	}
	// Closing another descriptor of the file must not drop our lock
	// (it would drop a classic POSIX lock).
	other := openFile(t, mb)
	other.Close()
	if pyTry(t, mb, "ex") {
		t.Error("closing another descriptor dropped our lock")
	}
	if err := lock.Unfcntl(f); err != nil {
		t.Fatal(err)
	}
	if !pyTry(t, mb, "ex") {
		t.Error("python3 cannot lock after Unfcntl")
	}
	if err := lock.TryFcntl(f, false); err != nil {
		t.Fatal(err)
	}
	if !pyTry(t, mb, "sh") || pyTry(t, mb, "ex") {
		t.Error("our shared lock does not share, or does not exclude")
	}
}

func TestTakeDotWaitsForProcmailsLockfile(t *testing.T) {
	lockfile := sandbox.NeedPeer(t, "lockfile")
	mb := mailbox(t)
	if out, err := exec.Command(lockfile, "-r0", lock.Path(mb)).CombinedOutput(); err != nil {
		t.Fatalf("lockfile: %v %s", err, out)
	}
	if _, err := takeDot(mb, short); !errors.Is(err, lock.ErrTimeout) {
		t.Fatalf("TakeDot while lockfile holds the lock: %v, want ErrTimeout", err)
	}
	got := make(chan error, 1)
	go func() {
		d, err := takeDot(mb, lock.Options{Timeout: time.Minute})
		if err == nil {
			d.Release()
		}
		got <- err
	}()
	time.Sleep(100 * time.Millisecond)
	os.Remove(lock.Path(mb)) // how lockfile(1) users release: rm -f
	if err := <-got; err != nil {
		t.Fatalf("TakeDot after the lock went: %v", err)
	}
}

func TestTakeDotWaitsForDotlockfile(t *testing.T) {
	dotlockfile := sandbox.NeedPeer(t, "dotlockfile")
	mb := mailbox(t)
	// -p writes the pid of its caller, this live process.
	if out, err := exec.Command(dotlockfile, "-l", "-r", "0", "-p", lock.Path(mb)).CombinedOutput(); err != nil {
		t.Fatalf("dotlockfile: %v %s", err, out)
	}
	if _, err := takeDot(mb, short); !errors.Is(err, lock.ErrTimeout) {
		t.Fatalf("TakeDot while dotlockfile holds the lock: %v, want ErrTimeout", err)
	}
	if out, err := exec.Command(dotlockfile, "-u", lock.Path(mb)).CombinedOutput(); err != nil {
		t.Fatalf("dotlockfile -u: %v %s", err, out)
	}
	d, err := takeDot(mb, short)
	if err != nil {
		t.Fatalf("TakeDot after dotlockfile -u: %v", err)
	}
	d.Release()
}

func TestLockfileAndDotlockfileWaitForOurLock(t *testing.T) {
	lockfile := sandbox.NeedPeer(t, "lockfile")
	dotlockfile := sandbox.NeedPeer(t, "dotlockfile")
	mb := mailbox(t)
	d, err := takeDot(mb, lock.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tries := []struct {
		name string
		args []string
	}{
		{"lockfile", []string{lockfile, "-r0", lock.Path(mb)}},
		{"dotlockfile", []string{dotlockfile, "-l", "-r", "0", lock.Path(mb)}},
		{"dotlockfile -p", []string{dotlockfile, "-l", "-r", "0", "-p", lock.Path(mb)}},
	}
	for _, try := range tries {
		if err := exec.Command(try.args[0], try.args[1:]...).Run(); err == nil {
			t.Fatalf("%s took the lock we hold", try.name)
		}
	}
	// Our BeginAppend record must not make the lock look invalid to them.
	if err := d.BeginAppend(recorded); err != nil {
		t.Fatal(err)
	}
	for _, try := range tries {
		if err := exec.Command(try.args[0], try.args[1:]...).Run(); err == nil {
			t.Fatalf("%s took the lock we hold during an append", try.name)
		}
	}
	if err := d.Release(); err != nil {
		t.Fatal(err)
	}
	for _, try := range tries {
		if out, err := exec.Command(try.args[0], try.args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s after Release: %v %s", try.name, err, out)
		}
		os.Remove(lock.Path(mb))
	}
}
