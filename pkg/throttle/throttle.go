// Package throttle keeps a network server standing under floods: a Limiter
// caps the connections held open, in total and per client address, and
// Listener applies it to a net.Listener (refusing the surplus and
// shortening idle timeouts while the server is busy); a Tracker slows down
// and cuts off clients that keep failing to authenticate, counting each
// address's failures across its connections.
//
// Nothing here knows a protocol: clients are string keys (AddrKey makes
// one from a net.Addr) and the server says how to refuse. The limits follow
// Postfix (default_process_limit, smtpd_client_connection_count_limit,
// stress-dependent smtpd_timeout) and Dovecot (auth_failure_delay and its
// growing per-address auth penalty).
package throttle

import (
	"errors"
	"net"
	"net/netip"
	"sync"
)

// Errors of Acquire; a server turns them into its "try again later" reply
// (SMTP 421, POP3 -ERR [SYS/TEMP], IMAP BYE).
var (
	ErrTooManyConnections = errors.New("too many connections")
	ErrTooManyFromAddress = errors.New("too many connections from this address")
)

// Limiter counts open connections in total and per key. Its zero value
// is not usable; make one with NewLimiter.
type Limiter struct {
	total, perKey int

	mu    sync.Mutex
	open  int
	byKey map[string]int // only keys with connections open: bounded by total
}

// NewLimiter limits connections to total at once and perKey at once from
// one key; 0 leaves either unlimited.
func NewLimiter(total, perKey int) *Limiter {
	return &Limiter{total: total, perKey: perKey, byKey: make(map[string]int)}
}

// Acquire takes a slot for a connection from key, or takes nothing and
// says which limit is reached. Every nil return needs one Release.
func (l *Limiter) Acquire(key string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total > 0 && l.open >= l.total {
		return ErrTooManyConnections
	}
	if l.perKey > 0 && l.byKey[key] >= l.perKey {
		return ErrTooManyFromAddress
	}
	l.open++
	l.byKey[key]++
	return nil
}

// Release gives back a slot Acquire took for key.
func (l *Limiter) Release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byKey[key] == 0 {
		return // not acquired: a bug in the caller, but never go negative
	}
	l.open--
	if l.byKey[key]--; l.byKey[key] == 0 {
		delete(l.byKey, key)
	}
}

// Busy reports whether at least half of the total is in use: Postfix's
// "stress", under which a server should give idle clients less time.
// Without a total limit it is never busy.
func (l *Limiter) Busy() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total > 0 && 2*l.open >= l.total
}

// Open returns how many connections hold a slot, in total and from key.
func (l *Limiter) Open(key string) (total, fromKey int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open, l.byKey[key]
}

// AddrKey is the key of a client: its IP address (IPv4-mapped IPv6
// addresses as IPv4, without port or zone), or the address's string when it
// has no IP (a pipe, a Unix socket).
func AddrKey(a net.Addr) string {
	if a == nil {
		return ""
	}
	if t, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(t.IP); ok {
			return ip.Unmap().WithZone("").String()
		}
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap().WithZone("").String()
	}
	return a.String()
}
