package resolver

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"unixmail/internal/sandbox"
)

func TestEmptyMeansTheSystemsResolver(t *testing.T) {
	if New("").Resolver != net.DefaultResolver {
		t.Error("New(\"\") is not net.DefaultResolver")
	}
}

func TestTheNamedServerAnswersEveryKindOfLookup(t *testing.T) {
	long := strings.Repeat("k", 300)
	dns := sandbox.StartDNS(t, sandbox.DNSRecords{
		Zones:    []string{"test"},
		TXT:      map[string][]string{"a.test": {"v=spf1 -all"}, "s._domainkey.a.test": {long[:200], long[200:]}},
		MX:       map[string][]string{"a.test": {"mx.a.test,10"}},
		A:        map[string]string{"mx.a.test": "192.0.2.25"},
		TempFail: []string{"broken.test"},
	})
	r := New(dns.Addr)
	ctx := context.Background()
	txt := r.TXT(ctx)
	if got, err := txt("a.test"); err != nil || len(got) != 1 || got[0] != "v=spf1 -all" {
		t.Errorf("TXT a.test = %q %v", got, err)
	}
	if got, err := txt("s._domainkey.a.test"); err != nil || len(got) != 1 || got[0] != long {
		t.Errorf("a TXT record of two strings is not read as one: %q %v", got, err)
	}
	if mx, err := r.LookupMX(ctx, "a.test"); err != nil || len(mx) != 1 || mx[0].Host != "mx.a.test." || mx[0].Pref != 10 {
		t.Errorf("MX = %v %v", mx, err)
	}
	if a, err := r.LookupHost(ctx, "mx.a.test"); err != nil || len(a) != 1 || a[0] != "192.0.2.25" {
		t.Errorf("A = %v %v", a, err)
	}
	var dnsErr *net.DNSError
	if _, err := txt("nothing.test"); !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("a missing name: %v, want not found", err)
	}
	if _, err := txt("x.broken.test"); !errors.As(err, &dnsErr) || !dnsErr.Temporary() {
		t.Errorf("SERVFAIL: %v, want a temporary error", err)
	}
}

func TestTXTAnswersAreKeptForAMinuteButFailuresAreNot(t *testing.T) {
	dns := sandbox.StartDNS(t, sandbox.DNSRecords{
		Zones:    []string{"test"},
		TXT:      map[string][]string{"a.test": {"v=spf1 -all"}},
		TempFail: []string{"broken.test"},
	})
	r := New(dns.Addr)
	clock := time.Now()
	r.now = func() time.Time { return clock }
	ctx := context.Background()
	asked := func(name string) int { return strings.Count(dns.Log(), "query[TXT] "+name+" ") }
	r.LookupTXT(ctx, "x.broken.test")
	once := asked("x.broken.test") // the stub itself may try twice
	for range 3 {
		r.LookupTXT(ctx, "a.test")
		r.LookupTXT(ctx, "gone.test")
		r.LookupTXT(ctx, "x.broken.test")
	}
	if asked("a.test") != 1 || asked("gone.test") != 1 {
		t.Errorf("an answer or a NXDOMAIN was asked again: %d, %d times", asked("a.test"), asked("gone.test"))
	}
	if asked("x.broken.test") != 4*once {
		t.Errorf("a SERVFAIL was kept: asked %d times, want %d", asked("x.broken.test"), 4*once)
	}
	clock = clock.Add(txtTTL + time.Second)
	if got, err := r.LookupTXT(ctx, "a.test"); err != nil || len(got) != 1 || asked("a.test") != 2 {
		t.Errorf("after a minute: %q %v, asked %d times, want 2", got, err, asked("a.test"))
	}
}
