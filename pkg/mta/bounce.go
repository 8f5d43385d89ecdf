package mta

import (
	"bytes"
	"context"
	"strings"

	"unixmail/pkg/dsn"
	"unixmail/pkg/queue"
)

// bounce sends an RFC 3464 report of the recipients failed to the
// envelope sender, from <>. Mail from <> is never bounced to its sender:
// its failure goes to postmaster (a double bounce), and a failed double
// bounce is only logged, so that no loop can start.
func (m *MTA) bounce(ctx context.Context, e *queue.Entry, failed []int) error {
	env := &e.Env
	var rcpts []dsn.Recipient
	for _, i := range failed {
		r := env.Rcpts[i]
		if n := strings.ToUpper(r.Notify); n != "" && !strings.Contains(n, "FAILURE") {
			continue // NOTIFY=NEVER or SUCCESS/DELAY only (RFC 3461 4.1)
		}
		remote := ""
		if r.Kind == queue.Remote && r.Relay != "" && r.Relay != "none" {
			remote = r.Relay
		}
		rcpts = append(rcpts, dsn.Recipient{Addr: r.Addr, Orig: r.Orig, Action: "failed", Status: r.Status, Remote: remote, Diag: r.Diag})
	}
	if len(rcpts) == 0 {
		return nil
	}
	to, double := env.Sender, false
	if env.Sender == "" {
		if env.DoubleBounce {
			m.Log.Warn("%s: undeliverable postmaster notification discarded", env.ID)
			return nil
		}
		to, double = "postmaster@"+m.Cfg.Hostname, true
	}
	now := m.Now()
	id := queue.NewID()
	var b bytes.Buffer
	err := dsn.Write(&b, &dsn.Report{
		ReportingMTA: m.Cfg.Hostname,
		QueueID:      env.ID,
		From:         "MAILER-DAEMON@" + m.Cfg.Hostname,
		To:           to,
		EnvID:        env.EnvID,
		Arrival:      env.Arrival,
		Date:         now,
		MessageID:    "<" + now.UTC().Format("20060102150405") + "." + id + "@" + m.Cfg.Hostname + ">",
		Rcpts:        rcpts,
		Original:     e.Message(),
	})
	if err != nil {
		return err
	}
	benv := queue.Envelope{ID: id, Sender: "", Rcpts: []queue.Recipient{{Addr: to}}, Bounce: true, DoubleBounce: double}
	be, err := m.Queue.Enqueue(benv, &b, true)
	if err != nil {
		return err
	}
	what := "sender non-delivery notification"
	if double {
		what = "postmaster non-delivery notification"
	}
	m.Log.Info("%s: %s: %s", env.ID, what, be.Env.ID)
	m.Log.Info("%s: from=<>, size=%d, nrcpt=1 (queue active)", be.Env.ID, be.Env.Size)
	m.Attempt(ctx, be)
	return nil
}
