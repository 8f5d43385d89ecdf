package imapstore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestAWatchWakesOnlyForItsFolderAndNotForLocksBesideIt(t *testing.T) {
	w := &watch{name: "Mailbox", dirWD: 1, fileWD: 2}
	for _, c := range []struct {
		what          string
		wd            int32
		mask          uint32
		name          string
		wake, repoint bool
	}{
		{"an append to the file", 2, unix.IN_MODIFY, "", true, false},
		{"a writer closing the file", 2, unix.IN_CLOSE_WRITE, "", true, false},
		{"the file removed", 2, unix.IN_DELETE_SELF, "", true, true},
		{"the file renamed away", 2, unix.IN_MOVE_SELF, "", true, true},
		{"a new file renamed over it", 1, unix.IN_MOVED_TO, "Mailbox", true, true},
		{"the file made anew", 1, unix.IN_CREATE, "Mailbox", true, true},
		{"the name removed", 1, unix.IN_DELETE, "Mailbox", true, false},
		{"a dot-lock made", 1, unix.IN_CREATE, "Mailbox.lock", false, false},
		{"a dot-lock removed", 1, unix.IN_DELETE, "Mailbox.lock", false, false},
		{"a temporary file renamed into place elsewhere", 1, unix.IN_MOVED_FROM, "Mailbox.tmp", false, false},
		{"another folder's index", 1, unix.IN_CREATE, ".Mailbox.index", false, false},
		{"lost events", -1, unix.IN_Q_OVERFLOW, "", true, true},
		{"a watch already dropped", 7, unix.IN_IGNORED, "", false, false},
	} {
		wake, repoint := w.relevant(c.wd, c.mask, c.name)
		if wake != c.wake || repoint != c.repoint {
			t.Errorf("%s: wake %v repoint %v, want %v %v", c.what, wake, repoint, c.wake, c.repoint)
		}
	}
}

// woken waits (generously: this is no speed test) for the watch to wake.
func woken(t *testing.T, w *watch, after string) {
	t.Helper()
	select {
	case <-w.wake:
	case <-time.After(20 * time.Second):
		t.Fatalf("no wake after %s", after)
	}
}

func TestAWatchFollowsAFolderThroughAppendsAndReplacement(t *testing.T) {
	u := newUser(t)
	u.deliver(u.inbox, msg("one", "1\n"))
	w, err := watchFile(u.inbox)
	if err != nil {
		t.Fatalf("no inotify here: %v", err)
	}
	defer w.close()
	u.deliver(u.inbox, msg("two", "2\n"))
	woken(t, w, "an append")

	// Replaced by a rename, as mail and Dovecot may do: the new file is
	// watched from then on.
	tmp := filepath.Join(u.dir, "Mailbox.tmp")
	if err := os.WriteFile(tmp, []byte(u.file(u.inbox)), 0600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, u.inbox); err != nil {
		t.Fatal(err)
	}
	woken(t, w, "a replacement")
	for len(w.wake) > 0 {
		<-w.wake
	}
	u.deliver(u.inbox, msg("three", "3\n"))
	woken(t, w, "an append to the replacement")

	// Removed, then delivered to anew.
	os.Remove(u.inbox)
	woken(t, w, "a removal")
	u.deliver(u.inbox, msg("four", "4\n"))
	woken(t, w, "a new file")
}

func TestAnIdleSessionHearsOfADeliveryWithoutPolling(t *testing.T) {
	u := newUser(t)
	u.deliver(u.inbox, msg("one", "1\n"))
	st := u.store()
	st.opts.Poll = time.Hour // only inotify can tell in time
	if w, err := watchFile(u.inbox); err != nil {
		t.Fatalf("no inotify here: %v", err)
	} else {
		w.close()
	}
	w := dial(t, st)
	w.ok("SELECT INBOX")
	w.c.Write([]byte("t99 IDLE\r\n"))
	if l := w.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}
	// Locks beside the mailbox are no news; the delivery is.
	os.WriteFile(u.inbox+".lock", nil, 0600)
	os.Remove(u.inbox + ".lock")
	u.deliver(u.inbox, msg("two", "2\n"))
	if l := w.line(); l != "* 2 EXISTS\r\n" {
		t.Fatalf("IDLE saw %q", l)
	}
	w.line() // RECENT
	w.c.Write([]byte("DONE\r\n"))
	w.until("t99")
}
