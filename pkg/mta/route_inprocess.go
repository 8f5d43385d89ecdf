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

// inProcess delivers into mailboxes in this process, through deliver's
// own code (the same header rules, locks, checks and fsync), when we run
// as the mailboxes' owner: that saves a fork and an exec per message.
// Concurrent deliveries to one mailbox are committed in groups (see
// deliver.Rounds).
type inProcess struct{ m *MTA }

// rounds is the MTA's one group committer, made on first use.
type rounds struct {
	once sync.Once
	r    *deliver.Rounds
}

func (p inProcess) deliver(ctx context.Context, e *queue.Entry, rcpts []localRcpt) []outcome {
	out := make([]outcome, len(rcpts))
	for j, lr := range rcpts {
		out[j] = p.deliverTo(ctx, e, lr.r, lr.u, lr.u.Expand(p.m.Cfg.Mailbox))
	}
	return out
}

// deliverTo appends to path, u's mailbox or a file in an alias or
// .forward.
func (p inProcess) deliverTo(ctx context.Context, e *queue.Entry, r *queue.Recipient, u *userdb.User, path string) outcome {
	m := p.m
	m.rounds.once.Do(func() {
		m.rounds.r = &deliver.Rounds{Env: &deliver.Env{Config: m.Cfg, Users: m.Users, Log: m.Log, Now: m.Now, Lock: lock.Options{Timeout: m.Cfg.LockTimeout}}}
	})
	// The path is final: deliver must not expand ~ or % in it again.
	req := &deliver.Request{Sender: e.Env.Sender, SenderGiven: true, Address: r.Addr, Mailbox: strings.ReplaceAll(path, "%", "%%")}
	in, err := deliver.ReadIncoming(e.Message())
	if err != nil {
		return deferred("local", "4.3.0", err.Error())
	}
	res := m.rounds.r.Deliver(ctx, deliver.Item{Req: req, User: u, In: in})
	if res.Err != nil {
		return codeOutcome("local", sysexits.Code(res.Err), res.Err.Error())
	}
	return sent("local", "delivered to mailbox")
}
