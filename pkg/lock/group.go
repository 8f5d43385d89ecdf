package lock

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// The mail group step. On Debian /var/mail is root:mail 2775: a user may
// not create files there, so a reader cannot make its dot-lock. bsd-mailx
// and procmail are installed setgid mail for this, and use the group only
// while they make or remove the lock; mutt runs a setgid helper. Our
// programs that may touch /var/mail are installed setgid mail the same way
// (make install): DropGroup, first thing in main, gives up the group, and
// WithGroup takes it back for one call that makes or removes a file in a
// mailbox's directory (the dot-lock, a rewrite's journal). A setgid
// program is not dumpable, so the user cannot borrow the group through
// ptrace either.
var (
	groupMu  sync.Mutex
	mailGid  = -1 // the group we were installed with; -1 when none
	realGid  = -1
	dropOnce sync.Once
)

// DropGroup gives up a set-group-ID the program was started with, keeping
// it for WithGroup. It does nothing in a program that is not setgid.
func DropGroup() error {
	var err error
	dropOnce.Do(func() {
		r, e := syscall.Getgid(), syscall.Getegid()
		if r == e {
			return
		}
		// syscall.Setegid changes every thread of the process.
		if err = syscall.Setegid(r); err != nil {
			err = fmt.Errorf("give up group %d: %w", e, err)
			return
		}
		mailGid, realGid = e, r
	})
	return err
}

// SetGroup makes gid the real and effective group of a process run as
// root, for good, as setgid(2) does, but keeps the group DropGroup gave up
// as the saved one, so that WithGroup still works once the process has
// become a user.
func SetGroup(gid int) error {
	groupMu.Lock()
	defer groupMu.Unlock()
	if mailGid < 0 {
		return syscall.Setgid(gid)
	}
	// syscall.Setresgid changes every thread of the process.
	if err := syscall.Setresgid(gid, gid, mailGid); err != nil {
		return err
	}
	realGid = gid
	return nil
}

// WithGroup runs fn with the group DropGroup gave up, if any. It is for
// creating and removing files beside a mailbox, nothing else.
//
// The group is taken as the file-system group (setfsgid(2)) of one
// thread alone, for fn, which runs on a goroutine of its own pinned to
// that thread: that group is what the kernel checks and gives new files,
// and a change made for the whole process (syscall.Setegid) is a signal
// to every thread and a wait for each, twice per call, a few per
// delivery. No other goroutine runs on the thread meanwhile, and the
// group is the process's saved one, which any of its threads may take
// back at any time anyway: the per-thread change gives nothing the
// process does not hold already. A thread whose group cannot be given
// back (nor one whose change failed half way) is never used again: its
// goroutine ends still pinned to it, and the runtime ends the thread with
// it. The caller's goroutine never runs on it. A panic in fn is the
// caller's, once the group is given back.
func WithGroup(fn func() error) error {
	groupMu.Lock()
	defer groupMu.Unlock()
	if mailGid < 0 {
		return fn()
	}
	type result struct {
		err      error
		panicked any
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		r := result{err: errors.New("the call with the mail group did not return")}
		defer func() { done <- r }()
		prev, err := setfsgidOn(mailGid)
		if err != nil {
			r.err = fmt.Errorf("take group %d: %w", mailGid, err)
			return
		}
		defer func() {
			if p := recover(); p != nil {
				r = result{panicked: p}
			}
			if _, err := setfsgidOn(prev); err != nil {
				r.err = errors.Join(r.err, fmt.Errorf("give back group %d: %w", mailGid, err))
				return
			}
			runtime.UnlockOSThread()
		}()
		r.err = fn()
	}()
	r := <-done
	if r.panicked != nil {
		panic(r.panicked)
	}
	return r.err
}

// setfsgidOn is setfsgid; tests make it fail.
var setfsgidOn = setfsgid

// setfsgid makes gid this thread's file-system group and returns the one
// it had. setfsgid(2) reports no error, only the group it found: the
// change is proved by a second call, which must find gid.
func setfsgid(gid int) (int, error) {
	prev, _ := unix.SetfsgidRetGid(gid)
	if now, _ := unix.SetfsgidRetGid(gid); now != gid {
		return prev, fmt.Errorf("setfsgid %d: the thread's group stays %d", gid, now)
	}
	return prev, nil
}
