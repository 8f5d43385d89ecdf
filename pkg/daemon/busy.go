package daemon

import (
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"unixmail/pkg/throttle"
)

// With --listen each session is a process of its own, so the listener,
// which alone counts connections, tells every session when it turns busy
// (half of client_connection_limit in use) and when it stops being, one
// byte on a pipe each session reads as its descriptor busyFD. A session
// then gives its idle client client_busy_timeout at most, as the SMTP
// server does in one process (throttle.ClampConn). A pipe rather than a
// signal: a signal sent before the new process has set up its handler
// would kill it.
const busyFD = 3

const (
	busyOn  = '1'
	busyOff = '0'
)

// busyBoard is the listener's side: the write end of every session's pipe
// and the state last sent.
type busyBoard struct {
	mu       sync.Mutex
	busy     bool
	sessions map[*os.File]struct{}
}

// join makes the pipe a new session reads, already told the state now.
func (b *busyBoard) join() (r, w *os.File, err error) {
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

// leave forgets a session's pipe.
func (b *busyBoard) leave(w *os.File) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.sessions, w)
	w.Close()
}

// set tells every session the state, if it changed.
func (b *busyBoard) set(busy bool) {
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

// followBusy is the session's side: conn with its read deadlines clamped
// while the listener says it is busy. Without the pipe (a session from
// inetd or systemd) conn is returned as it is.
func followBusy(conn net.Conn, o Options) net.Conn {
	var st unix.Stat_t
	if o.Config.ClientBusyTimeout <= 0 || unix.Fstat(busyFD, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return conn
	}
	syscall.CloseOnExec(busyFD)
	var busy atomic.Bool
	c := &throttle.ClampConn{Conn: conn, Timeout: o.Config.ClientBusyTimeout, Busy: busy.Load}
	pipe := os.NewFile(busyFD, "busy")
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
