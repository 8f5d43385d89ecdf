package mta

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"unixmail/pkg/aliases"
	"unixmail/pkg/queue"
	"unixmail/pkg/sysexits"
	"unixmail/pkg/userdb"
)

// outcome is one recipient's fate in one attempt.
type outcome struct {
	state  string // queue.Sent, queue.Bounced, or queue.Pending (deferred)
	status string // RFC 3463
	diag   string
	relay  string
}

func sent(relay, diag string) outcome { return outcome{queue.Sent, "2.0.0", diag, relay} }
func deferred(relay, status, diag string) outcome {
	return outcome{queue.Pending, status, diag, relay}
}
func bounced(relay, status, diag string) outcome { return outcome{queue.Bounced, status, diag, relay} }

// Attempt tries every pending recipient of e once, records what happened
// durably, sends bounces, and releases e.
func (m *MTA) Attempt(ctx context.Context, e *queue.Entry) {
	defer e.Close()
	var failed []int
	record := func(i int, o outcome) {
		r := &e.Env.Rcpts[i]
		r.State, r.Status, r.Diag, r.Relay = o.state, o.status, o.diag, o.relay
		m.logRcpt(&e.Env, r, o)
		if o.state == queue.Bounced {
			failed = append(failed, i)
		}
	}
	m.expand(&e.Env, record)
	hops := map[string][]int{}
	var hopOrder []string
	var local []int
	for _, i := range e.Env.Pending() {
		r := &e.Env.Rcpts[i]
		switch r.Kind {
		case queue.User:
			local = append(local, i)
		case queue.File:
			record(i, m.deliverFile(ctx, e, r))
		case queue.Pipe:
			record(i, m.deliverPipe(ctx, e, r))
		case queue.Remote:
			key := ""
			if m.Cfg.Relayhost == "" {
				_, key, _ = strings.Cut(strings.ToLower(r.Target), "@")
			}
			if _, ok := hops[key]; !ok {
				hopOrder = append(hopOrder, key)
			}
			hops[key] = append(hops[key], i)
		}
	}
	for j, o := range m.deliverLocal(ctx, e, local) {
		record(local[j], o)
	}
	for _, key := range hopOrder {
		idx := hops[key]
		for j, o := range m.deliverRemote(ctx, e, key, idx) {
			record(idx[j], o)
		}
	}
	m.finish(ctx, e, failed)
}

// finish removes a finished message, or bounces an expired one, or
// schedules the next attempt; then the bounces go out.
func (m *MTA) finish(ctx context.Context, e *queue.Entry, failed []int) {
	env := &e.Env
	now := m.Now()
	pending := env.Pending()
	if len(pending) > 0 && now.Sub(env.Arrival) >= m.Cfg.MaximalQueueLifetime {
		for _, i := range pending {
			r := &env.Rcpts[i]
			diag := "message expired in the queue"
			if r.Diag != "" {
				diag += ": " + r.Diag
			}
			o := bounced(r.Relay, "4.4.7", diag)
			r.State, r.Status, r.Diag = o.state, o.status, o.diag
			m.logRcpt(env, r, o)
			failed = append(failed, i)
		}
		pending = nil
	}
	if len(failed) > 0 {
		if err := m.bounce(ctx, e, failed); err != nil {
			// Keep the message: the bounce will be tried again.
			m.Log.Error("%s: cannot queue bounce: %v", env.ID, err)
			for _, i := range failed {
				env.Rcpts[i].State = queue.Pending
			}
			pending = env.Pending()
		}
	}
	if len(pending) == 0 {
		if err := e.Remove(); err != nil {
			m.Log.Error("%s: %v", env.ID, err)
			return
		}
		m.Log.Info("%s: removed", env.ID)
		return
	}
	env.Attempts++
	env.NextTry = now.Add(queue.Backoff(env.Attempts))
	env.LastErr = env.Rcpts[pending[0]].Diag
	if err := e.Save(); err != nil {
		m.Log.Error("%s: cannot record delivery state: %v", env.ID, err)
	}
}

func (m *MTA) logRcpt(env *queue.Envelope, r *queue.Recipient, o outcome) {
	word := map[string]string{queue.Sent: "sent", queue.Bounced: "bounced", queue.Pending: "deferred"}[o.state]
	orig := ""
	if r.Orig != "" && r.Orig != r.Addr {
		orig = ", orig_to=<" + r.Orig + ">"
	}
	relay := o.relay
	if relay == "" {
		relay = "none"
	}
	delay := m.Now().Sub(env.Arrival).Seconds()
	line := fmt.Sprintf("%s: to=<%s>%s, relay=%s, delay=%.2f, dsn=%s, status=%s (%s)",
		env.ID, r.Addr, orig, relay, delay, o.status, word, oneLine(o.diag))
	if o.state == queue.Sent {
		m.Log.Info("%s", line)
	} else {
		m.Log.Warn("%s", line)
	}
	if m.Verbose != nil {
		fmt.Fprintln(m.Verbose, line)
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// expand turns every pending address into destinations: remote
// addresses go to SMTP; local ones through aliases and .forward to
// mailboxes, files and programs. A destination already present (sent or
// not) is not added twice.
func (m *MTA) expand(env *queue.Envelope, record func(int, outcome)) {
	have := map[string]bool{}
	for _, r := range env.Rcpts {
		if r.Kind != queue.Address {
			have[r.Kind+"\x00"+r.Target] = true
		}
	}
	x := m.expander()
	n := len(env.Rcpts)
	for i := 0; i < n; i++ {
		r := env.Rcpts[i]
		if r.State != queue.Pending || r.Kind != queue.Address {
			continue
		}
		_, domain, _ := strings.Cut(r.Addr, "@")
		var dests []aliases.Dest
		if domain != "" && !m.Cfg.IsLocalDomain(domain) {
			dests = []aliases.Dest{{Kind: aliases.Address, Value: r.Addr}}
		} else {
			var err error
			dests, err = x.Expand(r.Addr)
			if err != nil {
				record(i, expandFailure(err))
				continue
			}
		}
		first := true
		for _, d := range dests {
			nr := queue.Recipient{Orig: r.Addr, Notify: r.Notify}
			switch {
			case d.Kind == aliases.Address && d.Local:
				nr.Kind, nr.Target, nr.Addr = queue.User, d.Value, d.Value+"@"+m.Cfg.Hostname
			case d.Kind == aliases.Address:
				nr.Kind, nr.Target, nr.Addr = queue.Remote, d.Value, d.Value
			case d.Kind == aliases.File:
				nr.Kind, nr.Target, nr.Addr, nr.Privs = queue.File, d.Value, d.Value, d.Privs
			case d.Kind == aliases.Pipe:
				nr.Kind, nr.Target, nr.Addr, nr.Privs = queue.Pipe, d.Value, "|"+d.Value, d.Privs
			}
			key := nr.Kind + "\x00" + nr.Target
			if have[key] {
				continue
			}
			have[key] = true
			if first {
				env.Rcpts[i] = nr
				first = false
			} else {
				env.Rcpts = append(env.Rcpts, nr)
			}
		}
		if first {
			// Every destination was already there: nothing left to do.
			r.State, r.Status, r.Diag = queue.Sent, "2.0.0", "duplicate of another recipient"
			env.Rcpts[i] = r
		}
	}
}

func expandFailure(err error) outcome {
	switch {
	case isNoUser(err):
		return bounced("local", "5.1.1", "unknown user: "+err.Error())
	case errors.Is(err, aliases.ErrLoop):
		return bounced("local", "5.4.6", err.Error())
	case sysexits.Code(err) == sysexits.TempFail:
		return deferred("local", "4.3.0", err.Error())
	}
	return bounced("local", "5.3.0", err.Error())
}

func isNoUser(err error) bool { return errors.Is(err, userdb.ErrNoUser) }

// privsFor finds the user a file or program named in an alias or a
// .forward runs as. default_privs is a system account (getpwnam), as in
// sendmail and Postfix, found in user_db only when the system lacks it (a
// sandbox names one of its users); a .forward's owner is a user_db user.
// A name found nowhere, or a user this process cannot become, is the
// administrator's to fix: the error says so and the mail waits for it.
func (m *MTA) privsFor(kind, target, name string) (*userdb.User, error) {
	u, err := m.lookupPrivs(name)
	if err != nil {
		return nil, fmt.Errorf("%s %s: privileges %s: %w (configuration error: see default_privs)", kind, target, name, err)
	}
	if euid := os.Geteuid(); euid != 0 && u.UID != euid {
		return nil, fmt.Errorf("%s %s: cannot run as %s (uid %d) from uid %d (configuration error: see default_privs)", kind, target, name, u.UID, euid)
	}
	return u, nil
}

func (m *MTA) lookupPrivs(name string) (*userdb.User, error) {
	system := userdb.Open("system")
	first, second := m.Users, system
	if name == m.Cfg.DefaultPrivs {
		first, second = system, m.Users
	}
	u, err := first.Lookup(name)
	if err != nil {
		u, err = second.Lookup(name)
	}
	return u, err
}

// privsFailure: a configuration error defers (4.3.5, "system incorrectly
// configured"), never bounces.
func privsFailure(err error) outcome { return deferred("local", "4.3.5", err.Error()) }

// commandTimeLimit bounds a program or deliver run, as Postfix's
// command_time_limit.
const commandTimeLimit = 1000 * time.Second
