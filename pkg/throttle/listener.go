package throttle

import (
	"net"
	"sync"
	"time"
)

// Listener wraps a net.Listener so that every connection it returns holds
// a slot of the Limiter until it is closed. A connection past a limit is
// handed to Refuse (which writes the protocol's "try again later" line)
// and closed; Accept goes on to the next one.
//
// While the Limiter is Busy, a read deadline set on a connection is
// brought forward to BusyTimeout from now, so idle clients make room
// sooner (Postfix's smtpd_timeout under stress).
type Listener struct {
	net.Listener
	Limiter     *Limiter
	BusyTimeout time.Duration // 0: deadlines are left alone
	// Refuse writes the refusal to a connection over a limit; err is
	// ErrTooManyConnections or ErrTooManyFromAddress. Nil closes silently.
	// It runs in Accept's goroutine, with a write deadline of a second.
	Refuse func(c net.Conn, key string, err error)
}

// refuseTimeout bounds the time Accept spends on a refused client.
const refuseTimeout = time.Second

// Accept returns the next connection within the limits.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := AddrKey(c.RemoteAddr())
		if err := l.Limiter.Acquire(key); err != nil {
			if l.Refuse != nil {
				_ = c.SetWriteDeadline(time.Now().Add(refuseTimeout))
				l.Refuse(c, key, err)
			}
			_ = c.Close()
			continue
		}
		return &conn{ClampConn: ClampConn{Conn: c, Timeout: l.BusyTimeout, Busy: l.Limiter.Busy}, l: l, key: key}, nil
	}
}

// conn gives its slot back once, when closed.
type conn struct {
	ClampConn
	l    *Listener
	key  string
	once sync.Once
}

func (c *conn) Close() error {
	c.once.Do(func() { c.l.Limiter.Release(c.key) })
	return c.Conn.Close()
}
