package throttle

import (
	"net"
	"sync"
	"time"
)

// ClampConn is a connection whose read deadlines are brought forward to
// Timeout from now while Busy reports true, so that idle clients make room
// when the server is under stress (Postfix's smtpd_timeout under stress).
// Tighten applies the rule to the deadline already set, for a server that
// turns busy while its client sits idle in a long read.
type ClampConn struct {
	net.Conn
	Timeout time.Duration // 0: deadlines are left alone
	Busy    func() bool

	mu   sync.Mutex
	want time.Time // the read deadline the server last asked for
}

func (c *ClampConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.want = t
	return c.Conn.SetReadDeadline(c.clamp(t))
}

func (c *ClampConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

// Tighten brings the pending read deadline forward if the server is busy
// now.
func (c *ClampConn) Tighten() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.clamp(c.want); !t.Equal(c.want) {
		_ = c.Conn.SetReadDeadline(t)
	}
}

// clamp is t, or sooner while the server is busy.
func (c *ClampConn) clamp(t time.Time) time.Time {
	if c.Timeout <= 0 || !c.Busy() {
		return t
	}
	if soon := time.Now().Add(c.Timeout); t.IsZero() || soon.Before(t) {
		return soon
	}
	return t
}
