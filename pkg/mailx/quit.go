package mailx

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"unixmail/pkg/lock"
	"unixmail/pkg/mbox"
)

// fate is what quit does with one message.
type fate uint8

const (
	stay   fate = iota // kept in the folder
	toMbox             // appended to MBOX, then removed
	remove             // removed
)

// fateOf applies POSIX mailx's quit rules to message m: deleted messages
// go; in the system mailbox saved ones go unless keepsave, and messages
// read (or marked with mbox) go to MBOX unless hold or preserve keeps
// them. Another folder keeps what was saved (POSIX, BSD mail, s-nail).
func (s *Session) fateOf(m *msg) fate {
	switch {
	case m.mark&mDeleted != 0:
		return remove
	case m.mark&mPreserved != 0:
		return stay // hold wins over save, whichever came first (POSIX)
	case s.f.system && m.mark&mSaved != 0 && !s.isSet("keepsave"):
		return remove
	case m.mark&mMbox != 0:
		return toMbox
	case s.f.system && m.mark&mTouched != 0 && !s.isSet("hold"):
		return toMbox
	}
	return stay
}

// flagsAfter are the flags a kept message is written with: what it has
// now, and "old", since the user has seen it listed (as mutt's mark_old
// and s-nail do).
func flagsAfter(m *msg) mbox.Flags { return m.flags | mbox.Old }

// needsWrite reports whether a kept message's state changed enough to
// rewrite the folder for: in the system mailbox any change, new to old
// included (POSIX); in another folder only a change the user made, so
// that a folder only looked at is never rewritten.
func (s *Session) needsWrite(i int) bool {
	m := &s.f.msgs[i]
	if _, edited := s.f.edits[i]; edited {
		return true
	}
	if s.f.system {
		return flagsAfter(m) != m.orig
	}
	return m.flags != m.orig
}

func cmdQuit(s *Session, _ *args) error {
	s.exiting = true
	return s.quit()
}

func cmdExit(s *Session, _ *args) error {
	s.exiting = true
	return nil
}

// quit leaves the folder the POSIX way (see quitFolder).
func (s *Session) quit() error {
	s.exiting = true
	if s.f == nil {
		return nil
	}
	return s.quitFolder()
}

// quitFolder writes what the session did to the folder: under the
// folder's locks, messages bound for MBOX are appended there first (so a
// failure loses nothing), then the folder is rewritten with mbox.Rewrite,
// which keeps mail delivered meanwhile. A folder in which nothing changed
// is not written at all. If another program rewrote the folder in place
// since it was read, the session's messages are found again (folder.follow)
// rather than the quit refused.
func (s *Session) quitFolder() error {
	f := s.f
	if f.readOnly || !s.anythingToWrite() {
		return nil
	}
	mboxPath := ""
	if slices.ContainsFunc(f.msgs, func(m msg) bool { return s.fateOf(&m) == toMbox }) {
		var err error
		if mboxPath, err = s.expandPath(s.setting("MBOX")); err != nil {
			return err
		}
	}
	mb, dest, err := s.lockForQuit(mboxPath)
	if err != nil {
		return err
	}
	defer mb.Close()
	if dest != nil {
		err := s.moveToMbox(mb, dest)
		dest.Close()
		if err != nil {
			return fmt.Errorf("MBOX: %w; %s left as it was", err, f.path)
		}
	}
	err = s.rewriteFolder(mb)
	if errors.Is(err, mbox.ErrChanged) {
		if err = s.follow(mb); err == nil {
			err = s.rewriteFolder(mb)
		}
	}
	if errors.Is(err, mbox.ErrChanged) {
		return fmt.Errorf("%w; %s left as it is (nothing was deleted)", err, f.path)
	}
	if err != nil {
		return err
	}
	kept := 0
	for i := range f.msgs {
		if s.fateOf(&f.msgs[i]) == stay {
			kept++
		}
	}
	size, _ := mb.Size()
	switch {
	case f.system && size == 0 && !s.isSet("keep"):
		// POSIX: an emptied system mailbox is removed unless keep; the
		// locks are still ours, so no delivery can be under way. In
		// /var/mail that takes the mail group, as the dot-lock does.
		if err := lock.WithGroup(func() error { return os.Remove(f.path) }); err != nil {
			return fmt.Errorf("remove empty %s: %w", f.path, err)
		}
	case f.system:
		fmt.Fprintf(s.out, "Held %d message%s in %s\n", kept, plural(kept), f.path)
	default:
		fmt.Fprintf(s.out, "%q updated.\n", f.path)
	}
	return nil
}

// anythingToWrite reports whether quitting changes the folder.
func (s *Session) anythingToWrite() bool {
	for i := range s.f.msgs {
		if s.fateOf(&s.f.msgs[i]) != stay || s.needsWrite(i) {
			return true
		}
	}
	return false
}

// lockForQuit takes the folder's locks and, when path is not "", those of
// MBOX too: these only by trying, letting go of the folder's and trying
// both again after a pause while MBOX is busy, so that mail never waits for
// one lock while holding another (a program taking them the other way
// round, as Dovecot copying from ~/mbox to INBOX, would deadlock with it).
func (s *Session) lockForQuit(path string) (folder, dest *mbox.Mailbox, err error) {
	b := lock.NewBackoff(s.o.Lock)
	for {
		folder, err = mbox.Open(s.f.path, mbox.OpenOptions{Owner: -1, NoDotLockOK: true, Lock: s.o.Lock, Warn: s.warn})
		if err != nil || path == "" {
			return folder, nil, err
		}
		once := lock.Options{Timeout: time.Nanosecond, Stale: s.o.Lock.Stale}
		dest, err = mbox.Open(path, mbox.OpenOptions{Create: true, Owner: -1, NoDotLockOK: true, Lock: once, Warn: s.warn})
		if err == nil {
			return folder, dest, nil
		}
		folder.Close()
		if !errors.Is(err, lock.ErrTimeout) || !b.Wait() {
			return nil, nil, fmt.Errorf("MBOX: %w; %s left as it was", err, s.f.path)
		}
	}
}

// moveToMbox appends the messages bound for MBOX to dest, reading them
// from the folder mb holds locked, found again first if another program
// moved them.
func (s *Session) moveToMbox(mb, dest *mbox.Mailbox) error {
	f := s.f
	bound := func() []int {
		var moved []int
		for i := range f.msgs {
			if s.fateOf(&f.msgs[i]) == toMbox {
				moved = append(moved, i)
			}
		}
		return moved
	}
	moved := bound()
	if slices.ContainsFunc(moved, func(i int) bool { return !f.still(mb.File, i) }) {
		if err := s.follow(mb); err != nil {
			return err
		}
		moved = bound()
	}
	if _, _, err := s.appendTo(dest, moved, 0); err != nil {
		return err
	}
	fmt.Fprintf(s.out, "Saved %d message%s in %s\n", len(moved), plural(len(moved)), dest.Path)
	return nil
}

// follow finds the session's messages again (folder.follow) and says how
// many another program removed meanwhile.
func (s *Session) follow(mb *mbox.Mailbox) error {
	gone, err := s.f.follow(mb)
	if gone > 0 {
		fmt.Fprintf(s.out, "%d message%s had been removed from %s by another program\n", gone, plural(gone), s.f.path)
	}
	return err
}

// rewriteFolder writes the session's changes to the folder mb holds
// locked: messages that go are dropped, kept ones get their flags and
// edits.
func (s *Session) rewriteFolder(mb *mbox.Mailbox) error {
	f := s.f
	shift := 0
	if f.pseudo {
		shift = 1
	}
	return mbox.RewriteWith(mb, f.known, f.offsets(), func(i int, old *mbox.Message) mbox.Change {
		if i < shift {
			return mbox.Change{}
		}
		i -= shift
		m := &f.msgs[i]
		if s.fateOf(m) != stay {
			return mbox.Change{Drop: true}
		}
		if !s.needsWrite(i) {
			return mbox.Change{}
		}
		st := old.State
		st.Flags = flagsAfter(m)
		c := mbox.Change{State: &st}
		if e, ok := f.edits[i]; ok {
			c.Content = bytes.NewReader(e)
		}
		return c
	})
}
