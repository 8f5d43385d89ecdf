package lock

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Fcntl takes an fcntl(2) lock on the whole of f, exclusive for a writer and
// shared for a reader, waiting at most o.Timeout.
//
// It uses open file description locks (F_OFD_SETLK): they conflict with the
// classic POSIX record locks that procmail, mutt and Dovecot take, but unlike
// those they belong to this descriptor, so closing another descriptor of the
// same file elsewhere in the process does not silently drop them.
func Fcntl(f *os.File, exclusive bool, o Options) error {
	lk := unix.Flock_t{Type: unix.F_RDLCK, Whence: 0, Start: 0, Len: 0}
	if exclusive {
		lk.Type = unix.F_WRLCK
	}
	deadline := time.Now().Add(o.timeout())
	for wait := time.Millisecond; ; {
		err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EACCES) && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("fcntl lock %s: %w", f.Name(), err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("fcntl lock %s: %w", f.Name(), ErrTimeout)
		}
		time.Sleep(wait)
		if wait < 100*time.Millisecond {
			wait *= 2
		}
	}
}

// Unfcntl releases the lock Fcntl took on f.
func Unfcntl(f *os.File) error {
	lk := unix.Flock_t{Type: unix.F_UNLCK}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		return fmt.Errorf("fcntl unlock %s: %w", f.Name(), err)
	}
	return nil
}
