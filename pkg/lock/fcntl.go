package lock

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// TryFcntl takes an fcntl(2) lock on the whole of f, exclusive for a writer
// and shared for a reader, if it can at once; a lock held elsewhere is a
// *BusyError naming the holder's pid when the kernel knows it.
//
// It uses open file description locks (F_OFD_SETLK): they conflict with the
// classic POSIX record locks that procmail, mutt and Dovecot take, but unlike
// those they belong to this descriptor, so closing another descriptor of the
// same file elsewhere in the process does not silently drop them.
func TryFcntl(f *os.File, exclusive bool) error {
	lk := unix.Flock_t{Type: unix.F_RDLCK, Whence: 0, Start: 0, Len: 0}
	if exclusive {
		lk.Type = unix.F_WRLCK
	}
	for {
		err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EACCES):
			busy := &BusyError{Path: f.Name(), Kind: "fcntl lock"}
			if unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, &lk) == nil && lk.Type != unix.F_UNLCK && lk.Pid > 0 {
				busy.Pid = int(lk.Pid)
			}
			return busy
		}
		return fmt.Errorf("fcntl lock %s: %w", f.Name(), err)
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
