package lock

import (
	"fmt"
	"sync"
	"syscall"
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
func WithGroup(fn func() error) error {
	groupMu.Lock()
	defer groupMu.Unlock()
	if mailGid < 0 {
		return fn()
	}
	if err := syscall.Setegid(mailGid); err != nil {
		return fmt.Errorf("take group %d: %w", mailGid, err)
	}
	defer syscall.Setegid(realGid)
	return fn()
}
