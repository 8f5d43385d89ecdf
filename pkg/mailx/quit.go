package mailx

import (
	"bytes"
	"errors"
	"fmt"
	"os"

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

// quitFolder writes what the session did to the folder: messages bound
// for MBOX are appended there first (so a failure loses nothing), then the
// folder is rewritten with mbox.Rewrite, which keeps mail delivered
// meanwhile. A folder in which nothing changed is not written at all.
func (s *Session) quitFolder() error {
	f := s.f
	if f.readOnly {
		return nil
	}
	var moved []int
	changed, kept := false, 0
	for i := range f.msgs {
		m := &f.msgs[i]
		switch s.fateOf(m) {
		case toMbox:
			moved = append(moved, i)
			changed = true
		case remove:
			changed = true
		default:
			kept++
			if s.needsWrite(i) {
				changed = true
			}
		}
	}
	if !changed {
		return nil
	}
	if len(moved) > 0 {
		mboxPath, err := s.expandPath(s.setting("MBOX"))
		if err != nil {
			return err
		}
		if err := s.appendMessages(mboxPath, moved, "", 0); err != nil {
			return fmt.Errorf("MBOX: %w; %s left as it was", err, f.path)
		}
		fmt.Fprintf(s.out, "Saved %d message%s in %s\n", len(moved), plural(len(moved)), mboxPath)
	}
	mb, err := mbox.Open(f.path, mbox.OpenOptions{Owner: -1, NoDotLockOK: true, Lock: s.o.Lock})
	if err != nil {
		return err
	}
	defer mb.Close()
	shift := 0
	if f.pseudo {
		shift = 1
	}
	err = mbox.RewriteWith(mb, f.known, f.offsets(), func(i int, old *mbox.Message) mbox.Change {
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
	if errors.Is(err, mbox.ErrChanged) {
		return fmt.Errorf("%w; %s left as it is (nothing was deleted)", err, f.path)
	}
	if err != nil {
		return err
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
