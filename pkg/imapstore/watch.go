package imapstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// watch wakes IDLE when a folder's file may have changed, through inotify
// on the file (deliver appends, mail and Dovecot rewrite in place) and on
// its directory, for the one name only (mail and Dovecot may replace the
// file by a rename; dot-locks and temporary files come and go beside it
// and are no news). A wake only says "look": what changed is still read
// from the file, as a poll would.
type watch struct {
	f      *os.File // the inotify descriptor, read through Go's poller
	fd     int      // the same, for the calls os.File lacks (its Fd would make reads block)
	path   string
	name   string
	dirWD  int32
	fileWD int32
	wake   chan struct{}
	done   sync.WaitGroup
}

const (
	fileEvents = unix.IN_MODIFY | unix.IN_CLOSE_WRITE | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_DONT_FOLLOW
	dirEvents  = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_DELETE | unix.IN_ONLYDIR
)

// errNoWatch: the folder's file system tells inotify nothing of other
// hosts' writes (NFS and the like); polling it is the only way.
var errNoWatch = errors.New("inotify cannot see writes on this file system")

// remoteFS are the file systems where another host may write the file.
var remoteFS = map[int64]bool{
	unix.NFS_SUPER_MAGIC: true, unix.SMB_SUPER_MAGIC: true, unix.CIFS_SUPER_MAGIC: true,
	unix.SMB2_SUPER_MAGIC: true, unix.FUSE_SUPER_MAGIC: true, unix.V9FS_MAGIC: true,
	unix.CEPH_SUPER_MAGIC: true, unix.AFS_SUPER_MAGIC: true, unix.AFS_FS_MAGIC: true,
	unix.CODA_SUPER_MAGIC: true,
}

// watchFile starts watching the folder at path. It fails where inotify
// cannot serve (no inotify, the per-user limit reached, a network file
// system); the caller then polls.
func watchFile(path string) (*watch, error) {
	dir := filepath.Dir(path)
	var sfs unix.Statfs_t
	if err := unix.Statfs(dir, &sfs); err != nil {
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	if remoteFS[int64(sfs.Type)] {
		return nil, errNoWatch
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	w := &watch{f: os.NewFile(uintptr(fd), "inotify"), fd: fd, path: path, name: filepath.Base(path), fileWD: -1, wake: make(chan struct{}, 1)}
	dwd, err := unix.InotifyAddWatch(fd, dir, dirEvents)
	if err != nil {
		w.f.Close()
		return nil, fmt.Errorf("watch %s: %w", dir, err)
	}
	w.dirWD = int32(dwd)
	if err := w.watchTheFile(); err != nil && !errors.Is(err, unix.ENOENT) {
		// No file yet is fine: the directory says when it comes.
		w.f.Close()
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	w.done.Add(1)
	go w.run()
	return w, nil
}

// watchTheFile (re)points the file watch at whatever file the path names
// now, dropping the watch on a file that was replaced.
func (w *watch) watchTheFile() error {
	wd, err := unix.InotifyAddWatch(w.fd, w.path, fileEvents)
	if err != nil {
		return err
	}
	if w.fileWD >= 0 && int32(wd) != w.fileWD {
		unix.InotifyRmWatch(w.fd, uint32(w.fileWD)) // gone already if the old file was removed
	}
	w.fileWD = int32(wd)
	return nil
}

func (w *watch) run() {
	defer w.done.Done()
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			return // closed
		}
		news, replaced := false, false
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			end := off + unix.SizeofInotifyEvent + int(ev.Len)
			if end > n {
				break
			}
			name := eventName(buf[off+unix.SizeofInotifyEvent : end])
			off = end
			wakes, repoint := w.relevant(ev.Wd, ev.Mask, name)
			news = news || wakes
			replaced = replaced || repoint
		}
		if replaced {
			w.watchTheFile()
		}
		if news {
			select {
			case w.wake <- struct{}{}:
			default: // a wake is already waiting
			}
		}
	}
}

// relevant tells whether an event is news of the folder (wake), and
// whether the path may now name another file (repoint the file watch).
func (w *watch) relevant(wd int32, mask uint32, name string) (wake, repoint bool) {
	switch {
	case mask&unix.IN_Q_OVERFLOW != 0:
		return true, true // events were lost: look, whatever happened
	case wd == w.dirWD:
		if name != w.name {
			return false, false // a lock or temporary file beside the folder
		}
		return true, mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0
	case wd == w.fileWD:
		return true, mask&(unix.IN_DELETE_SELF|unix.IN_MOVE_SELF) != 0
	}
	return false, false // a watch already dropped
}

// eventName is the NUL-padded name after an inotify event.
func eventName(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// close stops the watch.
func (w *watch) close() {
	w.f.Close()
	w.done.Wait()
}
