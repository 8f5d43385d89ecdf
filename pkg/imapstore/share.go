package imapstore

import (
	"time"

	"unixmail/pkg/lock"
)

// share gives other programs their turn at a folder this session locks
// again and again: a client that pipelines APPENDs without pause would
// otherwise have the folder held all but a few microseconds at a time,
// and deliver, procmail and dovecot-lda, which poll for a busy dot-lock
// (every half second, every 8 seconds, every 0.1 to 3 seconds), could
// miss every gap and wait until the client stops.
//
// Two things make room. A program of ours that waits is queued (see
// lock.Queue): letting the folder go wakes it, and the session locks the
// folder again only once it has had its try (turn). Others cannot be seen
// waiting, so the session keeps to a duty cycle: it may hold the folder
// for about shareBurst in a row, then no more than half the time, in
// pauses of at least 2*sharePause, long enough for a poller to come by
// with even odds on each try. A burst of a thousand APPENDs ends within
// shareBurst and is not slowed down.
type share struct {
	path   string        // the folder last locked
	credit time.Duration // locked time allowed before a pause
	at     time.Time     // when credit was brought up to date
	locked bool
	turn   *lock.Turn // a waiter woken when the folder was let go
}

const (
	// shareBurst is how long a folder may be held, in all, before the
	// session starts pausing for others.
	shareBurst = time.Second
	// sharePause: a pause lasts at least twice this, once held time has
	// used up the credit (the credit owed is at most this).
	sharePause = 100 * time.Millisecond
	// maxTurn is how long the session waits for a woken waiter to have
	// its try (it tries at once; this bounds a stopped one).
	maxTurn = 500 * time.Millisecond
)

// update brings the credit up to now: held time spends it, free time
// earns it back, one for one.
func (s *share) update(now time.Time) {
	d := now.Sub(s.at)
	if s.locked {
		d = -d
	}
	s.credit = min(max(s.credit+d, -sharePause), shareBurst)
	s.at = now
}

// before is called before the session locks the folder at path: it lets
// a woken waiter of ours in first, then pauses when the session has held
// the folder for more than its share.
func (s *share) before(path string) {
	s.update(time.Now())
	if path != s.path {
		// Another folder: the waiter woken is not in the way, and the
		// folder's other users had it while this session was elsewhere.
		s.path, s.credit = path, shareBurst
		s.turn.Close()
		s.turn = nil
		return
	}
	s.turn.Wait(maxTurn)
	s.turn = nil
	if s.credit < 0 {
		time.Sleep(sharePause - s.credit)
		s.update(time.Now())
	}
}

// took notes that the folder is locked from now.
func (s *share) took() {
	s.update(time.Now())
	s.locked = true
}

// released notes that the folder was let go, turn being the waiter it
// woke, if any.
func (s *share) released(turn *lock.Turn) {
	s.update(time.Now())
	s.locked = false
	s.turn.Close()
	s.turn = turn
}
