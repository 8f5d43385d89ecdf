package smtpout

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// hop is one host to try, in order.
type hop struct {
	name string // host name or address, for the TLS ServerName and Relay
	port int
}

// relayhost is a parsed Postfix relayhost: "host", "host:port",
// "[host]" or "[host]:port"; brackets turn off the MX lookup.
type relayhost struct {
	host  string
	port  int // 0 = the default
	useMX bool
}

func parseRelayhost(s string) (relayhost, error) {
	r := relayhost{host: s, useMX: true}
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return r, fmt.Errorf("relayhost %q: missing ]", s)
		}
		r.host, r.useMX = s[1:end], false
		rest := s[end+1:]
		if s = ""; rest != "" {
			port, ok := strings.CutPrefix(rest, ":")
			if !ok || port == "" {
				return r, fmt.Errorf("relayhost %q: junk after ]", r.host)
			}
			s = port
		}
	} else if host, port, ok := strings.Cut(s, ":"); ok {
		if port == "" {
			return r, fmt.Errorf("relayhost %q: empty port", s)
		}
		r.host, s = host, port
	} else {
		s = ""
	}
	if s != "" {
		p, err := strconv.Atoi(s)
		if err != nil || p <= 0 || p > 65535 {
			return r, fmt.Errorf("relayhost: bad port %q", s)
		}
		r.port = p
	}
	if r.host == "" || strings.ContainsAny(r.host, " \t[]") {
		return r, fmt.Errorf("relayhost: bad host %q", r.host)
	}
	return r, nil
}

// lookupError is a DNS failure turned into a Result: temporary unless the
// name does not exist.
func lookupError(what string, err error) *Result {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return &Result{Enhanced: "5.1.2", Message: "Host or domain name not found: " + what + ": " + err.Error(), Relay: "none"}
	}
	return &Result{Enhanced: "4.4.3", Message: "Host or domain name lookup failed: " + what + ": " + err.Error(), Temporary: true, Relay: "none"}
}

func isNotFound(err error) bool {
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr) && dnsErr.IsNotFound
}

// route finds the hosts to try for a domain (or the relayhost) in order:
// MX records by preference (RFC 5321 5.1), else the name itself.
func (d *delivery) route(ctx context.Context, domain string) ([]hop, *Result) {
	port := d.o.Port
	if port == 0 {
		port = 25
	}
	name, useMX := domain, true
	if d.o.Relayhost != "" {
		r, err := parseRelayhost(d.o.Relayhost)
		if err != nil {
			return nil, &Result{Enhanced: "4.3.5", Message: err.Error(), Temporary: true, Relay: "none"}
		}
		name, useMX = r.host, r.useMX
		if r.port != 0 {
			port = r.port
		}
	}
	if !useMX {
		return []hop{{name, port}}, nil
	}
	mxs, err := d.lookupMX(ctx, name)
	switch {
	case err != nil && !isNotFound(err):
		return nil, lookupError(name, err)
	case len(mxs) == 0:
		// No MX: the implicit MX is the name itself (RFC 5321 5.1); its
		// own lookup tells whether it exists.
		return []hop{{name, port}}, nil
	case len(mxs) == 1 && (mxs[0].Host == "." || mxs[0].Host == ""):
		return nil, &Result{Enhanced: "5.1.10", Message: "Domain " + name + " does not accept mail (null MX, RFC 7505)", Relay: "none"}
	}
	sort.SliceStable(mxs, func(i, j int) bool { return mxs[i].Pref < mxs[j].Pref })
	hops := make([]hop, 0, len(mxs))
	for _, mx := range mxs {
		hops = append(hops, hop{strings.TrimSuffix(mx.Host, "."), port})
	}
	return hops, nil
}

// addresses resolves a hop; an address literal needs no lookup.
func (d *delivery) addresses(ctx context.Context, h hop) ([]string, *Result) {
	if a, err := netip.ParseAddr(h.name); err == nil {
		return []string{a.String()}, nil
	}
	addrs, err := d.lookupHost(ctx, h.name)
	if err != nil {
		return nil, lookupError(h.name, err)
	}
	if len(addrs) == 0 {
		return nil, &Result{Enhanced: "4.4.3", Message: "No address for " + h.name, Temporary: true, Relay: "none"}
	}
	return addrs, nil
}

func (d *delivery) lookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	if d.o.LookupMX != nil {
		return d.o.LookupMX(ctx, name)
	}
	return net.DefaultResolver.LookupMX(ctx, name)
}

func (d *delivery) lookupHost(ctx context.Context, name string) ([]string, error) {
	if d.o.LookupHost != nil {
		return d.o.LookupHost(ctx, name)
	}
	return net.DefaultResolver.LookupHost(ctx, name)
}
