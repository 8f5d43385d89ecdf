// Package lock takes the two locks that every mbox writer and reader on a Unix
// system agrees on: a dot-lock file MAILBOX.lock, made the NFS-safe way (a
// unique temporary file hard-linked to the lock name), then an fcntl(2) lock
// on the mailbox itself. procmail, mutt, mail.local, liblockfile's dotlockfile
// and Dovecot take the same pair, but not in the same order (procmail: dot-lock
// first; Debian's Dovecot and mutt: fcntl first), so whoever holds one while
// waiting for the other can deadlock with them. This package gives the
// pieces for never doing that: TryDot and TryFcntl, which do not wait, and
// Backoff, the pause between tries (see mbox.Open, which puts them together).
//
// Beyond them, the dot-lock records what its holder is doing: before an
// append the holder writes the mailbox's size into the lock file. A holder
// killed mid-append (SIGKILL, a crash, a power cut) leaves a stale lock with
// that size in it, and the next locker, having broken the stale lock, can cut
// the half-written message off. See Dot.Recovered.
package lock

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrTimeout is returned (wrapped) when a lock could not be had in time.
var ErrTimeout = errors.New("timed out waiting for lock")

// ErrBusy is wrapped by a BusyError: a lock is held by someone else.
var ErrBusy = errors.New("lock held by another process")

// BusyError says which lock was busy and, when it can be learnt, who holds
// it: the pid written in a dot-lock, or the one fcntl(F_OFD_GETLK) reports
// for a classic POSIX lock (0 when unknown: an OFD lock has no pid).
type BusyError struct {
	Path string // the lock file, or the mailbox for an fcntl lock
	Kind string // "dot-lock" or "fcntl lock"
	Pid  int
}

func (e *BusyError) Error() string {
	if e.Pid > 0 {
		return fmt.Sprintf("%s %s is held by pid %d", e.Kind, e.Path, e.Pid)
	}
	return fmt.Sprintf("%s %s is held by another process", e.Kind, e.Path)
}

func (e *BusyError) Unwrap() error { return ErrBusy }

// Defaults for Options: the timeout is lock_timeout's default and
// Dovecot's; the stale age is mail.local's and liblockfile's.
const (
	DefaultTimeout = 5 * time.Minute
	DefaultStale   = 5 * time.Minute
)

// Options tunes the waiting. The zero value means the defaults.
type Options struct {
	Timeout time.Duration // how long to keep trying for the locks
	Stale   time.Duration // a dot-lock older than this is broken
}

// Backoff paces retries: each Wait sleeps a random time that grows from a
// millisecond to a cap, so that two programs that keep colliding fall out
// of step, and says when the time is up.
type Backoff struct {
	deadline time.Time
	wait     time.Duration
}

// maxWait caps one pause: long enough not to spin, short enough that a
// lock let go is taken soon.
const maxWait = 500 * time.Millisecond

// NewBackoff starts the clock for o.Timeout.
func NewBackoff(o Options) *Backoff {
	return &Backoff{deadline: time.Now().Add(o.timeout()), wait: time.Millisecond}
}

// Wait sleeps before the next try and reports true, or reports false at
// once if the time is up.
func (b *Backoff) Wait() bool { return b.WaitQueued(nil) }

// WaitQueued is Wait for a program queued for the locks (see Queue): the
// sleep ends early when the holder lets them go.
func (b *Backoff) WaitQueued(w *Waiter) bool {
	left := time.Until(b.deadline)
	if left <= 0 {
		return false
	}
	// Uniform in [wait/2, 3*wait/2): random so that colliding programs
	// separate, growing so that a long wait costs few tries.
	d := b.wait/2 + rand.N(b.wait)
	w.Sleep(min(d, left))
	b.wait = min(2*b.wait, maxWait)
	return true
}

func (o Options) timeout() time.Duration {
	if o.Timeout <= 0 {
		return DefaultTimeout
	}
	return o.Timeout
}

func (o Options) stale() time.Duration {
	if o.Stale <= 0 {
		return DefaultStale
	}
	return o.Stale
}

// Append is what a holder records in its dot-lock while it appends: the
// identity of the mailbox and its size before the append.
type Append struct {
	Dev, Ino uint64
	Size     int64
}

// Dot is a held dot-lock.
type Dot struct {
	path      string
	hostname  string
	pid       int
	recovered *Append
	released  bool
	f         *os.File // open on the lock file itself
	headLen   int64    // length of the PID:HOST head
}

// hostname is read once per process: it is recorded in every lock so that a
// pid is only judged dead on the host that wrote it.
func thisHost() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

// Path is the dot-lock file's name for mailbox.
func Path(mailbox string) string { return mailbox + ".lock" }

// ErrNoPermission means the dot-lock could not be made because the
// mailbox's directory is not writable by us (for instance /var/mail without
// group mail). Callers may go on with the fcntl lock alone, as procmail and
// mutt do, or refuse.
var ErrNoPermission = errors.New("cannot create dot-lock: permission denied")

// ErrNoRoom means the dot-lock could not be made because the disk (or
// the user's quota) is full. A reader may go on with the fcntl lock
// alone, as with ErrNoPermission; a writer could not write anyway.
var ErrNoRoom = errors.New("cannot create dot-lock: no room on the disk")

// noRoom reports whether err is a full disk or quota.
func noRoom(err error) bool { return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) }

// TryDot makes MAILBOX.lock if it can at once. It creates a uniquely named
// file beside it holding our pid and host, links it to the lock name
// (link(2) is atomic even on NFS, where O_EXCL was not), and checks the
// link count, which is how one learns on NFS that a link whose reply was
// lost did succeed. A lock whose holder is dead on this host, or that is
// older than o.Stale, is broken; if it recorded an append in progress,
// Recovered reports it. A live lock is a *BusyError.
func TryDot(mailbox string, o Options) (*Dot, error) {
	d := &Dot{path: Path(mailbox), hostname: thisHost(), pid: os.Getpid()}
	var f *os.File
	var tmp string
	err := WithGroup(func() error {
		var err error
		f, tmp, err = d.writeTemp()
		return err
	})
	if err != nil {
		return nil, err
	}
	defer WithGroup(func() error { return os.Remove(tmp) })
	for range 3 { // a stale lock broken, or one that vanished: at once again
		err := WithGroup(func() error { return os.Link(tmp, d.path) })
		if err != nil && !errors.Is(err, os.ErrExist) {
			f.Close()
			return nil, fmt.Errorf("dot-lock %s: %w", d.path, err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err == nil && st.Nlink == 2 {
			// The temporary name goes; the descriptor stays open on the
			// lock itself, for the append records and for Release.
			d.f = f
			return d, nil
		}
		broken, rec, holder := d.breakIfStale(o.stale())
		if !broken {
			f.Close()
			return nil, &BusyError{Path: d.path, Kind: "dot-lock", Pid: holder}
		}
		if rec != nil {
			d.recovered = rec
		}
	}
	f.Close()
	return nil, &BusyError{Path: d.path, Kind: "dot-lock"}
}

// writeTemp writes the lock's body into a fresh unique file next to the
// lock and returns it open, with its name. It holds "PID:HOST", as
// Dovecot writes it: Dovecot breaks the lock of a dead process by it
// (once it is two seconds old), where it would otherwise wait two minutes
// for the lock of an imapd or a deliver killed holding it; liblockfile
// (atoi) reads the pid from it too. An append record follows it after a
// NUL, where Dovecot's reading of the host (a C string) stops.
func (d *Dot) writeTemp() (*os.File, string, error) {
	dir := filepath.Dir(d.path)
	name := filepath.Join(dir, fmt.Sprintf(".%s.%s.%d.%d", filepath.Base(d.path), d.hostname, d.pid, time.Now().UnixNano()))
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0600)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, "", fmt.Errorf("dot-lock %s: %w", d.path, ErrNoPermission)
		}
		if noRoom(err) {
			return nil, "", fmt.Errorf("dot-lock %s: %w: %w", d.path, ErrNoRoom, err)
		}
		return nil, "", fmt.Errorf("dot-lock %s: %w", d.path, err)
	}
	body := fmt.Sprintf("%d:%s", d.pid, d.hostname)
	if _, err := f.WriteString(body); err != nil {
		f.Close()
		os.Remove(name)
		if noRoom(err) {
			return nil, "", fmt.Errorf("dot-lock %s: %w: %w", d.path, ErrNoRoom, err)
		}
		return nil, "", fmt.Errorf("dot-lock %s: %w", d.path, err)
	}
	d.headLen = int64(len(body))
	return f, name, nil
}

// breakIfStale removes the lock file if its holder is gone. It reports
// whether it removed it, the append the dead holder had recorded, and the
// pid of a live holder when the lock names one.
func (d *Dot) breakIfStale(stale time.Duration) (bool, *Append, int) {
	f, err := os.Open(d.path)
	if err != nil {
		return errors.Is(err, os.ErrNotExist), nil, 0 // vanished: try again at once
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false, nil, 0
	}
	buf := make([]byte, 512)
	n, _ := f.Read(buf)
	info := parseBody(string(buf[:n]))

	age := time.Since(time.Unix(st.Mtim.Unix()))
	dead := info.host == d.hostname && info.pid > 0 && !alive(info.pid)
	if !dead && age < stale {
		return false, nil, info.pid
	}
	// Only remove the file we judged; if it was replaced meanwhile, look again.
	var now unix.Stat_t
	if err := unix.Stat(d.path, &now); err != nil || now.Ino != st.Ino || now.Dev != st.Dev {
		return err != nil, nil, 0
	}
	if err := WithGroup(func() error { return os.Remove(d.path) }); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, nil, info.pid
	}
	return true, info.append, 0
}

type lockBody struct {
	pid    int
	host   string
	append *Append
}

// parseBody reads a lock file written by us or by another program:
// "PID:HOST" (ours, with an append record after a NUL; Dovecot's), "PID"
// and "host HOST" on the next line (ours before), only a pid (liblockfile)
// or nothing at all (procmail's lockfile); without a host only the age
// can prove the lock stale.
func parseBody(s string) lockBody {
	var b lockBody
	lines := strings.Split(strings.Replace(s, "\x00", "\n", 1), "\n")
	for i, line := range lines {
		if i > 0 && i == len(lines)-1 {
			break // not ended by a newline: cut short, not to be trusted
		}
		line = strings.TrimSpace(line)
		if i == 0 {
			pid, host, _ := strings.Cut(line, ":")
			b.pid, _ = strconv.Atoi(pid)
			b.host = host
			continue
		}
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "host":
			b.host = f[1]
		case len(f) == 4 && f[0] == "append":
			dev, e1 := strconv.ParseUint(f[1], 10, 64)
			ino, e2 := strconv.ParseUint(f[2], 10, 64)
			size, e3 := strconv.ParseInt(f[3], 10, 64)
			if e1 == nil && e2 == nil && e3 == nil && size >= 0 {
				b.append = &Append{Dev: dev, Ino: ino, Size: size}
			}
		}
	}
	return b
}

func alive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// Recovered reports the append that a dead holder of this lock had begun
// and not finished, or nil. The caller, once it also holds the fcntl lock,
// should cut the mailbox back to Size if it is still the same file and has
// grown past it.
func (d *Dot) Recovered() *Append { return d.recovered }

// BeginAppend records in the lock that an append to the mailbox identified
// by dev and ino starts at size. The record is written in place through the
// lock's descriptor, without fsync: it is there for the next locker when
// this process dies, which is the failure it guards against; one fsync per
// delivery, of the mail itself, is what delivery speed allows.
func (d *Dot) BeginAppend(a Append) error {
	rec := fmt.Sprintf("\x00append %d %d %d\n", a.Dev, a.Ino, a.Size)
	if _, err := d.f.WriteAt([]byte(rec), d.headLen); err != nil {
		return fmt.Errorf("dot-lock %s: record append: %w", d.path, err)
	}
	return nil
}

// EndAppend clears the record: the append is complete and durable.
func (d *Dot) EndAppend() error {
	if err := d.f.Truncate(d.headLen); err != nil {
		return fmt.Errorf("dot-lock %s: clear append record: %w", d.path, err)
	}
	return nil
}

// Touch renews the lock's age, for a holder whose work may outlast the
// stale limit.
func (d *Dot) Touch() error {
	now := time.Now()
	if err := os.Chtimes(d.path, now, now); err != nil {
		return fmt.Errorf("dot-lock %s: %w", d.path, err)
	}
	return nil
}

// Release removes the lock, if it is still ours: a lock broken as stale
// and taken by another is left to its new holder. Releasing twice is
// harmless.
func (d *Dot) Release() error {
	if d == nil || d.released {
		return nil
	}
	d.released = true
	defer d.f.Close()
	var mine, now unix.Stat_t
	if unix.Fstat(int(d.f.Fd()), &mine) == nil && unix.Stat(d.path, &now) == nil && (mine.Ino != now.Ino || mine.Dev != now.Dev) {
		return nil
	}
	if err := WithGroup(func() error { return os.Remove(d.path) }); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("release dot-lock %s: %w", d.path, err)
	}
	return nil
}
