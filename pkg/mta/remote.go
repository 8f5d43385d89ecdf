package mta

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"unixmail/pkg/queue"
	"unixmail/pkg/smtpout"
)

// deliverRemote sends e to the recipients idx, which share a next hop (a
// domain, or the relayhost when domain is ""), over one connection.
func (m *MTA) deliverRemote(ctx context.Context, e *queue.Entry, domain string, idx []int) []outcome {
	out := make([]outcome, len(idx))
	o := smtpout.Options{Helo: m.Cfg.Hostname, Relayhost: m.Cfg.Relayhost, TLS: m.Cfg.SMTPTLS,
		LookupMX: m.Resolver.LookupMX, LookupHost: m.Resolver.LookupHost}
	if m.Cfg.SMTPAuthFile != "" {
		user, pass, err := readAuthFile(m.Cfg.SMTPAuthFile)
		if err != nil {
			m.Log.Error("%s: %v", e.Env.ID, err)
			for j := range out {
				out[j] = deferred("none", "4.7.0", "SASL configuration error: "+err.Error())
			}
			return out
		}
		o.AuthUser, o.AuthPass = user, pass
	}
	if domain == "" {
		_, domain, _ = strings.Cut(e.Env.Rcpts[idx[0]].Target, "@")
	}
	rcpts := make([]string, len(idx))
	for j, i := range idx {
		rcpts[j] = e.Env.Rcpts[i].Target
	}
	results := smtpout.Deliver(ctx, o, domain, e.Env.Sender, rcpts, func() (io.ReadCloser, error) { return e.Message(), nil })
	for j := range out {
		if j >= len(results) {
			out[j] = deferred("none", "4.3.0", "no result from the SMTP client")
			continue
		}
		r := results[j]
		diag := r.Message
		if r.Code != 0 {
			diag = fmt.Sprintf("host %s said: %d %s %s", r.Relay, r.Code, r.Enhanced, r.Message)
		}
		switch {
		case r.Code/100 == 2:
			out[j] = sent(r.Relay, fmt.Sprintf("%d %s %s", r.Code, r.Enhanced, r.Message))
		case r.Temporary:
			out[j] = deferred(r.Relay, r.Enhanced, diag)
		default:
			out[j] = bounced(r.Relay, r.Enhanced, diag)
		}
	}
	return out
}

// readAuthFile reads `user:password` from smtp_auth_file, which must be
// readable by its owner alone: a password other users can read is a
// configuration error, not something to send.
func readAuthFile(path string) (user, pass string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", fmt.Errorf("smtp_auth_file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", "", fmt.Errorf("smtp_auth_file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", "", fmt.Errorf("smtp_auth_file %s: mode %04o, must be 0600", path, fi.Mode().Perm())
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		u, p, ok := strings.Cut(line, ":")
		if !ok || u == "" {
			return "", "", fmt.Errorf("smtp_auth_file %s: want user:password", path)
		}
		return u, p, nil
	}
	return "", "", fmt.Errorf("smtp_auth_file %s: no user:password line", path)
}
