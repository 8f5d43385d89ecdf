// Package stdioconn turns a process's standard input and output into a
// net.Conn and a one-connection net.Listener, for servers started by inetd,
// xinetd, systemd socket activation, or a parent speaking to a child over
// pipes (sendmail -bs, deliver -l), so that protocol libraries written for
// sockets serve them unchanged.
package stdioconn

import (
	"io"
	"net"
	"sync"
	"time"
)

// Conn is a net.Conn over a reader and a writer.
type Conn struct {
	r      io.Reader
	w      io.Writer
	once   sync.Once
	closed chan struct{}
	peer   net.Addr
}

type addr string

func (a addr) Network() string { return "stdio" }
func (a addr) String() string  { return string(a) }

// New makes a connection reading r and writing w. If r is a socket (inetd
// passes one), callers may name the peer with WithPeer.
func New(r io.Reader, w io.Writer) *Conn {
	return &Conn{r: r, w: w, closed: make(chan struct{}), peer: addr("stdio")}
}

// WithPeer sets the address RemoteAddr reports.
func (c *Conn) WithPeer(a net.Addr) *Conn {
	c.peer = a
	return c
}

func (c *Conn) Read(p []byte) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	return c.r.Read(p)
}

func (c *Conn) Write(p []byte) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	return c.w.Write(p)
}

// Close marks the connection closed; the underlying files stay open for the
// process to close.
func (c *Conn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

// Done is closed when the connection is.
func (c *Conn) Done() <-chan struct{} { return c.closed }

func (c *Conn) LocalAddr() net.Addr                { return addr("stdio") }
func (c *Conn) RemoteAddr() net.Addr               { return c.peer }
func (c *Conn) SetDeadline(t time.Time) error      { return nil }
func (c *Conn) SetReadDeadline(t time.Time) error  { return nil }
func (c *Conn) SetWriteDeadline(t time.Time) error { return nil }

// Listener hands out one connection, then reports itself closed once that
// connection is, so that a server's Serve loop returns.
type Listener struct {
	conn   DoneConn
	mu     sync.Mutex
	handed bool
	done   chan struct{}
	once   sync.Once
}

// DoneConn is a connection that says when it is closed, as Conn does.
type DoneConn interface {
	net.Conn
	Done() <-chan struct{}
}

// Listen makes a listener for c.
func Listen(c DoneConn) *Listener { return &Listener{conn: c, done: make(chan struct{})} }

// Accept returns the connection the first time, then waits for it (or the
// listener) to close.
func (l *Listener) Accept() (net.Conn, error) {
	l.mu.Lock()
	first := !l.handed
	l.handed = true
	l.mu.Unlock()
	if first {
		return l.conn, nil
	}
	select {
	case <-l.conn.Done():
	case <-l.done:
	}
	return nil, net.ErrClosed
}

func (l *Listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *Listener) Addr() net.Addr { return addr("stdio") }
