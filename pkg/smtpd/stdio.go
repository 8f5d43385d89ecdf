package smtpd

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// ServeStdio runs one SMTP session on in and out, for sendmail -bs (and
// inetd). It returns when the session ends.
func ServeStdio(p Policy, q Queue, log Logger, in io.Reader, out io.Writer) error {
	srv := newServer(&backend{policy: p, queue: q, log: log, stdio: true})
	// A pipe has no deadlines; inetd or the calling program decides how
	// long the session may last.
	srv.ReadTimeout, srv.WriteTimeout = 0, 0
	c := &stdioConn{in: in, out: out, closed: make(chan struct{})}
	err := srv.Serve(&oneConnListener{conn: c})
	if errors.Is(err, errListenerDone) {
		return nil
	}
	return err
}

var errListenerDone = errors.New("smtpd: stdio session over")

// oneConnListener hands out its connection once, then blocks until that
// connection is closed, so that Serve returns only when the session is over.
type oneConnListener struct {
	conn *stdioConn
	once sync.Once
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	var c net.Conn
	l.once.Do(func() { c = l.conn })
	if c != nil {
		return c, nil
	}
	<-l.conn.closed
	return nil, errListenerDone
}

func (l *oneConnListener) Close() error   { return l.conn.Close() }
func (l *oneConnListener) Addr() net.Addr { return stdioAddr{} }

// stdioConn is a net.Conn over standard input and output.
type stdioConn struct {
	in        io.Reader
	out       io.Writer
	closeOnce sync.Once
	closed    chan struct{}
}

func (c *stdioConn) Read(b []byte) (int, error)  { return c.in.Read(b) }
func (c *stdioConn) Write(b []byte) (int, error) { return c.out.Write(b) }

func (c *stdioConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return nil
}

func (c *stdioConn) LocalAddr() net.Addr              { return stdioAddr{} }
func (c *stdioConn) RemoteAddr() net.Addr             { return stdioAddr{} }
func (c *stdioConn) SetDeadline(time.Time) error      { return nil }
func (c *stdioConn) SetReadDeadline(time.Time) error  { return nil }
func (c *stdioConn) SetWriteDeadline(time.Time) error { return nil }

type stdioAddr struct{}

func (stdioAddr) Network() string { return "pipe" }
func (stdioAddr) String() string  { return "stdio" }
