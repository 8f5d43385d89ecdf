package mta

import (
	"context"
	"strings"
	"sync"

	"unixmail/pkg/deliver"
	"unixmail/pkg/lock"
	"unixmail/pkg/queue"
	"unixmail/pkg/sysexits"
	"unixmail/pkg/userdb"
)

// mailboxes delivers into mailboxes in this process, through deliver's
// own code (the same header rules, locks, checks and fsync), when we run
// as the mailbox's owner: that saves a fork and an exec per message.
//
// Deliveries to one mailbox are committed in groups: the first to arrive
// leads, appending what has gathered for that mailbox under one lock and
// one fdatasync, while later arrivals wait for the next round. Ten SMTP
// sessions writing to one mailbox then cost a few syncs, not ten, and no
// one sleeps on the dot-lock.
type mailboxes struct {
	once sync.Once
	env  *deliver.Env
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
	item deliver.Item
	done chan deliver.Result
}

// deliver appends to path, u's mailbox or a file in an alias or .forward.
func (mb *mailboxes) deliver(ctx context.Context, m *MTA, e *queue.Entry, r *queue.Recipient, u *userdb.User, path string) outcome {
	mb.once.Do(func() {
		mb.env = &deliver.Env{Config: m.Cfg, Users: m.Users, Log: m.Log, Now: m.Now, Lock: lock.Options{Timeout: m.Cfg.LockTimeout}}
		mb.busy = map[string]*round{}
	})
	// The path is final: deliver must not expand ~ or % in it again.
	req := &deliver.Request{Sender: e.Env.Sender, SenderGiven: true, Address: r.Addr, Mailbox: strings.ReplaceAll(path, "%", "%%")}
	in, err := deliver.ReadIncoming(e.Message())
	if err != nil {
		return deferred("local", "4.3.0", err.Error())
	}
	res := mb.commit(ctx, path, deliver.Item{Req: req, User: u, In: in})
	if res.Err != nil {
		return codeOutcome("local", sysexits.Code(res.Err), res.Err.Error())
	}
	return sent("local", "delivered to mailbox")
}

// commit adds item to its mailbox's round and returns its result, leading
// the writing if no one else is.
func (mb *mailboxes) commit(ctx context.Context, path string, item deliver.Item) deliver.Result {
	w := &waiter{item: item, done: make(chan deliver.Result, 1)}
	mb.mu.Lock()
	rd := mb.busy[path]
	if rd == nil {
		rd = &round{}
		mb.busy[path] = rd
	}
	rd.waiting = append(rd.waiting, w)
	lead := !rd.leading
	rd.leading = true
	mb.mu.Unlock()
	if lead {
		mb.lead(ctx, path, rd)
	}
	return <-w.done
}

// lead writes rounds for path until no one waits.
func (mb *mailboxes) lead(ctx context.Context, path string, rd *round) {
	for {
		mb.mu.Lock()
		group := rd.waiting
		rd.waiting = nil
		if len(group) == 0 {
			rd.leading = false
			delete(mb.busy, path)
			mb.mu.Unlock()
			return
		}
		mb.mu.Unlock()
		items := make([]deliver.Item, len(group))
		for i, w := range group {
			items[i] = w.item
		}
		// Others' messages ride on this round: the leader's own session
		// ending must not cancel them.
		for i, res := range mb.env.Batch(context.WithoutCancel(ctx), items) {
			group[i].done <- res
		}
	}
}
