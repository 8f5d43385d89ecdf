// Package mta is the mail transfer agent behind sendmail(8): it takes a
// message into the queue, routes each recipient (local ones through
// aliases(5) and ~/.forward to deliver(8), files and programs; others by
// SMTP), retries with backoff, and returns RFC 3464 bounces.
package mta

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"unixmail/pkg/aliases"
	"unixmail/pkg/config"
	"unixmail/pkg/maillog"
	"unixmail/pkg/msgauth"
	"unixmail/pkg/queue"
	"unixmail/pkg/resolver"
	"unixmail/pkg/userdb"
)

// MTA is one sendmail process's view of the mail system.
type MTA struct {
	Cfg   *config.Config
	Users *userdb.DB
	Log   *maillog.Logger
	Queue *queue.Queue
	// Deliver is the path of deliver(8); DeliverArgs go before its own
	// (-C and -o, so that it reads our configuration).
	Deliver     string
	DeliverArgs []string
	Now         func() time.Time
	// CanDeliver: the process may deliver (root, or the queue's owner);
	// else it only drops messages into maildrop/.
	CanDeliver bool
	// Verbose receives a line per delivery (-v); nil = none.
	Verbose io.Writer
	// Resolver answers every DNS question of sendmail (dns_resolver).
	Resolver *resolver.Resolver

	aliasOnce sync.Once
	aliasMap  *aliases.Map
	rounds    rounds
	children  children

	signerOnce sync.Once
	signer     *msgauth.Signer
	signerErr  error
}

// New wires an MTA from the configuration.
func New(cfg *config.Config, log *maillog.Logger, confArgs []string) *MTA {
	m := &MTA{
		Cfg:         cfg,
		Users:       userdb.Open(cfg.UserDB),
		Log:         log,
		Queue:       queue.Open(cfg.QueueDirectory),
		Deliver:     findDeliver(),
		DeliverArgs: confArgs,
		Now:         time.Now,
		Resolver:    resolver.New(cfg.DNSResolver),
	}
	m.CanDeliver = canDeliver(cfg.QueueDirectory)
	// Whatever a local user drops into maildrop/ is signed when the
	// queue runner, who may read the keys, picks it up.
	m.Queue.PickupFilter = func(id string, msg io.Reader) (io.Reader, error) { return m.signed(id, msg) }
	return m
}

// canDeliver: root may; so may the owner of the queue directory (in a
// sandbox, the owner of every mailbox). A queue that does not exist yet
// is made by whoever runs first.
func canDeliver(dir string) bool {
	euid := os.Geteuid()
	if euid == 0 {
		return true
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return os.IsNotExist(err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == euid
}

// findDeliver looks beside our executable first, so that a build tree or
// a test uses its own deliver, then in PATH.
func findDeliver() string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "deliver")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	if p, err := exec.LookPath("deliver"); err == nil {
		return p
	}
	return "deliver"
}

// Aliases returns the aliases file, read once per process. Errors in it
// are logged; the lines that parsed still work.
func (m *MTA) Aliases() *aliases.Map {
	m.aliasOnce.Do(func() {
		am, errs := aliases.Load(m.Cfg.AliasMaps)
		for _, err := range errs {
			m.Log.Warn("aliases: %v", err)
		}
		m.aliasMap = am
	})
	return m.aliasMap
}

func (m *MTA) expander() *aliases.Expander {
	return &aliases.Expander{Map: m.Aliases(), Users: m.Users, DefaultPrivs: m.Cfg.DefaultPrivs,
		IsLocal: m.Cfg.IsLocalDomain, Privs: m.lookupPrivs, Warn: m.Log.Warn}
}

// LocalUserExists is the SMTP server's check: a user, an alias, or
// postmaster (RFC 5321 4.5.1 requires it).
func (m *MTA) LocalUserExists(local string) (bool, error) {
	if strings.EqualFold(local, "postmaster") {
		return true, nil
	}
	if _, ok := m.Aliases().Lookup(local); ok {
		return true, nil
	}
	_, err := m.Users.Lookup(local)
	if err == nil {
		return true, nil
	}
	if isNoUser(err) {
		return false, nil
	}
	return false, err
}

// Qualify makes a full address: bare names get @hostname.
func (m *MTA) Qualify(addr string) string {
	if addr == "" || strings.Contains(addr, "@") {
		return addr
	}
	return addr + "@" + m.Cfg.Hostname
}

// Enqueue stores a message and returns its queue id. When the caller may
// deliver, the entry comes back locked for an immediate attempt; else the
// message waits in maildrop/ for the queue runner and e is nil.
func (m *MTA) Enqueue(env queue.Envelope, msg io.Reader) (e *queue.Entry, id string, err error) {
	if m.CanDeliver {
		if err := m.Queue.Init(); err != nil {
			return nil, "", err
		}
	}
	e, err = m.Queue.Enqueue(env, msg, m.CanDeliver)
	if err != nil {
		return nil, "", err
	}
	where := "queue active"
	if !m.CanDeliver {
		where = "maildrop"
	}
	m.Log.Info("%s: from=<%s>, size=%d, nrcpt=%d (%s)", e.Env.ID, e.Env.Sender, e.Env.Size, len(e.Env.Rcpts), where)
	if !m.CanDeliver {
		e.Close()
		return nil, e.Env.ID, nil
	}
	return e, e.Env.ID, nil
}

// RunQueue makes one pass over the queue: picks up maildrop/, then tries
// every message whose time has come (every message when force, as
// sendmail -q and postqueue -f). Messages locked by another runner are
// skipped.
func (m *MTA) RunQueue(ctx context.Context, force bool) error {
	if err := m.Queue.Init(); err != nil {
		return err
	}
	picked, err := m.Queue.Pickup()
	for _, e := range picked {
		m.Log.Info("%s: from=<%s>, size=%d, nrcpt=%d (picked up)", e.Env.ID, e.Env.Sender, e.Env.Size, len(e.Env.Rcpts))
		m.Attempt(ctx, e)
	}
	if err != nil {
		m.Log.Error("pickup: %v", err)
	}
	ids, err := m.Queue.IDs()
	if err != nil {
		return err
	}
	now := m.Now()
	for _, id := range ids {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		e, err := m.Queue.Lock(id)
		if err != nil {
			if err != queue.ErrLocked && err != queue.ErrGone {
				m.Log.Error("%s: %v", id, err)
			}
			continue
		}
		if !force && e.Env.NextTry.After(now) {
			e.Close()
			continue
		}
		m.Attempt(ctx, e)
	}
	return nil
}
