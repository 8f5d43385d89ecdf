package mta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"unixmail/pkg/deliver"
	"unixmail/pkg/maillog"
	"unixmail/pkg/queue"
	"unixmail/pkg/userdb"
)

// childIdle is how long an idle `deliver -l` child is kept.
const childIdle = 30 * time.Second

// perUserChild delivers through a `deliver -l` process per user (per uid)
// that a daemon run as root keeps: one LMTP transaction with a live
// process instead of a fork and exec of deliver per message, and still no
// byte of a mailbox written by root. Each child serves every session of
// ours at once over its own listening socket, one connection per session
// busy with it, and commits the messages arriving together for one
// mailbox under one lock and one fsync (deliver.Rounds); each session
// still has its answer only once its message is on disk.
type perUserChild struct{ m *MTA }

// children are the kept processes, by uid; nil kids: none are kept.
type children struct {
	mu   sync.Mutex
	kids map[int]*kid
	dir  string // root's private directory of the children's sockets
}

// kid is one `deliver -l` process and our connections to it.
type kid struct {
	cmd   *exec.Cmd
	stop  io.Closer // its standard input: closing it ends the process
	path  string    // its socket
	idle  []*lmtpConn
	busy  int
	used  time.Time
	ended bool
}

type lmtpConn struct {
	conn net.Conn
	c    *smtp.Client
}

// KeepDeliverChildren makes deliveries to other users go through
// long-lived `deliver -l` children; CloseChildren ends them.
func (m *MTA) KeepDeliverChildren() {
	m.children.mu.Lock()
	m.children.kids = map[int]*kid{}
	m.children.mu.Unlock()
}

// CloseChildren ends every child.
func (m *MTA) CloseChildren() {
	ch := &m.children
	ch.mu.Lock()
	defer ch.mu.Unlock()
	for uid, k := range ch.kids {
		k.end()
		delete(ch.kids, uid)
	}
	ch.kids = nil
	if ch.dir != "" {
		os.RemoveAll(ch.dir)
		ch.dir = ""
	}
}

func (ch *children) kept() bool {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.kids != nil
}

// deliver sends each uid's recipients to its child in one transaction.
func (p perUserChild) deliver(ctx context.Context, e *queue.Entry, rcpts []localRcpt) []outcome {
	out := make([]outcome, len(rcpts))
	byUID := map[int][]int{}
	var uids []int
	for j, lr := range rcpts {
		if _, ok := byUID[lr.u.UID]; !ok {
			uids = append(uids, lr.u.UID)
		}
		byUID[lr.u.UID] = append(byUID[lr.u.UID], j)
	}
	for _, uid := range uids {
		pos := byUID[uid]
		some := make([]localRcpt, len(pos))
		for k, j := range pos {
			some[k] = rcpts[j]
		}
		for k, o := range p.m.viaChild(ctx, e, some) {
			out[pos[k]] = o
		}
	}
	return out
}

// viaChild is one transaction with the child of rcpts' user (they share
// a uid), over an idle connection or a new one; a transaction that fails
// before it began is tried once more on a new connection (the child may
// have ended meanwhile).
func (m *MTA) viaChild(ctx context.Context, e *queue.Entry, rcpts []localRcpt) []outcome {
	u := rcpts[0].u
	deliver.PrepareSpool(u.Expand(m.Cfg.Mailbox), u)
	for try := 0; ; try++ {
		k, lc, err := m.children.take(ctx, m, u)
		if err != nil {
			return lmtpFailed(make([]outcome, len(rcpts)), "local", err)
		}
		var out []outcome
		withDeadline(ctx, lc.conn, func() { out, err = lmtpSend(lc.c, e, addrsOf(rcpts), "local") })
		m.children.give(k, lc, err == nil)
		var before *notStartedError
		if err == nil || try > 0 || !errors.As(err, &before) {
			return out
		}
	}
}

// take returns a connection to u's child, starting the child or dialling
// a new connection as needed; it ends children idle too long.
func (ch *children) take(ctx context.Context, m *MTA, u *userdb.User) (*kid, *lmtpConn, error) {
	ch.mu.Lock()
	if ch.kids == nil {
		ch.mu.Unlock()
		return nil, nil, fmt.Errorf("deliver -l children are no longer kept")
	}
	now := time.Now()
	for uid, k := range ch.kids {
		if k.busy == 0 && now.Sub(k.used) > childIdle && uid != u.UID {
			k.end()
			delete(ch.kids, uid)
		}
	}
	k := ch.kids[u.UID]
	if k == nil || k.ended {
		var err error
		if k, err = ch.start(m, u); err != nil {
			ch.mu.Unlock()
			return nil, nil, err
		}
		ch.kids[u.UID] = k
	}
	k.busy++
	if n := len(k.idle); n > 0 {
		lc := k.idle[n-1]
		k.idle = k.idle[:n-1]
		ch.mu.Unlock()
		return k, lc, nil
	}
	ch.mu.Unlock()
	lc, err := dialChild(ctx, k.path, m.Cfg.Hostname)
	if err != nil {
		ch.give(k, nil, false)
		return nil, nil, fmt.Errorf("deliver -l for %s: %w", u.Name, err)
	}
	return k, lc, nil
}

// give returns a connection after a transaction; a broken one is closed,
// and its child presumed gone.
func (ch *children) give(k *kid, lc *lmtpConn, ok bool) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	k.busy--
	k.used = time.Now()
	switch {
	case ok && !k.ended:
		k.idle = append(k.idle, lc)
	case lc != nil:
		lc.close()
		fallthrough
	default:
		if k.busy == 0 && !ok {
			k.end()
		}
	}
}

// start runs `deliver -l` as u with a listening socket of its own in our
// private directory (root's alone: no one else can connect), and a pipe
// on its standard input whose end tells it to stop.
func (ch *children) start(m *MTA, u *userdb.User) (*kid, error) {
	if ch.dir == "" {
		dir, err := os.MkdirTemp("", "unixmail-lmtp-")
		if err != nil {
			return nil, fmt.Errorf("deliver -l for %s: %w", u.Name, err)
		}
		ch.dir = dir
	}
	path := filepath.Join(ch.dir, strconv.Itoa(u.UID))
	os.Remove(path)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("deliver -l for %s: %w", u.Name, err)
	}
	ln.SetUnlinkOnClose(false)
	lf, err := ln.File()
	ln.Close()
	if err != nil {
		return nil, fmt.Errorf("deliver -l for %s: %w", u.Name, err)
	}
	defer lf.Close()
	cmd := exec.Command(m.Deliver, append(append([]string{}, m.DeliverArgs...), "-l")...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("deliver -l for %s: %w", u.Name, err)
	}
	cmd.ExtraFiles = []*os.File{lf} // fd 3, as systemd passes it
	cmd.Stderr = &warnLines{log: m.Log, who: "deliver -l for " + u.Name}
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LISTEN_FDS=1", deliver.CallerEnv + "=MAILER-DAEMON"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
		Uid: uint32(u.UID), Gid: uint32(u.GID), Groups: []uint32{},
	}}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("deliver -l for %s: %w", u.Name, err)
	}
	return &kid{cmd: cmd, stop: stdin, path: path, used: time.Now()}, nil
}

func dialChild(ctx context.Context, path, hostname string) (*lmtpConn, error) {
	conn, err := dialTransport(ctx, "unix:"+path)
	if err != nil {
		return nil, err
	}
	lc := &lmtpConn{conn: conn, c: smtp.NewClientLMTP(conn)}
	withDeadline(ctx, conn, func() { err = lc.c.Hello(hostname) })
	if err != nil {
		lc.close()
		return nil, err
	}
	return lc, nil
}

// end closes our connections and tells the child to stop; it finishes
// what it is doing first.
func (k *kid) end() {
	if k.ended {
		return
	}
	k.ended = true
	for _, lc := range k.idle {
		lc.close()
	}
	k.idle = nil
	k.stop.Close()
	os.Remove(k.path)
	go k.cmd.Wait()
}

func (lc *lmtpConn) close() {
	lc.c.Close()
	lc.conn.Close()
}

// warnLines logs each line a kept child writes to its standard error as a
// warning of ours: the child has no log, and says there what the
// administrator must hear of (a journal beside a mailbox set aside).
// Only exec's copying goroutine writes to it.
type warnLines struct {
	log  *maillog.Logger
	who  string
	part []byte
}

func (w *warnLines) Write(p []byte) (int, error) {
	w.part = append(w.part, p...)
	for {
		line, rest, ok := bytes.Cut(w.part, []byte("\n"))
		if !ok && len(w.part) < 4096 {
			break
		}
		if text := strings.TrimSpace(string(line)); text != "" {
			w.log.Warn("%s: %s", w.who, text)
		}
		w.part = rest
		if !ok {
			w.part = nil
		}
	}
	return len(p), nil
}
