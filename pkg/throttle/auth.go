package throttle

import (
	"sync"
	"time"
)

// AuthPolicy says how a Tracker punishes failed logins.
type AuthPolicy struct {
	// Delay is the wait before answering a client's first failure; each
	// failure its address made recently doubles it, up to MaxDelay.
	Delay, MaxDelay time.Duration
	// Limit is how many failures one connection may make before the
	// server closes it; 0 never closes.
	Limit int
	// Decay is how long an address takes to have one failure forgotten;
	// 0 never forgets (until the Tracker is full).
	Decay time.Duration
}

// maxTracked bounds the Tracker's memory: past it, addresses whose
// failures have all decayed are dropped, and if none have, a new address
// is punished per connection only.
const maxTracked = 1 << 16

// Tracker counts authentication failures per key across connections.
// It is safe for concurrent use.
type Tracker struct {
	p   AuthPolicy
	now func() time.Time // time.Now; tests replace it

	mu    sync.Mutex
	byKey map[string]*record
}

type record struct {
	n    int       // failures not yet decayed
	last time.Time // when n was last brought up to date
}

// NewTracker returns a Tracker applying p.
func NewTracker(p AuthPolicy) *Tracker {
	return &Tracker{p: p, now: time.Now, byKey: make(map[string]*record)}
}

// Failures returns how many failures key has to its name now.
func (t *Tracker) Failures(key string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r := t.byKey[key]; r != nil {
		return t.decay(r, t.now())
	}
	return 0
}

// decay forgets the failures that are old enough and returns what is left.
func (t *Tracker) decay(r *record, now time.Time) int {
	if t.p.Decay <= 0 || r.n == 0 {
		return r.n
	}
	gone := int(now.Sub(r.last) / t.p.Decay)
	if gone >= r.n {
		r.n, r.last = 0, now
		return 0
	}
	r.n -= gone
	r.last = r.last.Add(time.Duration(gone) * t.p.Decay)
	return r.n
}

// fail records one failure for key and returns the count with it.
func (t *Tracker) fail(key string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	r := t.byKey[key]
	if r == nil {
		if len(t.byKey) >= maxTracked {
			t.sweep(now)
		}
		if len(t.byKey) >= maxTracked {
			return 1
		}
		r = &record{last: now}
		t.byKey[key] = r
	}
	t.decay(r, now)
	r.n++
	return r.n
}

func (t *Tracker) sweep(now time.Time) {
	for k, r := range t.byKey {
		if t.decay(r, now) == 0 {
			delete(t.byKey, k)
		}
	}
}

// delay is the wait after the n-th recent failure of an address.
func (t *Tracker) delay(n int) time.Duration {
	d := t.p.Delay
	for i := 1; i < n && d < t.p.MaxDelay; i++ {
		d *= 2
	}
	if t.p.MaxDelay > 0 && d > t.p.MaxDelay {
		d = t.p.MaxDelay
	}
	return d
}

// Session follows one connection's failures; make one per connection.
type Session struct {
	t   *Tracker
	key string
	n   int
}

// Session starts following a connection from key.
func (t *Tracker) Session(key string) *Session {
	return &Session{t: t, key: key}
}

// Fail records a failed login on the connection. The server waits delay
// before answering it, then, if hangUp, answers and closes the connection.
// failures is the address's recent count, for the log line.
func (s *Session) Fail() (delay time.Duration, hangUp bool, failures int) {
	s.n++
	failures = s.t.fail(s.key)
	return s.t.delay(failures), s.t.p.Limit > 0 && s.n >= s.t.p.Limit, failures
}

// ConfigPolicy is the policy unixmail.conf(5) describes with
// client_auth_failure_delay and client_auth_failure_limit: the delay
// doubles up to eight times its first value, and an address has one failure
// forgotten per minute.
func ConfigPolicy(delay time.Duration, limit int) AuthPolicy {
	return AuthPolicy{Delay: delay, MaxDelay: 8 * delay, Limit: limit, Decay: time.Minute}
}
