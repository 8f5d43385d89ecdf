package mta

import (
	"context"
	"sync"

	"unixmail/pkg/deliver"
	"unixmail/pkg/queue"
	"unixmail/pkg/sysexits"
	"unixmail/pkg/userdb"
)

// mailboxes delivers into mailboxes in this process, through deliver's
// own code (the same header rules, locks, checks and fsync), when we run
// as the mailbox's owner: that saves a fork and an exec per message.
// Deliveries to one mailbox take turns here first, since goroutines of
// one daemon meeting on the dot-lock would wait for it by sleeping.
type mailboxes struct {
	once sync.Once
	env  *deliver.Env
	mu   sync.Mutex
	busy map[string]*turn
}

// turn is one mailbox's queue of writers; users counts those holding or
// waiting for it, so that the map forgets idle mailboxes.
type turn struct {
	sync.Mutex
	users int
}

func (mb *mailboxes) deliver(ctx context.Context, m *MTA, e *queue.Entry, r *queue.Recipient, u *userdb.User) outcome {
	mb.once.Do(func() {
		mb.env = &deliver.Env{Config: m.Cfg, Users: m.Users, Log: m.Log, Now: m.Now}
		mb.busy = map[string]*turn{}
	})
	req := &deliver.Request{Sender: e.Env.Sender, SenderGiven: true, Address: r.Addr}
	release := mb.take(mb.env.MailboxFor(u, req))
	defer release()
	in, err := deliver.ReadIncoming(e.Message())
	if err != nil {
		return deferred("local", "4.3.0", err.Error())
	}
	res := mb.env.One(ctx, req, u, in)
	if res.Err != nil {
		return codeOutcome("local", sysexits.Code(res.Err), res.Err.Error())
	}
	return sent("local", "delivered to mailbox")
}

// take waits for path's turn and returns the function that ends it.
func (mb *mailboxes) take(path string) func() {
	mb.mu.Lock()
	t := mb.busy[path]
	if t == nil {
		t = &turn{}
		mb.busy[path] = t
	}
	t.users++
	mb.mu.Unlock()
	t.Lock()
	return func() {
		t.Unlock()
		mb.mu.Lock()
		if t.users--; t.users == 0 {
			delete(mb.busy, path)
		}
		mb.mu.Unlock()
	}
}
