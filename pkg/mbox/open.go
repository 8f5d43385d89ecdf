package mbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"unixmail/pkg/lock"
)

// ErrUnsafe is wrapped by every refusal to touch a mailbox because of what
// it is: a symbolic link, not a regular file, hard-linked, or owned by
// someone else (CVE-2016-6253, CVE-2010-2023 and their kin).
var ErrUnsafe = errors.New("unsafe mailbox")

// OpenOptions says how to open a mailbox.
type OpenOptions struct {
	Create   bool // create it (mode 0600) when missing
	Owner    int  // required owner uid; -1 = do not check
	ReadOnly bool // shared fcntl lock, no writes
	Lock     lock.Options
	// NoDotLock goes without the dot-lock when the directory does not let
	// us make one (e.g. /var/mail without group mail), or has no room for
	// it (a full disk), with fcntl alone.
	NoDotLockOK bool
	// Warn is told what the mailbox's owner must hear of: a journal
	// that no longer matches the mailbox, set aside (see journalcheck.go).
	Warn func(format string, args ...any)
}

// Mailbox is an open, locked mbox file.
type Mailbox struct {
	Path    string
	File    *os.File
	dot     *lock.Dot
	created bool
	ro      bool
	moved   *moves // what the last RewriteSome did, for ReindexRewritten
	// synced: the last rewrite synced the file (ReindexRewritten drops
	// the mark of flags not synced).
	synced bool
	warn   func(format string, args ...any)
}

// Created reports whether Open created the file.
func (mb *Mailbox) Created() bool { return mb.created }

// Open opens the mbox at path safely and locks it. It never follows a
// symbolic link (lstat, O_NOFOLLOW, and the opened file compared with what
// lstat saw), and refuses anything but a regular file with one link owned
// by o.Owner.
//
// The two locks are taken without ever waiting for one while holding the
// other: the dot-lock, then fcntl without waiting; if that is busy both go
// and Open tries again after a random pause (lock.Backoff) until
// o.Lock.Timeout, then fails with an error wrapping lock.ErrTimeout that
// names the mailbox and the holder. procmail takes the dot-lock first and
// Debian's Dovecot and mutt fcntl first; with either, a program that waits
// holding one lock can deadlock.
//
// Holding both, Open repairs what a dead program left: a half-written
// append (recorded in the dot-lock, see lock.Dot.Recovered) is cut off,
// and a rewrite's journal (see RewriteWith) is rolled back, so that the
// caller sees the mailbox as it was before.
func Open(path string, o OpenOptions) (*Mailbox, error) {
	if err := checkPath(path, o.Owner, true); err != nil && !(o.Create && errors.Is(err, os.ErrNotExist)) {
		return nil, err
	}
	b := lock.NewBackoff(o.Lock)
	var t try
	var queued *lock.Waiter // once the locks were found busy: see lock.Queue
	defer func() { queued.Close() }()
	for {
		mb, err := t.open(path, o)
		if err == nil {
			return mb, nil
		}
		if !errors.Is(err, lock.ErrBusy) {
			return nil, err
		}
		if queued == nil {
			queued = lock.Queue(path)
		}
		if !b.WaitQueued(queued) {
			return nil, fmt.Errorf("mailbox %s is locked: %w: %w", path, err, lock.ErrTimeout)
		}
	}
}

// try is what one attempt of Open hands to the next.
type try struct {
	created bool
	// rec is an append a dead holder of the dot-lock left unfinished,
	// found by an attempt that then had to let go; size is the mailbox's
	// size then. The record went with the lock, so it is applied by a
	// later attempt only if the mailbox has not changed since.
	rec  *lock.Append
	size int64
}

func (t *try) open(path string, o OpenOptions) (*Mailbox, error) {
	mb := &Mailbox{Path: path, ro: o.ReadOnly, warn: o.Warn}
	dot, err := lock.TryDot(path, o.Lock)
	if err != nil {
		if !(o.NoDotLockOK && (errors.Is(err, lock.ErrNoPermission) || errors.Is(err, lock.ErrNoRoom))) {
			return nil, err
		}
		dot = nil
	}
	mb.dot = dot
	if err := mb.openFile(o); err != nil {
		mb.dot.Release()
		return nil, err
	}
	t.created = t.created || mb.created
	mb.created = t.created
	if rec := mb.recovered(); rec != nil {
		t.rec, t.size = rec, -1
		if fi, err := mb.File.Stat(); err == nil {
			t.size = fi.Size()
		}
	}
	fail := func(err error) (*Mailbox, error) {
		mb.File.Close()
		mb.dot.Release()
		return nil, err
	}
	if t.rec != nil || hasJournal(path) {
		if err := mb.repair(t, o); err != nil {
			return fail(err)
		}
	}
	if err := lock.TryFcntl(mb.File, !o.ReadOnly); err != nil {
		return fail(err)
	}
	// Another program may have renamed a new file over the name between
	// our open and our lock: lock that one instead.
	if fi, err := os.Lstat(path); err != nil || !sameStat(mb.File, fi) {
		lock.Unfcntl(mb.File)
		return fail(fmt.Errorf("mailbox %s was replaced while being locked: %w", path, lock.ErrBusy))
	}
	return mb, nil
}

func sameStat(f *os.File, fi os.FileInfo) bool {
	fst, err := f.Stat()
	return err == nil && os.SameFile(fst, fi)
}

// repair rolls back, under an exclusive lock, what a dead writer left. A
// reader does it through a writable descriptor of its own, taken and let
// go before it takes its shared lock; a reader that may not write the
// file leaves it as it is (it cannot do better).
func (mb *Mailbox) repair(t *try, o OpenOptions) error {
	w := mb.File
	if o.ReadOnly {
		var err error
		w, err = os.OpenFile(mb.Path, os.O_RDWR|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
		if err != nil {
			return nil
		}
		defer w.Close() // drops w's lock; the shared one on mb.File comes next
		if !sameFile(w, mb.File) {
			return nil
		}
	}
	if err := lock.TryFcntl(w, true); err != nil {
		return err
	}
	if err := recoverJournal(w, mb.Path, o.Warn); err != nil {
		return err
	}
	if t.rec != nil {
		if fi, err := w.Stat(); err == nil && (t.size < 0 || fi.Size() == t.size) {
			if err := mb.rollback(w, t.rec); err != nil {
				return err
			}
		}
		t.rec = nil
	}
	if o.ReadOnly {
		return lock.Unfcntl(w)
	}
	return nil
}

func sameFile(a, b *os.File) bool {
	var as, bs unix.Stat_t
	return unix.Fstat(int(a.Fd()), &as) == nil && unix.Fstat(int(b.Fd()), &bs) == nil && as.Dev == bs.Dev && as.Ino == bs.Ino
}

// checkPath refuses what must not be opened. With mustExist false, a
// missing file is fine.
func checkPath(path string, owner int, mustExist bool) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			if mustExist {
				return fmt.Errorf("mailbox %s: %w", path, os.ErrNotExist)
			}
			return nil
		}
		return fmt.Errorf("mailbox %s: %w", path, err)
	}
	return checkStat(path, &st, owner)
}

func checkStat(path string, st *unix.Stat_t, owner int) error {
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return fmt.Errorf("mailbox %s is a symbolic link: %w", path, ErrUnsafe)
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return fmt.Errorf("mailbox %s is not a regular file: %w", path, ErrUnsafe)
	case st.Nlink != 1:
		return fmt.Errorf("mailbox %s has %d hard links: %w", path, st.Nlink, ErrUnsafe)
	case owner >= 0 && int(st.Uid) != owner:
		return fmt.Errorf("mailbox %s is owned by uid %d, not %d: %w", path, st.Uid, owner, ErrUnsafe)
	}
	return nil
}

func (mb *Mailbox) openFile(o OpenOptions) error {
	flags := os.O_RDWR | syscall.O_NOFOLLOW | syscall.O_CLOEXEC
	if o.ReadOnly {
		flags = os.O_RDONLY | syscall.O_NOFOLLOW | syscall.O_CLOEXEC
	}
	f, err := os.OpenFile(mb.Path, flags, 0)
	if errors.Is(err, os.ErrNotExist) && o.Create {
		f, err = os.OpenFile(mb.Path, flags|os.O_CREATE|os.O_EXCL, 0600)
		if err == nil {
			mb.created = true
			// The new name must survive a crash as the mail in it will.
			syncDir(filepath.Dir(mb.Path))
		} else if errors.Is(err, os.ErrExist) {
			f, err = os.OpenFile(mb.Path, flags, 0)
		}
	}
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return fmt.Errorf("mailbox %s is a symbolic link: %w", mb.Path, ErrUnsafe)
		}
		return fmt.Errorf("open mailbox %s: %w", mb.Path, err)
	}
	// What we opened must be what we checked: the name may have been
	// swapped between lstat and open.
	var fst, lst unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &fst); err != nil {
		f.Close()
		return fmt.Errorf("stat mailbox %s: %w", mb.Path, err)
	}
	if err := unix.Lstat(mb.Path, &lst); err != nil || lst.Dev != fst.Dev || lst.Ino != fst.Ino {
		f.Close()
		return fmt.Errorf("mailbox %s changed while being opened: %w", mb.Path, ErrUnsafe)
	}
	if err := checkStat(mb.Path, &fst, o.Owner); err != nil {
		f.Close()
		return err
	}
	mb.File = f
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// rollback cuts off what a dead appender left, if f is the mailbox it was
// appending to and has grown past the size it recorded.
func (mb *Mailbox) rollback(f *os.File, rec *lock.Append) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("stat mailbox %s: %w", mb.Path, err)
	}
	if st.Dev != rec.Dev || st.Ino != rec.Ino || st.Size <= rec.Size {
		return nil
	}
	if err := f.Truncate(rec.Size); err != nil {
		return fmt.Errorf("roll back interrupted append to %s: %w", mb.Path, err)
	}
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return fmt.Errorf("roll back interrupted append to %s: %w", mb.Path, err)
	}
	return nil
}

// Size is the mailbox's current size.
func (mb *Mailbox) Size() (int64, error) {
	fi, err := mb.File.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat mailbox %s: %w", mb.Path, err)
	}
	return fi.Size(), nil
}

// Append adds to the end of the mailbox what write writes, all or nothing:
// the mailbox is first made to end in a blank line, and the append is
// reported done only after fdatasync. On any failure (a write error,
// ENOSPC, EFBIG from ulimit -f, ctx cancelled by a signal) the file is cut
// back to its old size. A SIGKILL cannot be caught: for that the old size
// is recorded in the dot-lock first, and the next Open cuts it back.
func (mb *Mailbox) Append(ctx context.Context, write func(w io.Writer) error) error {
	return mb.AppendAlong(ctx, write, nil)
}

// AppendAlong is Append that runs along (unless nil) once what write wrote
// is in the file, while it is synced to disk: a caller that must make
// something else last too before it reports the append done (imapd its
// index, which holds the UIDs it gives) syncs it in the same wait, not
// one after the other. The append fails, and is cut back, if along does.
func (mb *Mailbox) AppendAlong(ctx context.Context, write func(w io.Writer) error, along func() error) error {
	return mb.appendWith(ctx, write, along, true)
}

// AppendUnsynced is AppendAlong without the sync: what write wrote is in
// the file when it returns, and the caller must Sync before it reports the
// append done. A caller that holds the mailbox locked across many appends
// (imapd, a client pipelining APPENDs) waits for the disk once for them
// all. A failed append is still cut back, and that synced.
func (mb *Mailbox) AppendUnsynced(ctx context.Context, write func(w io.Writer) error, along func() error) error {
	return mb.appendWith(ctx, write, along, false)
}

// Sync makes what was written to the mailbox last (fdatasync).
func (mb *Mailbox) Sync() error {
	if err := unix.Fdatasync(int(mb.File.Fd())); err != nil {
		return fmt.Errorf("sync %s: %w", mb.Path, err)
	}
	return nil
}

func (mb *Mailbox) appendWith(ctx context.Context, write func(w io.Writer) error, along func() error, sync bool) (err error) {
	if mb.ro {
		return fmt.Errorf("append to %s: opened read-only", mb.Path)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(mb.File.Fd()), &st); err != nil {
		return fmt.Errorf("stat mailbox %s: %w", mb.Path, err)
	}
	old := st.Size
	if old > 0 && !startsLikeMbox(mb.File) {
		// Appending would make the new message unreachable to every
		// reader (ours refuse such a file); 75 lets the MTA keep it.
		return fmt.Errorf("append to %s: %w", mb.Path, ErrNotMbox)
	}
	if mb.dot != nil {
		if err := mb.dot.BeginAppend(lock.Append{Dev: st.Dev, Ino: st.Ino, Size: old}); err != nil {
			return err
		}
	}
	defer func() {
		if err != nil {
			if terr := mb.File.Truncate(old); terr != nil {
				err = fmt.Errorf("%w; and truncating back to %d bytes failed: %v", err, old, terr)
				return // leave the record in the lock: the next locker retries
			}
			unix.Fdatasync(int(mb.File.Fd()))
		}
		if mb.dot != nil {
			if eerr := mb.dot.EndAppend(); eerr != nil && err == nil {
				err = eerr
			}
		}
	}()
	if _, err := mb.File.Seek(old, io.SeekStart); err != nil {
		return fmt.Errorf("append to %s: %w", mb.Path, err)
	}
	cw := &ctxWriter{ctx: ctx, w: mb.File}
	bw := bufio.NewWriterSize(cw, 64<<10)
	if pad := padding(mb.File, old); pad != "" {
		bw.WriteString(pad)
	}
	if err := write(bw); err != nil {
		return fmt.Errorf("append to %s: %w", mb.Path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("append to %s: %w", mb.Path, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("append to %s: %w", mb.Path, err)
	}
	if !sync {
		if along != nil {
			if err := along(); err != nil {
				return fmt.Errorf("append to %s: %w", mb.Path, err)
			}
		}
		return nil
	}
	synced := make(chan error, 1)
	if along == nil {
		synced <- unix.Fdatasync(int(mb.File.Fd()))
	} else {
		go func() { synced <- unix.Fdatasync(int(mb.File.Fd())) }()
		if err := along(); err != nil {
			<-synced
			return fmt.Errorf("append to %s: %w", mb.Path, err)
		}
	}
	if err := <-synced; err != nil {
		return fmt.Errorf("append to %s: fsync: %w", mb.Path, err)
	}
	return nil
}

// startsLikeMbox reports whether f begins with "From ", as every mbox does.
func startsLikeMbox(f io.ReaderAt) bool {
	var head [5]byte
	n, _ := f.ReadAt(head[:], 0)
	return string(head[:n]) == "From "
}

// padding is what makes a non-empty mailbox end in a blank line, so the
// From_ line we add starts a message and the last message keeps its text.
// A CRLF file's blank line is CRLF: adding an LF to it would give its last
// message a line more.
func padding(f *os.File, size int64) string {
	if size == 0 {
		return ""
	}
	var tail [4]byte
	n := min(size, 4)
	if _, err := f.ReadAt(tail[4-n:], size-n); err != nil {
		return "\n\n"
	}
	switch {
	case tail[3] != '\n':
		return "\n\n"
	case size == 1 || tail[2] == '\n' || string(tail[:]) == "\r\n\r\n":
		return ""
	}
	return "\n"
}

type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c *ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// Close releases the locks and closes the file.
func (mb *Mailbox) Close() error {
	turn, err := mb.CloseForTurn()
	turn.Close()
	return err
}

// CloseForTurn is Close that wakes the program of ours waiting for the
// locks, if any (lock.Wake), and gives its turn: a caller about to lock
// the mailbox again waits for it (lock.Turn.Wait) to let it in first.
func (mb *Mailbox) CloseForTurn() (*lock.Turn, error) {
	var errs []error
	var turn *lock.Turn
	if mb.File != nil {
		lock.Unfcntl(mb.File)
		errs = append(errs, mb.dot.Release())
		turn = lock.Wake(mb.File)
		errs = append(errs, mb.File.Close())
	} else {
		errs = append(errs, mb.dot.Release())
	}
	return turn, errors.Join(errs...)
}

func (mb *Mailbox) recovered() *lock.Append {
	if mb.dot == nil {
		return nil
	}
	return mb.dot.Recovered()
}
