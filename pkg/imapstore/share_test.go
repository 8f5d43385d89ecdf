package imapstore

import (
	"testing"
	"time"
)

// The credit a session has to hold a folder before it pauses for others:
// spent by held time, earned back by free time, never above the burst nor
// owed beyond one pause.
func TestHeldTimeSpendsTheCreditAndFreeTimeEarnsItBack(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, c := range []struct {
		name   string
		credit time.Duration
		locked bool
		after  time.Duration
		want   time.Duration
	}{
		{"held a while", shareBurst, true, 300 * time.Millisecond, shareBurst - 300*time.Millisecond},
		{"held past the credit owes one pause at most", 100 * time.Millisecond, true, 5 * time.Second, -sharePause},
		{"free time earns it back", -sharePause, false, 250 * time.Millisecond, 150 * time.Millisecond},
		{"never above the burst", shareBurst / 2, false, time.Hour, shareBurst},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &share{credit: c.credit, at: t0, locked: c.locked}
			s.update(t0.Add(c.after))
			if s.credit != c.want {
				t.Errorf("credit %v, want %v", s.credit, c.want)
			}
		})
	}
}

// A session's first lock of a folder, or of another folder than the last,
// starts with the whole burst: no pause.
func TestANewFolderStartsWithTheWholeBurst(t *testing.T) {
	s := &share{}
	s.before("/a")
	s.took()
	s.credit = -sharePause // as if held too long
	s.released(nil)
	s.before("/b")
	if s.credit != shareBurst {
		t.Errorf("credit %v on another folder", s.credit)
	}
}
