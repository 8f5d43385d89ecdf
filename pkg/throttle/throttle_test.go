package throttle

import (
	"bufio"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLimiterRefusesPastEachLimitAndReleaseMakesRoom(t *testing.T) {
	steps := []struct {
		op, key string
		want    error
	}{
		{"acquire", "a", nil},
		{"acquire", "a", nil},
		{"acquire", "a", ErrTooManyFromAddress}, // a holds its 2
		{"acquire", "b", nil},
		{"acquire", "c", ErrTooManyConnections}, // 3 in total
		{"release", "a", nil},
		{"acquire", "c", nil},
		{"acquire", "a", ErrTooManyConnections},
		{"release", "x", nil}, // never acquired: ignored
		{"acquire", "d", ErrTooManyConnections},
	}
	l := NewLimiter(3, 2)
	for i, s := range steps {
		if s.op == "release" {
			l.Release(s.key)
			continue
		}
		if err := l.Acquire(s.key); !errors.Is(err, s.want) {
			t.Fatalf("step %d: Acquire(%q) = %v, want %v", i, s.key, err, s.want)
		}
	}
	if total, a := l.Open("a"); total != 3 || a != 1 {
		t.Errorf("Open = %d, %d; want 3, 1", total, a)
	}
}

func TestLimiterWithZeroLimitsIsUnlimitedAndNeverBusy(t *testing.T) {
	l := NewLimiter(0, 0)
	for range 1000 {
		if err := l.Acquire("a"); err != nil {
			t.Fatal(err)
		}
	}
	if l.Busy() {
		t.Error("an unlimited Limiter says it is busy")
	}
}

func TestLimiterIsBusyFromHalfItsTotal(t *testing.T) {
	l := NewLimiter(4, 0)
	for open, want := range []bool{false, false, true, true, true} {
		if got := l.Busy(); got != want {
			t.Errorf("with %d open: Busy = %v, want %v", open, got, want)
		}
		_ = l.Acquire("a")
	}
}

func TestLimiterForgetsKeysWithNothingOpen(t *testing.T) {
	l := NewLimiter(0, 1)
	for i := range 100 {
		k := strings.Repeat("k", i)
		_ = l.Acquire(k)
		l.Release(k)
	}
	if len(l.byKey) != 0 {
		t.Errorf("%d keys kept after every connection closed", len(l.byKey))
	}
}

func TestAddrKeyIsTheIPAddressAlone(t *testing.T) {
	tests := []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 25}, "192.0.2.1"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.1"), Port: 25}, "192.0.2.1"},
		{&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 25, Zone: "eth0"}, "fe80::1"},
		{&net.UnixAddr{Name: "/run/sock", Net: "unix"}, "/run/sock"},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := AddrKey(tt.addr); got != tt.want {
			t.Errorf("AddrKey(%v) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

func TestTrackerDelayDoublesPerRecentFailureUpToTheMaximum(t *testing.T) {
	tr := NewTracker(AuthPolicy{Delay: time.Second, MaxDelay: 5 * time.Second, Limit: 3})
	want := []struct {
		delay  time.Duration
		hangUp bool
	}{{1 * time.Second, false}, {2 * time.Second, false}, {4 * time.Second, true}}
	s := tr.Session("192.0.2.1")
	for i, w := range want {
		d, h, n := s.Fail()
		if d != w.delay || h != w.hangUp || n != i+1 {
			t.Errorf("failure %d: (%v, %v, %d), want (%v, %v, %d)", i+1, d, h, n, w.delay, w.hangUp, i+1)
		}
	}
	// A new connection from the same address starts where the last ended.
	if d, h, n := tr.Session("192.0.2.1").Fail(); d != 5*time.Second || h || n != 4 {
		t.Errorf("next connection's first failure: (%v, %v, %d), want (5s, false, 4)", d, h, n)
	}
	// Another address is not punished for it.
	if d, _, _ := tr.Session("192.0.2.2").Fail(); d != time.Second {
		t.Errorf("other address's first failure waits %v, want 1s", d)
	}
}

func TestTrackerForgetsOneFailurePerDecayPeriod(t *testing.T) {
	now := time.Unix(1e9, 0)
	tr := NewTracker(AuthPolicy{Delay: time.Second, MaxDelay: time.Minute, Decay: time.Minute})
	tr.now = func() time.Time { return now }
	s := tr.Session("a")
	for range 4 {
		s.Fail()
	}
	steps := []struct {
		after time.Duration
		want  int
	}{{30 * time.Second, 4}, {30 * time.Second, 3}, {90 * time.Second, 2}, {time.Hour, 0}}
	for _, st := range steps {
		now = now.Add(st.after)
		if got := tr.Failures("a"); got != st.want {
			t.Errorf("%v later: %d failures, want %d", st.after, got, st.want)
		}
	}
}

func TestTrackerMemoryIsBoundedAndDecayedAddressesMakeRoom(t *testing.T) {
	now := time.Unix(1e9, 0)
	tr := NewTracker(AuthPolicy{Delay: time.Second, MaxDelay: time.Minute, Decay: time.Minute})
	tr.now = func() time.Time { return now }
	for i := range maxTracked + 10 {
		tr.Session(strconv.Itoa(i)).Fail()
	}
	if len(tr.byKey) > maxTracked {
		t.Fatalf("%d addresses tracked, more than %d", len(tr.byKey), maxTracked)
	}
	// Untracked for lack of room, an address is still punished per connection.
	s := tr.Session("new")
	s.Fail()
	if d, _, _ := s.Fail(); d != time.Second {
		t.Errorf("untracked address waits %v, want the first delay", d)
	}
	now = now.Add(time.Hour)
	if tr.Session("newer").Fail(); tr.Failures("newer") != 1 || len(tr.byKey) != 1 {
		t.Errorf("after decay: %d tracked, newer has %d", len(tr.byKey), tr.Failures("newer"))
	}
}

func TestListenerRefusesPastTheLimitAndFreesTheSlotOnClose(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &Listener{Listener: inner, Limiter: NewLimiter(10, 1),
		Refuse: func(c net.Conn, key string, err error) {
			_, _ = c.Write([]byte("421 " + key + ": " + err.Error() + "\r\n"))
		}}
	defer ln.Close()
	accepted := make(chan net.Conn)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	first := dial()
	defer first.Close()
	server := <-accepted

	second := dial()
	defer second.Close()
	line, _ := bufio.NewReader(second).ReadString('\n')
	if want := "421 127.0.0.1: too many connections from this address\r\n"; line != want {
		t.Errorf("second connection got %q, want %q", line, want)
	}

	server.Close()
	server.Close() // twice must not release twice
	third := dial()
	defer third.Close()
	c := <-accepted
	defer c.Close()
	if total, _ := ln.Limiter.Open("127.0.0.1"); total != 1 {
		t.Errorf("%d slots held, want 1", total)
	}
}

func TestClampShortensReadDeadlinesOnlyWhileBusy(t *testing.T) {
	lim := NewLimiter(2, 0)
	c := &ClampConn{Timeout: 10 * time.Second, Busy: lim.Busy}
	far := time.Now().Add(time.Hour)
	if got := c.clamp(far); !got.Equal(far) {
		t.Errorf("idle server moved the deadline to %v", got)
	}
	_ = lim.Acquire("a")
	if got := c.clamp(far); got.After(time.Now().Add(11 * time.Second)) {
		t.Errorf("busy server left the deadline at %v", got)
	}
	if got := c.clamp(time.Time{}); got.IsZero() {
		t.Error("busy server left a connection without deadline")
	}
	near := time.Now().Add(time.Second)
	if got := c.clamp(near); !got.Equal(near) {
		t.Errorf("busy server pushed a nearer deadline back to %v", got)
	}
}

func TestTightenCutsAnIdleReadShortWhenTheServerTurnsBusy(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	busy := false
	c := &ClampConn{Conn: server, Timeout: 50 * time.Millisecond, Busy: func() bool { return busy }}
	c.SetReadDeadline(time.Now().Add(time.Hour))
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		done <- err
	}()
	busy = true
	c.Tighten()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("read ended with %v, want a deadline exceeded", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the read went on past the busy timeout")
	}
}
