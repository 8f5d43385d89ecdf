package smtpd

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"

	"github.com/emersion/go-smtp"

	"unixmail/pkg/throttle"
)

// Each connection gets its own go-smtp server, for one reason: go-smtp
// shows a server's Debug writer every byte it reads, after TLS and before
// its line and dot readers, and that is the only place where the raw
// client bytes can be checked (see rawCheck). The server is small; the
// backend and its throttles stay shared.

// serveConn serves one connection and returns when it is closed. srvs, if
// not nil, learns the connection's server so that it can be closed.
func serveConn(be *backend, c net.Conn, srvs *serverSet) error {
	wc := &watchedConn{Conn: c, closed: make(chan struct{})}
	raw := &rawCheck{}
	cb := &connBackend{backend: be, raw: raw}
	cb.authFailures = be.auth.Session(throttle.AddrKey(c.RemoteAddr()))
	srv := newServer(cb, &be.policy, be.log)
	srv.Debug = raw
	if be.stdio {
		// A pipe has no deadlines; inetd or the calling program
		// decides how long the session may last.
		srv.ReadTimeout, srv.WriteTimeout = 0, 0
	}
	if srvs != nil && !srvs.add(srv) {
		return c.Close() // the server is closing
	}
	defer srvs.remove(srv)
	err := srv.Serve(&oneConnListener{conn: wc})
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// connBackend is the backend as one connection sees it: what must
// survive STARTTLS, which makes go-smtp start a new session, lives here.
type connBackend struct {
	*backend
	raw          *rawCheck
	authFailures *throttle.Session
}

// watchedConn tells its listener when it is closed.
type watchedConn struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func (c *watchedConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// oneConnListener hands out its connection once, then blocks until that
// connection is closed, so that Serve returns when the session is over.
type oneConnListener struct {
	conn   *watchedConn
	handed atomic.Bool
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	if !l.handed.Swap(true) {
		return l.conn, nil
	}
	<-l.conn.closed
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error   { return l.conn.Close() }
func (l *oneConnListener) Addr() net.Addr { return l.conn.LocalAddr() }

// serverSet is the servers of the open connections.
type serverSet struct {
	mu     sync.Mutex
	srvs   map[*smtp.Server]struct{}
	closed bool
}

func (s *serverSet) add(srv *smtp.Server) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.srvs == nil {
		s.srvs = make(map[*smtp.Server]struct{})
	}
	s.srvs[srv] = struct{}{}
	return true
}

func (s *serverSet) remove(srv *smtp.Server) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.srvs, srv)
}

// closeAll closes every connection and refuses new ones.
func (s *serverSet) closeAll() {
	s.mu.Lock()
	s.closed = true
	srvs := s.srvs
	s.srvs = nil
	s.mu.Unlock()
	for srv := range srvs {
		_ = srv.Close()
	}
}
