package imapstore

import (
	"slices"
	"sort"
	"sync"
	"time"

	"unixmail/pkg/mbox"
)

// FlushDelay is how long a flag change waits in the session before it is
// written to the file, unless a command writes it sooner (EXPUNGE, CHECK,
// CLOSE, UNSELECT, SELECT, LOGOUT, COPY, MOVE, STATUS of the folder) or
// the session ends. A client that marks messages one by one as the user
// reads them costs one locked write for the lot.
const FlushDelay = 2 * time.Second

// delta is what this session changed in one message's flags and keywords
// and has not written yet. It is kept as what was added and taken away,
// not as the state it led to, so that it applies to the flags the file
// holds when it is written: another program's change made meanwhile to
// other flags stands.
type delta struct {
	add, del     mbox.Flags
	addKw, delKw []string
}

// batch is the flag changes a session has made and not written.
type batch struct {
	mu      sync.Mutex // held while the changes are written: see Session.Flush
	changes map[uint32]*delta
	due     time.Time
}

// note records that a message of the view went from old to now.
func (sel *selected) note(uid uint32, old, now mbox.State, at time.Time) {
	b := &sel.batch
	if b.changes == nil {
		b.changes = map[uint32]*delta{}
	}
	d := b.changes[uid]
	if d == nil {
		d = &delta{}
		b.changes[uid] = d
	}
	added, removed := now.Flags&^old.Flags, old.Flags&^now.Flags
	d.add = (d.add | added) &^ removed
	d.del = (d.del | removed) &^ added
	for _, k := range now.Keywords {
		if !slices.Contains(old.Keywords, k) {
			d.delKw = slices.DeleteFunc(d.delKw, func(x string) bool { return x == k })
			if !slices.Contains(d.addKw, k) {
				d.addKw = append(d.addKw, k)
			}
		}
	}
	for _, k := range old.Keywords {
		if !slices.Contains(now.Keywords, k) {
			d.addKw = slices.DeleteFunc(d.addKw, func(x string) bool { return x == k })
			if !slices.Contains(d.delKw, k) {
				d.delKw = append(d.delKw, k)
			}
		}
	}
	if b.due.IsZero() {
		b.due = at.Add(FlushDelay)
	}
}

// apply is st with the delta's changes made.
func (d *delta) apply(st mbox.State) mbox.State {
	out := mbox.State{UID: st.UID, Flags: (st.Flags | d.add) &^ d.del}
	for _, k := range st.Keywords {
		if !slices.Contains(d.delKw, k) {
			out.Keywords = append(out.Keywords, k)
		}
	}
	for _, k := range d.addKw {
		if !slices.Contains(out.Keywords, k) {
			out.Keywords = append(out.Keywords, k)
		}
	}
	return out
}

// shownState is a message's state as this session shows it: the file's,
// with the session's unwritten changes made.
func (sel *selected) shownState(e *mbox.Entry) mbox.State {
	if d := sel.batch.changes[e.UID]; d != nil {
		return d.apply(e.State)
	}
	return e.State
}

// FlushDue is when the flag changes waiting in the session are to be
// written; zero when there are none. The connection uses it to wake an
// idle session (see Flush).
func (s *Session) FlushDue() time.Time {
	if s.sel == nil {
		return time.Time{}
	}
	s.sel.batch.mu.Lock()
	defer s.sel.batch.mu.Unlock()
	return s.sel.batch.due
}

// Flush writes the flag changes waiting in the session. The connection
// calls it when they are due and the client is quiet, and at CHECK; it
// may do so while IDLE runs in another goroutine, which takes the same
// lock around its polls.
func (s *Session) Flush() error {
	if s.sel == nil {
		return nil
	}
	s.sel.batch.mu.Lock()
	defer s.sel.batch.mu.Unlock()
	return s.flush()
}

// flush writes the batch in one locked write: in place when every message
// has room in its state fields, else by a rewrite that pads them.
func (s *Session) flush() error {
	sel := s.sel
	if sel == nil || len(sel.batch.changes) == 0 {
		return nil
	}
	lf, err := s.st.openLocked(sel.path, false, sel.snap)
	if err != nil {
		sel.batch.due = s.st.now().Add(FlushDelay)
		return err
	}
	defer lf.close()
	return s.flushLocked(lf)
}

// batchChanges is the batch as changes to the messages of the locked
// snapshot, but for those skip says are dropped anyway, and the keywords
// they use that X-IMAPbase does not list yet.
func (sel *selected) batchChanges(snap *snapshot, skip func(j int) bool) (map[int]change, []string) {
	es := snap.entries
	changes := map[int]change{}
	var newKeywords []string
	for uid, d := range sel.batch.changes {
		j := sort.Search(len(es), func(i int) bool { return es[i].UID >= uid })
		if j == len(es) || es[j].UID != uid || skip(j) {
			continue // expunged by another program meanwhile, or about to be
		}
		ns := d.apply(es[j].State)
		for _, k := range ns.Keywords {
			if !slices.Contains(snap.base.Keywords, k) && !slices.Contains(newKeywords, k) {
				newKeywords = append(newKeywords, k)
			}
		}
		if ns.Flags != es[j].Flags || !slices.Equal(ns.Keywords, es[j].Keywords) {
			changes[j] = change{state: &ns}
		}
	}
	return changes, newKeywords
}

// flushLocked is flush on the folder the caller has locked.
func (s *Session) flushLocked(lf *lockedFolder) (err error) {
	sel := s.sel
	if len(sel.batch.changes) == 0 {
		return nil
	}
	defer func() {
		if err != nil {
			// Kept for the next try, not retried at once.
			sel.batch.due = s.st.now().Add(FlushDelay)
		}
	}()
	changes, newKeywords := sel.batchChanges(lf.snap, func(int) bool { return false })
	states := map[int]mbox.State{}
	// A big folder's messages shown to a session are old by its index
	// alone: the file says so too once their fields are written.
	markShown(lf.snap, changes)
	for j, c := range changes {
		states[j+lf.snap.first] = *c.state
	}
	written := false
	if len(newKeywords) == 0 && len(states) > 0 {
		idx, ok, err := mbox.WriteStates(lf.mb, lf.snap.idx, states)
		if err != nil {
			return err
		}
		if ok {
			stp, err := stampOf(lf.mb.File)
			if err != nil {
				return err
			}
			lf.snap = newSnapshot(idx, stp)
			s.st.remember(sel.path, lf.snap)
			written = true
			// A big folder's UIDs live in its index, which must fit the
			// file again; where none can be kept, the file takes them.
			if lf.snap.lazy() && !lf.snap.save(lf.mb.Path) {
				if err := s.st.rewrite(lf, nil); err != nil {
					return err
				}
			}
		}
	}
	if !written {
		if err := s.st.rewriteKeywords(lf, changes, newKeywords); err != nil {
			return err
		}
	}
	sel.snap = lf.snap
	sel.batch.changes, sel.batch.due = nil, time.Time{}
	return nil
}

// flushIfDue writes the batch when its time has come.
func (s *Session) flushIfDue() error {
	if s.sel == nil || s.sel.batch.due.IsZero() || s.st.now().Before(s.sel.batch.due) {
		return nil
	}
	return s.flush()
}
