package daemon

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// failureStore counts failed logins per client address across
// connections. Each connection is its own process (inetd, systemd, or our
// listener's children), so the count lives in files: daemon_state_dir
// holds one per address, its text the count, its mtime the last failure.
// One failure is forgotten per decay, as throttle.Tracker forgets them
// in sendmail -bd.
type failureStore struct {
	dir   string
	decay time.Duration
}

// fail adds a failure for addr and returns how many came before it
// recently. Errors lose the count, never the login's answer.
func (s *failureStore) fail(addr string) int {
	name := fileName(addr)
	if name == "" || os.MkdirAll(s.dir, 0o700) != nil {
		return 0
	}
	fd, err := unix.Open(filepath.Join(s.dir, name), unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return 0
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	if unix.Flock(fd, unix.LOCK_EX) != nil {
		return 0
	}
	before := s.count(f)
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(before+1)+"\n"), 0)
	if before == 0 {
		// A new address, or one forgiven: now and then is the time to
		// forget the addresses long quiet, so the files stay few.
		s.sweep()
	}
	return before
}

// staleAfter is how long an address's file outlives its last failure.
const staleAfter = 24 * time.Hour

// sweep removes the files of addresses that have been quiet for a day.
func (s *failureStore) sweep() {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && time.Since(fi.ModTime()) > staleAfter {
			os.Remove(filepath.Join(s.dir, e.Name()))
		}
	}
}

// count reads a failure file, less what has decayed since it was written:
// 0 when it is empty or unreadable.
func (s *failureStore) count(f *os.File) int {
	fi, err := f.Stat()
	if err != nil {
		return 0
	}
	buf := make([]byte, 16)
	n, _ := f.ReadAt(buf, 0)
	v, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil || v < 0 {
		return 0
	}
	if s.decay > 0 {
		v -= int(time.Since(fi.ModTime()) / s.decay)
	}
	return max(v, 0)
}

// fileName is addr as a file name, or "" for anything but an IP address.
func fileName(addr string) string {
	if strings.ContainsAny(addr, "/\x00") || addr == "" || addr == "." || addr == ".." || addr == "local" {
		return ""
	}
	return addr
}
