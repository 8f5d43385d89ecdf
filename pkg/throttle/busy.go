package throttle

import (
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A server that hands each connection to a process of its own (ipop3d
// and imapd with --listen, sendmail -bd's parsers) counts connections in
// the listener alone, so the listener tells every session when it turns
// busy (half of client_connection_limit in use) and when it stops being,
// one byte on a pipe each session reads (FollowBusy). A session then
// gives its idle client client_busy_timeout at most, as a server does in
// one process (ClampConn). A pipe rather than a signal: a signal sent
// before the new process has set up its handler would kill it.
const (
	busyOn  = '1'
	busyOff = '0'
)

// BusyBoard is the listener's side: the write end of every session's
// pipe and the state last sent.
type BusyBoard struct {
	mu       sync.Mutex
	busy     bool
	sessions map[*os.File]struct{}
}

// Join makes the pipe a new session reads (r, for the session), already
// told the state now; w goes back to Leave when the session ends.
func (b *BusyBoard) Join() (r, w *os.File, err error) {
	r, w, err = os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	// Never block the listener on a session that does not read: a byte
	// that does not fit is dropped (the pipe holds 64 KiB of them).
	if err := unix.SetNonblock(int(w.Fd()), true); err != nil {
		r.Close()
		w.Close()
		return nil, nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sessions == nil {
		b.sessions = map[*os.File]struct{}{}
	}
	b.sessions[w] = struct{}{}
	send(w, b.busy)
	return r, w, nil
}

// Leave forgets a session's pipe.
func (b *BusyBoard) Leave(w *os.File) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.sessions, w)
	w.Close()
}

// Set tells every session the state, if it changed.
func (b *BusyBoard) Set(busy bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if busy == b.busy {
		return
	}
	b.busy = busy
	for w := range b.sessions {
		send(w, busy)
	}
}

func send(w *os.File, busy bool) {
	c := []byte{busyOff}
	if busy {
		c[0] = busyOn
	}
	// A raw write: os.File's would wait in the poller for room.
	_, _ = unix.Write(int(w.Fd()), c)
}

// FollowBusy is the session's side: conn with its read deadlines clamped
// to timeout while the listener says, on the pipe at descriptor fd, that
// it is busy. Without the pipe (a session from inetd or systemd), or with
// no timeout, conn is returned as it is.
func FollowBusy(conn net.Conn, fd int, timeout time.Duration) net.Conn {
	var st unix.Stat_t
	if timeout <= 0 || unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return conn
	}
	syscall.CloseOnExec(fd)
	var busy atomic.Bool
	c := &ClampConn{Conn: conn, Timeout: timeout, Busy: busy.Load}
	pipe := os.NewFile(uintptr(fd), "busy")
	go func() {
		defer pipe.Close()
		buf := make([]byte, 64)
		for {
			n, err := pipe.Read(buf)
			if n > 0 {
				busy.Store(buf[n-1] == busyOn)
				c.Tighten()
			}
			if err != nil {
				return
			}
		}
	}()
	return c
}
