package mta

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"unixmail/pkg/queue"
	"unixmail/pkg/userdb"
)

// childIdle is how long an idle `deliver -l` child is kept.
const childIdle = 30 * time.Second

// children keeps `deliver -l` processes, each running as one user, for a
// daemon run as root: a delivery to that user is then one LMTP
// transaction with a live process instead of a fork and exec of deliver
// per message, and still no byte of the mailbox is written by root.
type children struct {
	mu   sync.Mutex
	idle map[int][]*child // by uid
}

type child struct {
	cmd  *exec.Cmd
	conn net.Conn
	c    *smtp.Client
	used time.Time
}

// KeepDeliverChildren makes deliveries to other users go through
// long-lived `deliver -l` children; CloseChildren ends them.
func (m *MTA) KeepDeliverChildren() {
	m.children.mu.Lock()
	m.children.idle = map[int][]*child{}
	m.children.mu.Unlock()
}

// CloseChildren ends every idle child.
func (m *MTA) CloseChildren() {
	ch := &m.children
	ch.mu.Lock()
	defer ch.mu.Unlock()
	for uid, list := range ch.idle {
		for _, c := range list {
			c.close()
		}
		delete(ch.idle, uid)
	}
}

// viaChild delivers to r through a child running as u; ok is false when
// children are not kept (the caller runs deliver once instead).
func (m *MTA) viaChild(ctx context.Context, e *queue.Entry, r *queue.Recipient, u *userdb.User) (outcome, bool) {
	ch := &m.children
	ch.mu.Lock()
	if ch.idle == nil {
		ch.mu.Unlock()
		return outcome{}, false
	}
	var c *child
	now := time.Now()
	for uid, list := range ch.idle {
		kept := list[:0]
		for _, k := range list {
			switch {
			case c == nil && uid == u.UID:
				c = k
			case now.Sub(k.used) > childIdle:
				k.close()
			default:
				kept = append(kept, k)
			}
		}
		ch.idle[uid] = kept
	}
	ch.mu.Unlock()
	if c == nil {
		var err error
		if c, err = m.startChild(ctx, u); err != nil {
			return deferred("local", "4.3.0", err.Error()), true
		}
	}
	var out []outcome
	var err error
	withDeadline(ctx, c.conn, func() { out, err = lmtpSend(c.c, e, []string{r.Addr}, "local") })
	if err != nil {
		c.close()
		return out[0], true
	}
	c.used = time.Now()
	ch.mu.Lock()
	if ch.idle != nil {
		ch.idle[u.UID] = append(ch.idle[u.UID], c)
		c = nil
	}
	ch.mu.Unlock()
	if c != nil {
		c.close()
	}
	return out[0], true
}

// startChild runs `deliver -l` as u over a socket pair, and greets it.
func (m *MTA) startChild(ctx context.Context, u *userdb.User) (*child, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("deliver -l for %s: %w", u.Name, err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "lmtp"), os.NewFile(uintptr(fds[1]), "lmtp-child")
	defer theirs.Close()
	conn, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		theirs.Close()
		return nil, fmt.Errorf("deliver -l for %s: %w", u.Name, err)
	}
	cmd := exec.Command(m.Deliver, append(append([]string{}, m.DeliverArgs...), "-l")...)
	cmd.Stdin, cmd.Stdout = theirs, theirs
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
		Uid: uint32(u.UID), Gid: uint32(u.GID), Groups: []uint32{},
	}}
	if err := cmd.Start(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("deliver -l for %s: %w", u.Name, err)
	}
	c := &child{cmd: cmd, conn: conn, c: smtp.NewClientLMTP(conn)}
	withDeadline(ctx, conn, func() { err = c.c.Hello(m.Cfg.Hostname) })
	if err != nil {
		c.close()
		return nil, fmt.Errorf("deliver -l for %s: %w", u.Name, err)
	}
	return c, nil
}

// close ends the session; deliver exits at the end of its input.
func (c *child) close() {
	c.c.Close()
	c.conn.Close()
	go c.cmd.Wait()
}
