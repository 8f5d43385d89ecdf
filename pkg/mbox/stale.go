package mbox

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// RemoveStale removes the files named prefix* that writers killed before
// they renamed them into place left: those older than age whose flock is
// free. A writer that holds its file's lock while it works is never
// robbed of it, however slow; age covers the moment between its making
// the file and locking it, and writers that take no lock.
func RemoveStale(prefix string, age time.Duration) {
	// Listed, not globbed: a folder's name may hold *, ? or [.
	dir, base := filepath.Split(prefix)
	files, _ := os.ReadDir(dir)
	for _, f := range files {
		if !strings.HasPrefix(f.Name(), base) || !f.Type().IsRegular() {
			continue
		}
		if st, err := f.Info(); err == nil && time.Since(st.ModTime()) > age {
			removeUnlocked(filepath.Join(dir, f.Name()))
		}
	}
}

// removeUnlocked removes the file at path unless another holds its flock.
func removeUnlocked(path string) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return
	}
	defer f.Close()
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
		os.Remove(path)
	}
}
