package imapstore

import (
	"runtime/debug"
	"slices"
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
// other flags stands. It lives in the message's place in the view, 16
// bytes, so that STORE 1:* on 50,000 messages adds no map of them.
type delta struct {
	add, del mbox.Flags
	kw       *kwDelta // nil when no keyword changed
}

// kwDelta is the keywords a delta adds and takes away.
type kwDelta struct{ add, del []string }

// batch is the flag changes a session has made and not written: the
// deltas of the messages of the view it marks batched.
type batch struct {
	mu  sync.Mutex // held while the changes are written: see Session.Flush
	n   int        // messages of the view batched
	due time.Time
}

// note records that message m of the view went from old to now.
func (sel *selected) note(m *viewMsg, old, now mbox.State, at time.Time) {
	b := &sel.batch
	if !m.batched {
		m.batched, m.delta = true, delta{}
		b.n++
	}
	d := &m.delta
	added, removed := now.Flags&^old.Flags, old.Flags&^now.Flags
	d.add = (d.add | added) &^ removed
	d.del = (d.del | removed) &^ added
	kw := func() *kwDelta {
		if d.kw == nil {
			d.kw = &kwDelta{}
		}
		return d.kw
	}
	for _, k := range now.Keywords {
		if !slices.Contains(old.Keywords, k) {
			kd := kw()
			kd.del = slices.DeleteFunc(kd.del, func(x string) bool { return x == k })
			if !slices.Contains(kd.add, k) {
				kd.add = append(kd.add, k)
			}
		}
	}
	for _, k := range old.Keywords {
		if !slices.Contains(now.Keywords, k) {
			kd := kw()
			kd.add = slices.DeleteFunc(kd.add, func(x string) bool { return x == k })
			if !slices.Contains(kd.del, k) {
				kd.del = append(kd.del, k)
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
	if d.kw == nil {
		out.Keywords = st.Keywords
		return out
	}
	for _, k := range st.Keywords {
		if !slices.Contains(d.kw.del, k) {
			out.Keywords = append(out.Keywords, k)
		}
	}
	for _, k := range d.kw.add {
		if !slices.Contains(out.Keywords, k) {
			out.Keywords = append(out.Keywords, k)
		}
	}
	return out
}

// shownState is message m's state as this session shows it: the file's
// (e is m's entry), with the session's unwritten changes made.
func (m *viewMsg) shownState(e *mbox.Entry) mbox.State {
	if m.batched {
		return m.delta.apply(e.State)
	}
	return e.State
}

// clearBatch forgets the batch, written.
func (sel *selected) clearBatch() {
	if sel.batch.n > 0 {
		for i := range sel.msgs {
			sel.msgs[i].batched, sel.msgs[i].delta = false, delta{}
		}
	}
	sel.batch.n, sel.batch.due = 0, time.Time{}
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
// calls it when they are due and the client is quiet; it may do so while
// IDLE runs in another goroutine, which takes the same lock around its
// polls. Written in place, they are not synced (mbox.WriteStates): see
// Check.
func (s *Session) Flush() error {
	if s.sel == nil {
		return nil
	}
	s.sel.batch.mu.Lock()
	defer s.sel.batch.mu.Unlock()
	return s.flush(false)
}

// Check is Flush for IMAP's CHECK, a checkpoint (RFC 3501 6.4.1): the
// flag changes are synced, and so are those written in place without a
// sync before (by any session), which the folder's index says it holds.
func (s *Session) Check() error {
	if s.sel == nil || s.sel.readOnly {
		return nil // EXAMINE: nothing written, and maybe nothing it may lock
	}
	s.sel.batch.mu.Lock()
	defer s.sel.batch.mu.Unlock()
	// A SELECT answered from the index alone has no snapshot yet to
	// tell whether that index holds such flags.
	if err := s.ready(s.sel); err != nil {
		return err
	}
	return s.flush(true)
}

// flush writes the batch in one locked write: in place when every message
// has room in its state fields, else by a rewrite that pads them. With
// sync, what was written in place is synced too.
func (s *Session) flush(sync bool) error {
	sel := s.sel
	if sel == nil || sel.batch.n == 0 && !(sync && sel.snap.idx.Unsynced()) {
		return nil
	}
	lf, err := s.st.openLocked(sel.path, false, sel.snap)
	if err != nil {
		sel.batch.due = s.st.now().Add(FlushDelay)
		return err
	}
	defer lf.close()
	return s.flushLocked(lf, sync)
}

// eachBatched calls fn, in file order, with each message of the locked
// snapshot (its number there) that the batch changes and the state it
// gives it, but for those skip says are dropped anyway; it returns the
// keywords they use that X-IMAPbase does not list yet.
func (sel *selected) eachBatched(snap *snapshot, skip func(j int) bool, fn func(j int, ns mbox.State)) []string {
	es := snap.entries
	var newKeywords []string
	j := 0
	for i := range sel.msgs {
		m := &sel.msgs[i]
		if !m.batched {
			continue
		}
		// Both in UID order: walked side by side.
		for j < len(es) && es[j].UID < m.uid {
			j++
		}
		if j == len(es) || es[j].UID != m.uid || skip(j) {
			continue // expunged by another program meanwhile, or about to be
		}
		ns := m.delta.apply(es[j].State)
		for _, k := range ns.Keywords {
			if !slices.Contains(snap.base.Keywords, k) && !slices.Contains(newKeywords, k) {
				newKeywords = append(newKeywords, k)
			}
		}
		if ns.Flags != es[j].Flags || !slices.Equal(ns.Keywords, es[j].Keywords) {
			fn(j, ns)
		}
	}
	return newKeywords
}

// batchChanges is the batch as changes to the messages of the locked
// snapshot, as eachBatched gives them.
func (sel *selected) batchChanges(snap *snapshot, skip func(j int) bool) (map[int]change, []string) {
	// Sized at once: grown message by message, a big folder's map is
	// rehashed again and again.
	changes := make(map[int]change, sel.batch.n)
	newKeywords := sel.eachBatched(snap, skip, func(j int, ns mbox.State) {
		was := snap.entries[j].State
		changes[j] = change{state: &ns, was: &was}
	})
	return changes, newKeywords
}

// flushLocked is flush on the folder the caller has locked.
func (s *Session) flushLocked(lf *lockedFolder, sync bool) (err error) {
	sel := s.sel
	if sel.batch.n == 0 {
		return s.syncStates(lf, sync)
	}
	defer func() {
		if err != nil {
			// Kept for the next try, not retried at once.
			sel.batch.due = s.st.now().Add(FlushDelay)
		}
	}()
	// A list in file order, not a map: a STORE to every message of a big
	// folder spent a fifth of its time building and reading maps.
	states := make([]mbox.NumberedState, 0, sel.batch.n)
	newKeywords := sel.eachBatched(lf.snap, func(int) bool { return false }, func(j int, ns mbox.State) {
		// A big folder's messages shown to a session are old by its
		// index alone: the file says so too once their fields are
		// written.
		states = append(states, mbox.NumberedState{I: j + lf.snap.first, State: markedShown(lf.snap, j, ns)})
	})
	written := false
	if len(newKeywords) == 0 && len(states) > 0 {
		// A big folder's UIDs live in its index, which must fit the
		// file again; where none can be kept, the file takes them.
		lazy := lf.snap.lazy()
		idx, ok, saved, err := writeInPlace(lf, states, sync, lazy)
		if err != nil {
			return err
		}
		if ok {
			stp, err := stampOf(lf.mb.File)
			if err != nil {
				return err
			}
			lf.snap = newSnapshot(idx, stp)
			lf.snap.saved = saved
			s.st.remember(sel.path, lf.snap)
			written = true
			if lazy && !lf.snap.save(lf.mb.Path) {
				if err := s.st.rewrite(lf, nil); err != nil {
					return err
				}
			}
		}
	}
	if !written {
		changes := make(map[int]change, len(states))
		for k := range states {
			j := states[k].I - lf.snap.first
			was := lf.snap.entries[j].State
			changes[j] = change{state: &states[k].State, was: &was}
		}
		if err := s.st.rewriteKeywords(lf, changes, newKeywords); err != nil {
			return err
		}
	}
	sel.snap = lf.snap
	sel.clearBatch()
	return s.syncStates(lf, sync)
}

// writeInPlace is mbox.WriteStates, then the index saved when save is set
// (mbox.WriteStatesSaved), with the collector off (collectorOff): for a
// big folder it copies every entry once.
func writeInPlace(lf *lockedFolder, states []mbox.NumberedState, sync, save bool) (*mbox.Index, bool, bool, error) {
	defer collectorOff()()
	if save {
		return mbox.WriteStatesSaved(lf.mb, lf.snap.idx, states, sync)
	}
	idx, ok, err := mbox.WriteStates(lf.mb, lf.snap.idx, states, sync)
	return idx, ok, false, err
}

// collectorOff turns the garbage collector off until the function it
// returns is called. Around work that allocates what stays live until it
// ends (a big folder's entries decoded, or copied with new flags), a
// collection in the middle scans that memory, and slows each copy of it
// with write barriers, to free next to nothing: a quarter of the
// processor time of a STORE to every message of 50,000. The work's
// memory stays bounded as before, by the folder's entries; a GOMEMLIMIT
// still holds.
func collectorOff() (on func()) {
	was := debug.SetGCPercent(-1)
	return func() { debug.SetGCPercent(was) }
}

// syncStates syncs, when sync is set, the flags written in place into the
// folder the caller has locked and not synced, and saves its index without
// their mark.
func (s *Session) syncStates(lf *lockedFolder, sync bool) error {
	if !sync || !lf.snap.idx.Unsynced() {
		return nil
	}
	idx, err := mbox.SyncStates(lf.mb, lf.snap.idx)
	if err != nil {
		return err
	}
	lf.snap = newSnapshot(idx, lf.snap.stamp)
	lf.snap.saved = true
	s.st.remember(s.sel.path, lf.snap)
	s.sel.snap = lf.snap
	return nil
}

// flushIfDue writes the batch when its time has come.
func (s *Session) flushIfDue() error {
	if s.sel == nil || s.sel.batch.due.IsZero() || s.st.now().Before(s.sel.batch.due) {
		return nil
	}
	return s.flush(false)
}
