package lock

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ErrInUse is returned by Session when another live session holds the
// mailbox.
var ErrInUse = errors.New("mailbox in use by another session")

// SessionLock marks a mailbox as held by one POP3 session (RFC 1939's
// exclusive maildrop) without locking the file, so that deliver, mail and
// imapd go on appending and reading. It dies with the process.
type SessionLock struct{ fd int }

// Session takes the session lock of the mailbox at path: a listening
// socket in Linux's abstract namespace, named by the file's device and
// inode (or by its path while it does not exist). No file is left behind
// and nothing stale survives a crash. A name held by a process of another
// user (not root, not owner) is a squatter and is ignored, so that no one
// can shut another user out of their mail.
func Session(path string, owner int) (*SessionLock, error) {
	name := "unixmail-session:" + path
	var st unix.Stat_t
	if unix.Stat(path, &st) == nil {
		name = fmt.Sprintf("unixmail-session:%d:%d", st.Dev, st.Ino)
	}
	addr := &unix.SockaddrUnix{Name: "@" + name}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("session lock: %w", err)
	}
	err = unix.Bind(fd, addr)
	if err == nil {
		if err := unix.Listen(fd, 1); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("session lock: %w", err)
		}
		return &SessionLock{fd: fd}, nil
	}
	unix.Close(fd)
	if !errors.Is(err, unix.EADDRINUSE) {
		return nil, fmt.Errorf("session lock: %w", err)
	}
	if uid, ok := holder(addr); ok && uid != 0 && uid != owner && uid != os.Getuid() {
		return &SessionLock{fd: -1}, nil
	}
	return nil, ErrInUse
}

// holder is the uid of the process listening on addr.
func holder(addr *unix.SockaddrUnix) (int, bool) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, false
	}
	defer unix.Close(fd)
	if unix.Connect(fd, addr) != nil {
		return 0, false
	}
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return 0, false
	}
	return int(cred.Uid), true
}

// Release lets the next session in.
func (s *SessionLock) Release() {
	if s != nil && s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
}
