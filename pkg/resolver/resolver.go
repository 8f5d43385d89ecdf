// Package resolver is the one DNS resolver of sendmail(8): MX and address
// lookups for outgoing mail, and the TXT, MX and address lookups of SPF,
// DKIM and DMARC for incoming mail all go through it. It is the system's
// resolver unless the dns_resolver key names a server.
package resolver

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// Resolver is a net.Resolver whose TXT answers are kept for a short while:
// every message from a busy sender asks the same SPF, DKIM and DMARC
// records again, and asking costs a round trip and two processes' CPU.
type Resolver struct {
	*net.Resolver

	mu  sync.Mutex
	txt map[string]txtAnswer
	now func() time.Time
}

type txtAnswer struct {
	records []string
	err     error // nil, or a *net.DNSError saying the name has no record
	expires time.Time
}

// txtTTL is how long a TXT answer is kept. The answer's own TTL is not
// known to net.Resolver; a minute is shorter than any sane record's and
// long enough to spare a busy server nearly every lookup.
const txtTTL = time.Minute

// maxCached bounds the cache; when full it starts again empty.
const maxCached = 10000

// New returns the resolver for a dns_resolver value (which pkg/config
// has checked): the system's for "", else Go's own stub resolver asking
// only the server at addr, ADDRESS:PORT, over UDP and, for truncated
// answers, TCP, whatever /etc/resolv.conf names.
func New(addr string) *Resolver {
	r := &Resolver{Resolver: net.DefaultResolver, txt: map[string]txtAnswer{}, now: time.Now}
	if addr == "" {
		return r
	}
	var d net.Dialer
	r.Resolver = &net.Resolver{
		PreferGo: true,
		// The stub dials each server of resolv.conf in turn; every one of
		// those dials goes to addr instead.
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}
	return r
}

// LookupTXT is net.Resolver's, with answers and "no such record" kept for
// txtTTL; failures that may pass are never kept.
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	r.mu.Lock()
	a, ok := r.txt[name]
	r.mu.Unlock()
	if ok && r.now().Before(a.expires) {
		return a.records, a.err
	}
	records, err := r.Resolver.LookupTXT(ctx, name)
	var dnsErr *net.DNSError
	if err == nil || errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		r.mu.Lock()
		if len(r.txt) >= maxCached {
			r.txt = map[string]txtAnswer{}
		}
		r.txt[name] = txtAnswer{records: records, err: err, expires: r.now().Add(txtTTL)}
		r.mu.Unlock()
	}
	return records, err
}

// TXT adapts r to the context-free lookup functions of go-msgauth.
func (r *Resolver) TXT(ctx context.Context) func(name string) ([]string, error) {
	return func(name string) ([]string, error) { return r.LookupTXT(ctx, name) }
}
