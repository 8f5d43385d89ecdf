package smtpd

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"unixmail/pkg/throttle"
)

func TestClientsPastTheConnectionLimitsHear421AndTheRestAreServed(t *testing.T) {
	tests := []struct {
		name         string
		total, count int
		want         string
	}{
		{"per address", 10, 2, "421 4.7.0 mx.example.org Error: too many connections from this address\r\n"},
		{"in total", 2, 0, "421 4.7.0 mx.example.org Error: too many connections\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := basePolicy()
			p.ConnectionLimit, p.ConnectionCountLimit = tt.total, tt.count
			ts := startServer(t, p)
			first := dial(t, ts.addr)
			dial(t, ts.addr)
			c, err := net.Dial("tcp", ts.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got, _ := io.ReadAll(c)
			if string(got) != tt.want {
				t.Errorf("third client got %q, want %q", got, tt.want)
			}
			ts.log.waitFor("warning: connect from unknown[127.0.0.1]: too many connections")
			// Closing one makes room for the next: the slot is free
			// before the server's end of the connection closes.
			first.cmd("QUIT", "221 ")
			if _, err := first.r.ReadByte(); err != io.EOF {
				t.Fatalf("after QUIT: %v", err)
			}
			dial(t, ts.addr).cmd("EHLO client.example", "250-")
		})
	}
}

func TestABusyServerDisconnectsIdleClientsSooner(t *testing.T) {
	p := basePolicy()
	p.ConnectionLimit, p.BusyTimeout = 2, 50*time.Millisecond
	ts := startServer(t, p)
	d := dial(t, ts.addr) // one of two: busy
	d.cmd("EHLO client.example", "250-")
	// Without the busy timeout this would wait the usual five minutes.
	if r := d.reply(); !strings.HasPrefix(r, "421 ") {
		t.Errorf("idle client got %q, want a 421", r)
	}
	if _, err := d.r.ReadByte(); err != io.EOF {
		t.Errorf("after the 421 the connection is still open (%v)", err)
	}
}

func TestFailedAUTHWaitsLongerEachTimeAndTheThirdFailureCloses(t *testing.T) {
	p := basePolicy()
	p.Authenticate = checkPassword
	p.AuthFailures = throttle.AuthPolicy{Delay: time.Second, MaxDelay: 4 * time.Second, Limit: 3, Decay: time.Hour}
	var mu sync.Mutex
	var waits []time.Duration
	p.sleep = func(d time.Duration) {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
	}
	ts := startServer(t, p)
	d := dial(t, ts.addr)
	d.cmd("EHLO client.example", "250-")
	d.cmd("AUTH PLAIN "+plainAuth("alice", "guess1"), "535 5.7.8 ")
	d.cmd("AUTH PLAIN "+plainAuth("alice", "guess2"), "535 5.7.8 ")
	d.cmd("AUTH PLAIN "+plainAuth("alice", "guess3"), "421 4.7.0 mx.example.org Error: too many authentication failures")
	if _, err := d.r.ReadByte(); err != io.EOF {
		t.Errorf("after the third failure the connection is still open (%v)", err)
	}
	// The address's count goes on across connections.
	d = dial(t, ts.addr)
	d.cmd("EHLO client.example", "250-")
	d.cmd("AUTH PLAIN "+plainAuth("alice", "guess4"), "535 5.7.8 ")
	d.cmd("AUTH PLAIN "+plainAuth("alice", "s3cret"), "235 ")

	mu.Lock()
	got := append([]time.Duration(nil), waits...)
	mu.Unlock()
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}
	if len(got) != len(want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("waits %v, want %v", got, want)
			break
		}
	}
	// One line per failure, naming the address, for fail2ban.
	log := ts.log.text()
	if n := strings.Count(log, "warning: localhost[127.0.0.1]: SASL PLAIN authentication failed: user=<alice>"); n != 4 {
		t.Errorf("%d failure lines, want 4:\n%s", n, log)
	}
	if !strings.Contains(log, "(4 recent failures from this address)") {
		t.Errorf("the fourth failure does not count the earlier connection's:\n%s", log)
	}
}
