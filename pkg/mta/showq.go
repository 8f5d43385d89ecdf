package mta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"unixmail/pkg/sysexits"
)

// Only root reads the queue (active/ is private: it holds the messages),
// yet Postfix lets any user list it. As Postfix's showq, the daemon
// answers on a socket anyone may connect to with the listing and nothing
// else; mailq run by a user who cannot read the queue asks it.

// ShowqPath is the socket of the queue listing.
func (m *MTA) ShowqPath() string { return filepath.Join(m.Cfg.QueueDirectory, "public", "showq") }

// showqTimeout bounds one listing, so a client that stops reading cannot
// hold the socket.
const showqTimeout = 30 * time.Second

// ListenShowq makes the listing socket (a stale one is replaced).
func (m *MTA) ListenShowq() (net.Listener, error) {
	path := m.ShowqPath()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("showq: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("showq: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("showq: %w", err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, fmt.Errorf("showq: %w", err)
	}
	return ln, nil
}

// ServeShowq writes the listing to each client of ln, one at a time,
// until ctx ends.
func (m *MTA) ServeShowq(ctx context.Context, ln net.Listener) {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var one sync.Mutex
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() == nil {
				m.Log.Error("showq: %v", err)
			}
			return
		}
		go func() {
			defer c.Close()
			one.Lock()
			defer one.Unlock()
			_ = c.SetDeadline(time.Now().Add(showqTimeout))
			if err := m.printQueue(c); err != nil {
				m.Log.Warn("showq: %v", err)
			}
		}()
	}
}

// PrintQueue writes the queue listing (mailq): read directly when we
// may, else asked of the daemon.
func (m *MTA) PrintQueue(w io.Writer) error {
	err := m.printQueue(w)
	if !errors.Is(err, fs.ErrPermission) {
		return err
	}
	c, derr := net.Dial("unix", m.ShowqPath())
	if derr != nil {
		return sysexits.Wrap(sysexits.Unavailable,
			fmt.Errorf("queue report unavailable: only root reads the queue, and the mail system (sendmail -bd) is not running"))
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(showqTimeout))
	if _, err := io.Copy(w, c); err != nil {
		return sysexits.Wrap(sysexits.IOErr, fmt.Errorf("queue report: %w", err))
	}
	return nil
}
