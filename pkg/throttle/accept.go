package throttle

import (
	"errors"
	"net"
	"time"
)

// AcceptPause is an accept loop's wait after accept fails for want of
// resources (EMFILE, ENFILE, ENOBUFS, ENOMEM, a timeout): it doubles from
// 5 ms up to a second while clients leave, instead of spinning.
type AcceptPause struct{ d time.Duration }

// Passes reports whether err is such a failure; if so it logs it with
// logf and waits.
func (p *AcceptPause) Passes(err error, logf func(format string, args ...any)) bool {
	var ne net.Error
	var t interface{ Temporary() bool }
	if !(errors.As(err, &ne) && ne.Timeout() || errors.As(err, &t) && t.Temporary()) {
		return false
	}
	p.d = min(max(2*p.d, 5*time.Millisecond), time.Second)
	logf("accept: %v; retrying in %v", err, p.d)
	time.Sleep(p.d)
	return true
}

// Reset starts the waits again from the shortest: accept worked.
func (p *AcceptPause) Reset() { p.d = 0 }
