package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// pipeConn is a net.Conn over two descriptors, for a client on pipes (a
// parent process, `ssh host imapd`, tests). Pipes are made non-blocking so
// that the runtime poller serves them and deadlines work as on a socket.
type pipeConn struct {
	r, w *os.File
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "local" }

// pollable returns a new *os.File for a copy of fd; a pipe's copy is made
// non-blocking so that deadlines work. A terminal is left as it is: its
// mode is shared with the shell that started us.
//
// A pipe is also given room for pipeRoom bytes where the system allows
// (pipe-max-size, 1 MiB by default, for every user): with the usual
// 64 KiB, a FETCH of 100 bodies (2 MB) waited for the client 34 times, a
// wake-up of each side each time.
func pollable(fd int, name string) (*os.File, error) {
	nfd, err := unix.Dup(fd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	unix.CloseOnExec(nfd)
	var st unix.Stat_t
	if err := unix.Fstat(nfd, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFIFO {
		unix.SetNonblock(nfd, true)
		unix.FcntlInt(uintptr(nfd), unix.F_SETPIPE_SZ, pipeRoom) // refused, the pipe is as it was
	}
	return os.NewFile(uintptr(nfd), name), nil
}

// pipeRoom is the room asked for a pipe's buffer (the kernel's pages are
// taken only as data waits in it).
const pipeRoom = 1 << 20

func (c *pipeConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *pipeConn) Write(p []byte) (int, error) { return c.w.Write(p) }

func (c *pipeConn) Close() error {
	return errors.Join(c.r.Close(), c.w.Close())
}

func (c *pipeConn) LocalAddr() net.Addr  { return pipeAddr{} }
func (c *pipeConn) RemoteAddr() net.Addr { return pipeAddr{} }

// Deadlines on a terminal are not supported: it errs, and the session
// has no idle timeout there (someone is at the keyboard).
func (c *pipeConn) SetDeadline(t time.Time) error {
	c.r.SetReadDeadline(t)
	c.w.SetWriteDeadline(t)
	return nil
}

// SetReadDeadline says when it cannot be had (a terminal), so that a
// caller that only looks for input already there knows a read would wait.
func (c *pipeConn) SetReadDeadline(t time.Time) error {
	return c.r.SetReadDeadline(t)
}

func (c *pipeConn) SetWriteDeadline(t time.Time) error {
	c.w.SetWriteDeadline(t)
	return nil
}
