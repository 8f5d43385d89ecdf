package mbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"unixmail/pkg/lock"
	"unixmail/pkg/mbox"
)

// helperEnv makes the test binary, re-executed, act as a child process
// that appends to a mailbox (see TestMain).
const helperEnv = "UNIXMAIL_MBOX_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "append-forever":
		os.Exit(helperAppendForever(os.Getenv("MBOX")))
	case "append-over-limit":
		os.Exit(helperAppendOverLimit(os.Getenv("MBOX")))
	default:
		os.Exit(2)
	}
}

// helperAppendForever starts an append, writes a megabyte, tells the
// parent through fd 3, and writes on until killed.
func helperAppendForever(path string) int {
	mb, err := mbox.Open(path, mbox.OpenOptions{Owner: -1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ready := os.NewFile(3, "ready")
	err = mb.Append(context.Background(), func(w io.Writer) error {
		io.WriteString(w, mbox.FromLine("killed@example.org", time.Now())+"\nSubject: half\n\n")
		line := []byte(strings.Repeat("a half-written message ", 40) + "\n")
		for n := 0; n < 1<<20; n += len(line) {
			if _, err := w.Write(line); err != nil {
				return err
			}
		}
		ready.Write([]byte("ready\n"))
		for {
			if _, err := w.Write(line); err != nil {
				return err
			}
		}
	})
	fmt.Fprintln(os.Stderr, "append returned:", err)
	return 1
}

// helperAppendOverLimit appends 1 MB under a 64 KB file size limit. Exit
// 0 means Append reported the EFBIG it met.
func helperAppendOverLimit(path string) int {
	lim := unix.Rlimit{Cur: 64 << 10, Max: 64 << 10}
	if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &lim); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	mb, err := mbox.Open(path, mbox.OpenOptions{Owner: -1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	defer mb.Close()
	err = mb.Append(context.Background(), func(w io.Writer) error {
		_, err := mbox.WriteMessage(w, mbox.FromLine("big@example.org", time.Now()), strings.NewReader("Subject: big\n\n"+strings.Repeat("x", 1<<20)+"\n"))
		return err
	})
	if !errors.Is(err, syscall.EFBIG) {
		fmt.Fprintln(os.Stderr, "append returned:", err)
		return 1
	}
	return 0
}

func child(t *testing.T, mode, path string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "MBOX="+path)
	return cmd
}

// newMailbox writes a mailbox of n messages and returns its path and bytes.
func newMailbox(t *testing.T, n int) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		mbox.WriteMessage(&b, mbox.FromLine("a@example.org", time.Now()), strings.NewReader(fmt.Sprintf("Subject: %d\n\nFrom message %d\n", i, i)))
	}
	path := filepath.Join(t.TempDir(), "Mailbox")
	if err := os.WriteFile(path, b.Bytes(), 0600); err != nil {
		t.Fatal(err)
	}
	return path, b.Bytes()
}

func open(t *testing.T, path string) *mbox.Mailbox {
	t.Helper()
	mb, err := mbox.Open(path, mbox.OpenOptions{Owner: os.Getuid(), Lock: lock.Options{Timeout: 10 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mb.Close() })
	return mb
}

func appendMessage(mb *mbox.Mailbox, content string) error {
	return mb.Append(context.Background(), func(w io.Writer) error {
		_, err := mbox.WriteMessage(w, mbox.FromLine("b@example.org", time.Now()), strings.NewReader(content))
		return err
	})
}

func assertFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("mailbox is %d bytes, want the %d it had", len(got), len(want))
	}
}

func countMessages(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	msgs := mustScan(t, data)
	checkLayout(t, data, msgs)
	return len(msgs)
}

func TestOpenCreatesAMailboxWithMode0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new")
	mb, err := mbox.Open(path, mbox.OpenOptions{Create: true, Owner: os.Getuid()})
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !mb.Created() || fi.Mode().Perm() != 0600 {
		t.Errorf("created %v, mode %v", mb.Created(), fi.Mode())
	}
	if err := appendMessage(mb, "Subject: first\n\nhello\n"); err != nil {
		t.Fatal(err)
	}
	if n := countMessages(t, path); n != 1 {
		t.Errorf("%d messages", n)
	}
}

func TestOpenWithoutCreateRefusesAMissingMailbox(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing")
	if _, err := mbox.Open(path, mbox.OpenOptions{Owner: -1}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %v, want ErrNotExist", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Error("Open made the file")
	}
}

func TestAppendAddsOneMessage(t *testing.T) {
	path, _ := newMailbox(t, 3)
	mb := open(t, path)
	if err := appendMessage(mb, "Subject: new\n\nFrom the new one\n"); err != nil {
		t.Fatal(err)
	}
	if n := countMessages(t, path); n != 4 {
		t.Errorf("%d messages, want 4", n)
	}
	if _, err := os.Lstat(lock.Path(path)); err != nil {
		t.Errorf("the dot-lock is not held while open: %v", err)
	}
	mb.Close()
	if _, err := os.Lstat(lock.Path(path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the dot-lock outlived Close: %v", err)
	}
}

func TestAppendTruncatesBackOnWriteError(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name  string
		write func(w io.Writer) error
	}{
		{"at once", func(w io.Writer) error { return boom }},
		{"after a little", func(w io.Writer) error {
			io.WriteString(w, "From x Wed Nov 25 17:24:14 2026\nSubject: half\n")
			return boom
		}},
		{"after a lot", func(w io.Writer) error {
			w.Write(bytes.Repeat([]byte("0123456789abcde\n"), 1<<16))
			return boom
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, before := newMailbox(t, 2)
			mb := open(t, path)
			if err := mb.Append(context.Background(), tt.write); !errors.Is(err, boom) {
				t.Fatalf("Append returned %v", err)
			}
			assertFile(t, path, before)
			if err := appendMessage(mb, "Subject: after\n\nok\n"); err != nil {
				t.Fatalf("the next append: %v", err)
			}
			if n := countMessages(t, path); n != 3 {
				t.Errorf("%d messages after the next append, want 3", n)
			}
		})
	}
}

func TestAppendAlongRunsOnceTheMessageIsWrittenAndItsFailureTakesItBack(t *testing.T) {
	boom := errors.New("boom")
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("along fails: %v", fail), func(t *testing.T) {
			path, before := newMailbox(t, 2)
			mb := open(t, path)
			seen := 0
			err := mb.AppendAlong(context.Background(), func(w io.Writer) error {
				_, err := mbox.WriteMessage(w, mbox.FromLine("a@b", time.Unix(1700000000, 0)), strings.NewReader("Subject: along\n\nhi\n"))
				return err
			}, func() error {
				seen = countMessages(t, path)
				if fail {
					return boom
				}
				return nil
			})
			if seen != 3 {
				t.Errorf("along saw %d messages in the file, want 3", seen)
			}
			if !fail {
				if err != nil || countMessages(t, path) != 3 {
					t.Fatalf("Append returned %v, %d messages", err, countMessages(t, path))
				}
				return
			}
			if !errors.Is(err, boom) {
				t.Fatalf("Append returned %v", err)
			}
			assertFile(t, path, before)
		})
	}
}

func TestAppendTruncatesBackWhenTheContextIsCancelled(t *testing.T) {
	tests := []struct {
		name  string
		bytes int // written after the cancel
	}{
		{"mid-way", 1 << 20},
		{"after the last write", 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, before := newMailbox(t, 2)
			mb := open(t, path)
			ctx, cancel := context.WithCancel(context.Background())
			err := mb.Append(ctx, func(w io.Writer) error {
				w.Write(bytes.Repeat([]byte("x\n"), 100<<10))
				cancel()
				_, err := w.Write(bytes.Repeat([]byte("y"), tt.bytes))
				return err
			})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Append returned %v", err)
			}
			assertFile(t, path, before)
		})
	}
}

func TestAppendPadsAMailboxThatLacksItsFinalBlankLine(t *testing.T) {
	tests := []struct {
		name, file, first string
	}{
		{"blank line present", from1 + "A: 1\n\nbody\n\n", "A: 1\n\nbody\n"},
		{"no blank line", from1 + "A: 1\n\nbody\n", "A: 1\n\nbody\n"},
		{"no final newline", from1 + "A: 1\n\nbody", "A: 1\n\nbody\n"},
		{"header only, no newline", from1 + "A: 1", "A: 1\n"},
		{"body ends in blank lines", from1 + "A: 1\n\nbody\n\n\n", "A: 1\n\nbody\n\n"},
		{"CRLF with blank line", from1 + "A: 1\r\n\r\nbody\r\n\r\n", "A: 1\n\nbody\n"},
		{"CRLF without blank line", from1 + "A: 1\r\n\r\nbody\r\n", "A: 1\n\nbody\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "Mailbox")
			if err := os.WriteFile(path, []byte(tt.file), 0600); err != nil {
				t.Fatal(err)
			}
			mb := open(t, path)
			if err := appendMessage(mb, "Subject: new\n\nnew\n"); err != nil {
				t.Fatal(err)
			}
			data, _ := os.ReadFile(path)
			msgs := mustScan(t, data)
			checkLayout(t, data, msgs)
			if len(msgs) != 2 || msgs[0].content != tt.first || msgs[1].content != "Subject: new\n\nnew\n" {
				t.Errorf("after the append: %d messages, %q\nfile: %q", len(msgs), msgs[0].content, data)
			}
		})
	}
}

func TestOpenRefusesUnsafeMailboxes(t *testing.T) {
	tests := []struct {
		name string
		make func(t *testing.T, path string)
		o    mbox.OpenOptions
	}{
		{"a symbolic link", func(t *testing.T, path string) {
			target := filepath.Join(filepath.Dir(path), "target")
			os.WriteFile(target, []byte(from1+"\n"), 0600)
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
		}, mbox.OpenOptions{Owner: -1, Create: true}},
		{"a dangling symbolic link", func(t *testing.T, path string) {
			if err := os.Symlink(filepath.Join(filepath.Dir(path), "nowhere"), path); err != nil {
				t.Fatal(err)
			}
		}, mbox.OpenOptions{Owner: -1, Create: true}},
		{"a FIFO", func(t *testing.T, path string) {
			if err := unix.Mkfifo(path, 0600); err != nil {
				t.Fatal(err)
			}
		}, mbox.OpenOptions{Owner: -1}},
		{"a directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0700); err != nil {
				t.Fatal(err)
			}
		}, mbox.OpenOptions{Owner: -1}},
		{"a hard-linked file", func(t *testing.T, path string) {
			os.WriteFile(path, []byte(from1+"\n"), 0600)
			if err := os.Link(path, path+".other"); err != nil {
				t.Fatal(err)
			}
		}, mbox.OpenOptions{Owner: -1}},
		{"a file owned by someone else", func(t *testing.T, path string) {
			os.WriteFile(path, []byte(from1+"\n"), 0600)
		}, mbox.OpenOptions{Owner: os.Getuid() + 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "Mailbox")
			tt.make(t, path)
			before := snapshot(t, dir)
			mb, err := mbox.Open(path, tt.o)
			if err == nil {
				mb.Close()
			}
			if !errors.Is(err, mbox.ErrUnsafe) {
				t.Fatalf("Open returned %v, want ErrUnsafe", err)
			}
			if after := snapshot(t, dir); after != before {
				t.Errorf("the directory changed:\n%s\nnow:\n%s", before, after)
			}
		})
	}
}

// snapshot describes every entry of dir: name, type, size and content.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		fi, _ := e.Info()
		fmt.Fprintf(&b, "%s %v %d", e.Name(), fi.Mode(), fi.Size())
		if fi.Mode().IsRegular() {
			data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			fmt.Fprintf(&b, " %q", data)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestAppendStopsAtTheFileSizeLimitAndLeavesTheFileUnchanged(t *testing.T) {
	path, before := newMailbox(t, 3)
	out, err := child(t, "append-over-limit", path).CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	assertFile(t, path, before)
}

func TestOpenRollsBackAnAppendKilledMidWay(t *testing.T) {
	path, before := newMailbox(t, 3)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := child(t, "append-forever", path)
	cmd.Stderr = os.Stderr
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	line := make([]byte, 6)
	if _, err := io.ReadFull(r, line); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child never got ready: %v", err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait() // a zombie's pid still counts as alive
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() <= int64(len(before)) {
		t.Fatalf("the child wrote nothing (%d bytes); the test proves nothing", fi.Size())
	}
	mb := open(t, path)
	assertFile(t, path, before)
	if err := appendMessage(mb, "Subject: after the crash\n\nok\n"); err != nil {
		t.Fatal(err)
	}
	if n := countMessages(t, path); n != 4 {
		t.Errorf("%d messages, want 4", n)
	}
}

// fakeCrash leaves what a writer killed mid-append leaves: a lock naming a
// dead process, recording the append, and junk after the old end.
func fakeCrash(t *testing.T, path string, rec func(st *unix.Stat_t) lock.Append) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	a := rec(&st)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(from1 + "Subject: half\n\nhalf a mess")
	f.Close()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	body := fmt.Sprintf("%d\nhost %s\nappend %d %d %d\n", dead.Process.Pid, host, a.Dev, a.Ino, a.Size)
	if err := os.WriteFile(lock.Path(path), []byte(body), 0600); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRollsBackARecordedAppend(t *testing.T) {
	for _, readOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("read-only %v", readOnly), func(t *testing.T) {
			path, before := newMailbox(t, 2)
			fakeCrash(t, path, func(st *unix.Stat_t) lock.Append {
				return lock.Append{Dev: uint64(st.Dev), Ino: st.Ino, Size: st.Size}
			})
			mb, err := mbox.Open(path, mbox.OpenOptions{Owner: -1, ReadOnly: readOnly, Lock: lock.Options{Timeout: 5 * time.Second}})
			if err != nil {
				t.Fatal(err)
			}
			defer mb.Close()
			assertFile(t, path, before)
		})
	}
}

func TestOpenDoesNotTruncateForARecordOfAnotherFile(t *testing.T) {
	tests := []struct {
		name string
		rec  func(st *unix.Stat_t) lock.Append
	}{
		{"another inode", func(st *unix.Stat_t) lock.Append {
			return lock.Append{Dev: uint64(st.Dev), Ino: st.Ino + 1, Size: st.Size}
		}},
		{"another device", func(st *unix.Stat_t) lock.Append {
			return lock.Append{Dev: uint64(st.Dev) + 1, Ino: st.Ino, Size: st.Size}
		}},
		{"a size past the end", func(st *unix.Stat_t) lock.Append {
			return lock.Append{Dev: uint64(st.Dev), Ino: st.Ino, Size: st.Size + 1<<20}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, _ := newMailbox(t, 2)
			fakeCrash(t, path, tt.rec)
			want, _ := os.ReadFile(path)
			open(t, path)
			assertFile(t, path, want)
		})
	}
}

func TestAppendRefusesAReadOnlyMailbox(t *testing.T) {
	path, before := newMailbox(t, 1)
	mb, err := mbox.Open(path, mbox.OpenOptions{Owner: -1, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	if err := appendMessage(mb, "S: x\n\n"); err == nil {
		t.Error("Append on a read-only mailbox succeeded")
	}
	assertFile(t, path, before)
}
