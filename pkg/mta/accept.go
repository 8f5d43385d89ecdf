package mta

import (
	"bytes"
	"context"
	"io"

	"unixmail/pkg/queue"
)

// deliverFirstLimit is the largest message delivered before it is
// acknowledged; a larger one streams into the queue instead of memory.
const deliverFirstLimit = 4 << 20

// Accept takes a message in, so that the caller (sendmail -bm exiting 0,
// the SMTP server answering 250) may report it accepted once Accept
// returns without error. A message is accepted only when it is durable
// somewhere: fsync'ed in the queue, or fsync'ed in every recipient's
// mailbox.
//
// When the caller may deliver and now is set, a message whose recipients
// are all local mailboxes is delivered before anything is written to the
// queue (deliver-before-ack): each mailbox is synced by the delivery, so
// a queue file would only be written, synced and removed again. What is
// left undelivered is then stored in the queue and returned, locked, for
// an Attempt. Otherwise the message is queued first, as Enqueue does.
func (m *MTA) Accept(ctx context.Context, env queue.Envelope, msg io.Reader, now bool) (*queue.Entry, string, error) {
	if !m.CanDeliver || !now {
		return m.Enqueue(env, msg)
	}
	buf, err := io.ReadAll(io.LimitReader(msg, deliverFirstLimit+1))
	if err != nil {
		return nil, "", err
	}
	if len(buf) > deliverFirstLimit {
		return m.Enqueue(env, io.MultiReader(bytes.NewReader(buf), msg))
	}
	e := m.Queue.Draft(env, buf)
	m.Log.Info("%s: from=<%s>, size=%d, nrcpt=%d (queue active)", e.Env.ID, e.Env.Sender, e.Env.Size, len(e.Env.Rcpts))
	if m.deliverFirst(ctx, e) {
		m.Log.Info("%s: removed", e.Env.ID)
		return nil, e.Env.ID, nil
	}
	if err := m.Queue.Init(); err != nil {
		return nil, "", err
	}
	if err := e.Save(); err != nil {
		return nil, "", err
	}
	return e, e.Env.ID, nil
}

// deliverFirst delivers a draft whose recipients all expand to local
// mailboxes and reports whether every one got it. Only successes are
// recorded: a recipient that failed stays pending, so that the Attempt
// after the message is queued decides, durably, whether it is deferred or
// bounced. Programs, files and remote hosts are never tried here: they
// may take long or cannot be undone, and belong to the queue.
func (m *MTA) deliverFirst(ctx context.Context, e *queue.Entry) bool {
	env := &e.Env
	expanded := true
	m.expand(env, func(int, outcome) { expanded = false })
	if !expanded {
		return false
	}
	pending := env.Pending()
	for _, i := range pending {
		if env.Rcpts[i].Kind != queue.User {
			return false
		}
	}
	done := true
	for j, o := range m.deliverLocal(ctx, e, pending) {
		r := &env.Rcpts[pending[j]]
		if o.state != queue.Sent {
			done = false
			continue
		}
		r.State, r.Status, r.Diag, r.Relay = o.state, o.status, o.diag, o.relay
		m.logRcpt(env, r, o)
	}
	return done
}
