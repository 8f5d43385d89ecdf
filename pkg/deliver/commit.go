package deliver

import (
	"context"
	"sync"
)

// Rounds commits deliveries to one mailbox in groups, for a process that
// takes many messages at once (an MTA delivering as the mailbox's owner,
// deliver -l serving several connections): the first to arrive leads,
// appending what has gathered for that mailbox under one lock and one
// fdatasync, while later arrivals wait for the next round. Ten sessions
// writing to one mailbox then cost a few syncs, not ten, and no one sleeps
// on the dot-lock. Each caller still gets its answer only once its
// message is on disk.
type Rounds struct {
	Env  *Env
	mu   sync.Mutex
	busy map[string]*round
}

// round is one mailbox's deliveries waiting to be written; leading says
// someone is writing them.
type round struct {
	waiting []*waiter
	leading bool
}

type waiter struct {
	item Item
	done chan Result
}

// Deliver adds item to its mailbox's round and returns its result, leading
// the writing if no one else is.
func (rs *Rounds) Deliver(ctx context.Context, item Item) Result {
	path := rs.Env.MailboxFor(item.User, item.Req)
	w := &waiter{item: item, done: make(chan Result, 1)}
	rs.mu.Lock()
	if rs.busy == nil {
		rs.busy = map[string]*round{}
	}
	rd := rs.busy[path]
	if rd == nil {
		rd = &round{}
		rs.busy[path] = rd
	}
	rd.waiting = append(rd.waiting, w)
	lead := !rd.leading
	rd.leading = true
	rs.mu.Unlock()
	if lead {
		rs.lead(ctx, path, rd)
	}
	return <-w.done
}

// lead writes rounds for path until no one waits.
func (rs *Rounds) lead(ctx context.Context, path string, rd *round) {
	for {
		rs.mu.Lock()
		group := rd.waiting
		rd.waiting = nil
		if len(group) == 0 {
			rd.leading = false
			delete(rs.busy, path)
			rs.mu.Unlock()
			return
		}
		rs.mu.Unlock()
		items := make([]Item, len(group))
		for i, w := range group {
			items[i] = w.item
		}
		// Others' messages ride on this round: the leader's own session
		// ending must not cancel them.
		for i, res := range rs.Env.Batch(context.WithoutCancel(ctx), items) {
			group[i].done <- res
		}
	}
}
