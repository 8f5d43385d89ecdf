// Package resolver is the one DNS resolver of sendmail(8): MX and address
// lookups for outgoing mail, and the TXT, MX and address lookups of SPF,
// DKIM and DMARC for incoming mail all go through it. It is the system's
// resolver unless the dns_resolver key names a server.
package resolver

import (
	"context"
	"net"
)

// New returns the resolver for a dns_resolver value (which pkg/config
// has checked): the system's for "", else Go's own stub resolver asking
// only the server at addr, ADDRESS:PORT, over UDP and, for truncated
// answers, TCP, whatever /etc/resolv.conf names.
func New(addr string) *net.Resolver {
	if addr == "" {
		return net.DefaultResolver
	}
	var d net.Dialer
	return &net.Resolver{
		PreferGo: true,
		// The stub dials each server of resolv.conf in turn; every one of
		// those dials goes to addr instead.
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}
}

// TXT adapts r to the context-free lookup functions of go-msgauth.
func TXT(ctx context.Context, r *net.Resolver) func(name string) ([]string, error) {
	return func(name string) ([]string, error) { return r.LookupTXT(ctx, name) }
}
