package lock

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Turns between our own programs. Every mbox program polls for a busy
// lock (Backoff here, a sleep in procmail); one that takes a mailbox's
// locks again and again (imapd under a client that pipelines APPENDs)
// lets them go only for moments a poller is unlikely to hit. So a program
// of ours that waits says so: it listens on a socket in Linux's abstract
// namespace named by the mailbox's device and inode (Queue), and whoever
// lets the locks go connects to it (Wake). The waiter wakes and tries at
// once; the one that let go can wait until it has had its try (Turn.Wait)
// before taking the locks again. The socket holds no lock and is waited
// for by no one holding a lock, so it adds no lock order: nothing in it
// can deadlock with procmail, mutt or Dovecot. Nothing is left behind by
// a crash.

// Waiter is a program's place in the queue for a mailbox's locks.
type Waiter struct {
	fd   int // listening
	conn int // the wake being answered, or -1
}

func turnName(dev, ino uint64) *unix.SockaddrUnix {
	return &unix.SockaddrUnix{Name: fmt.Sprintf("@unixmail-lockwait:%d:%d", dev, ino)}
}

// Queue makes the caller the waiter for the locks of the mailbox at path.
// It returns nil when it cannot: the file is not there, or another waiter
// is queued already (that one is woken first; the caller polls meanwhile
// and queues when the place is free).
func Queue(path string) *Waiter {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return nil
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil
	}
	if unix.Bind(fd, turnName(uint64(st.Dev), st.Ino)) != nil || unix.Listen(fd, 8) != nil {
		unix.Close(fd)
		return nil
	}
	return &Waiter{fd: fd, conn: -1}
}

// Sleep waits for d, or until the locks are let go (a Wake). It ends the
// waiter's answer to the last wake first: the try it asked for is over.
func (w *Waiter) Sleep(d time.Duration) {
	if w == nil {
		time.Sleep(d)
		return
	}
	w.answered()
	end := time.Now().Add(d)
	for {
		left := time.Until(end)
		if left <= 0 {
			return
		}
		fds := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n == 0 {
			if err != nil {
				time.Sleep(time.Until(end))
			}
			return
		}
		if c, _, err := unix.Accept4(w.fd, unix.SOCK_CLOEXEC); err == nil {
			w.conn = c
			return
		}
	}
}

func (w *Waiter) answered() {
	if w.conn >= 0 {
		unix.Close(w.conn)
		w.conn = -1
	}
}

// Close leaves the queue, telling the one that woke the waiter that its
// try is over (the caller has the locks, or gave up).
func (w *Waiter) Close() {
	if w == nil {
		return
	}
	w.answered()
	unix.Close(w.fd)
	w.fd = -1
}

// Turn is a waiter woken by Wake, having its try.
type Turn struct{ fd int }

// Wake tells the program waiting for the locks of the mailbox open in f,
// if there is one, that they are free. f must still be open; its locks
// already let go. A waiter is heeded only when it runs as root, as the
// mailbox's owner or as ourselves: another user listening on the name
// could otherwise slow the mailbox's writers down.
func Wake(f *os.File) *Turn {
	var st unix.Stat_t
	if f == nil || unix.Fstat(int(f.Fd()), &st) != nil {
		return nil
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil
	}
	if unix.Connect(fd, turnName(uint64(st.Dev), st.Ino)) != nil {
		unix.Close(fd) // no one waits (ECONNREFUSED), or its queue is full
		return nil
	}
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil || cred.Uid != 0 && cred.Uid != st.Uid && int(cred.Uid) != os.Geteuid() {
		unix.Close(fd)
		return nil
	}
	return &Turn{fd: fd}
}

// Wait returns once the woken waiter has had its try (it has the locks,
// or found them taken again by a third program and sleeps), or after max.
func (t *Turn) Wait(max time.Duration) {
	if t == nil {
		return
	}
	defer t.Close()
	end := time.Now().Add(max)
	for {
		left := time.Until(end)
		if left <= 0 {
			return
		}
		fds := []unix.PollFd{{Fd: int32(t.fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(left.Milliseconds())+1); !errors.Is(err, unix.EINTR) {
			return // the waiter closed its end (POLLIN or POLLHUP), or time is up
		}
	}
}

// Close gives up waiting for the turn; the waiter is woken all the same.
func (t *Turn) Close() {
	if t != nil && t.fd >= 0 {
		unix.Close(t.fd)
		t.fd = -1
	}
}
