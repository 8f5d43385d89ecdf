package imapstore

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"

	"unixmail/pkg/mbox"
)

const noFollow = syscall.O_NOFOLLOW

// stamp is what tells a file unchanged without reading it.
type stamp struct {
	dev, ino           uint64
	size, mtime, ctime int64
}

func stampOf(f *os.File) (stamp, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return stamp{}, fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	return stamp{uint64(st.Dev), st.Ino, st.Size, st.Mtim.Nano(), st.Ctim.Nano()}, nil
}

// snapshot is a folder as its file held it at one moment: its messages in
// file order (UW's pseudo-message left out) and its UID state.
type snapshot struct {
	stamp   stamp
	idx     *mbox.Index // the scan, pseudo-message included
	first   int         // index in idx.Entries of the first real message
	entries []mbox.Entry
	base    mbox.Base // UIDVALIDITY and the last UID given, as the file holds them
	hasBase bool
	saved   bool // the index beside the folder holds this scan
	behind  bool // the file's base is to be raised over the index's UIDs (raiseBase), or X-UIDs written (ToWrite)
}

// uidNext is the UID the next message will get.
func (s *snapshot) uidNext() uint32 { return s.base.LastUID + 1 }

// scan reads the folder in f, reusing prev (a scan of an earlier state of
// the same file) when the file only grew: then only what was appended is
// read. Anything else, an in-place rewrite included, is read again whole.
// Without prev, the index saved beside the folder stands in for it. Every
// message is given its UID (mbox.Index.Number), from the file, or from
// what prev or the saved index gave when the file does not hold it yet.
func (st *Store) scan(f *os.File, prev *snapshot) (*snapshot, error) {
	stp, err := stampOf(f)
	if err != nil {
		return nil, err
	}
	if prev != nil && prev.stamp == stp {
		return prev, nil
	}
	var was, old *mbox.Index
	if prev != nil {
		was = prev.idx
		if prev.stamp.dev == stp.dev && prev.stamp.ino == stp.ino && stp.size > prev.stamp.size {
			old = prev.idx
		}
	} else if saved, err := mbox.LoadIndex(mbox.IndexPath(f.Name())); err == nil && saved != nil {
		was, old = saved, saved
	}
	if prev != nil && prev.lazy() {
		// Another process may have given UIDs since (its APPEND wrote
		// X-UIDs above prev's last UID into a file with no base): the
		// index it saved holds them.
		if saved, err := mbox.LoadIndex(mbox.IndexPath(f.Name())); err == nil && saved != nil &&
			saved.UIDValidity == was.UIDValidity && saved.LastUID > was.LastUID {
			was = saved
		}
	}
	idx, err := mbox.UpdateIndex(old, f)
	if err != nil {
		return nil, err
	}
	if idx.Number(was, st.now()) {
		st.logRenumbered(f.Name(), idx)
	}
	s := newSnapshot(idx, stp)
	s.saved = prev == nil && idx == was
	s.behind = s.lazy() && (idx.BaseToRaise(f) != nil || len(idx.ToWrite()) > 0)
	return s, nil
}

// logRenumbered says why the folder at path got a new UIDVALIDITY, and
// from what.
func (st *Store) logRenumbered(path string, idx *mbox.Index) {
	st.opts.Log.Warn("%s", idx.RenumberedNote(path))
}

// save keeps the scan beside the folder for the next session; failing
// costs only speed, or, where the index holds UIDs the file does not, is
// reported so that they are written into the file instead.
func (s *snapshot) save(path string) bool {
	if !s.unsaved() {
		return s.saved
	}
	if s.idx.Save(mbox.IndexPath(path)) == nil {
		s.saved = true
	}
	return s.saved
}

// unsaved reports whether the snapshot is to be saved and is not yet.
func (s *snapshot) unsaved() bool {
	return !s.saved && s.idx != nil && (len(s.idx.Entries) >= minIndexed || s.idx.Lazy())
}

// minIndexed: a folder smaller than this is read faster than its index.
const minIndexed = 256

// lazy reports whether the folder's UIDs may stay in its index
// (mbox.LazyFrom).
func (s *snapshot) lazy() bool { return s.idx.Size >= mbox.LazyFrom() }

func newSnapshot(idx *mbox.Index, st stamp) *snapshot {
	s := &snapshot{stamp: st, idx: idx}
	if len(idx.Entries) > 0 && idx.Entries[0].Pseudo {
		s.first = 1
	}
	s.entries = idx.Entries[s.first:]
	s.base = mbox.Base{UIDValidity: idx.UIDValidity, LastUID: idx.LastUID}
	if idx.Base != nil {
		s.base.Keywords = idx.Base.Keywords
	}
	s.hasBase = s.base.UIDValidity != 0
	return s
}

// recent reports whether message i is \Recent: new to the file (no
// Status: O) and not yet shown to a read-write session (by the UID the
// index keeps, where that is not written into the file).
func (s *snapshot) recent(i int) bool {
	e := &s.entries[i]
	return e.Flags&mbox.Old == 0 && e.UID >= s.idx.RecentFrom
}

// uidPlan is what must be written for every message to have a lasting UID.
type uidPlan struct {
	uids map[int]uint32 // index in entries -> UID to write
	base *mbox.Base     // an X-IMAPbase to write on the first message, or nil
}

func (p *uidPlan) empty() bool { return len(p.uids) == 0 && p.base == nil }

// planUIDs is what the file lacks of the numbering the scan gave
// (mbox.Index.Number, by the rule ipop3d shares, so POP3's UIDL and IMAP's
// UIDs name the same messages): the X-UIDs of the messages the file holds
// none (or another) for, and the base. UW's pseudo-message goes once a
// real message can carry the base.
func planUIDs(s *snapshot) *uidPlan {
	p := &uidPlan{uids: map[int]uint32{}}
	if len(s.entries) == 0 {
		return p
	}
	for i := range s.entries {
		if s.entries[i].Lazy {
			p.uids[i] = s.entries[i].UID
		}
	}
	p.base = baseToWrite(s)
	return p
}

// baseToWrite is the X-IMAPbase the file lacks (planUIDs), or nil.
func baseToWrite(s *snapshot) *mbox.Base {
	fb := s.idx.Base
	if fb == nil || fb.UIDValidity != s.base.UIDValidity || fb.LastUID != s.base.LastUID || s.first == 1 {
		b := s.base
		return &b
	}
	return nil
}

// change is what a writer wants done to one message (by index in entries).
type change struct {
	drop  bool
	state *mbox.State
	was   *mbox.State // what state was worked out from (mbox.Change.Was)
}

// lockedFolder is a folder opened for writing: both locks held, and the
// snapshot taken under them, with every message given its UID.
type lockedFolder struct {
	mb   *mbox.Mailbox
	snap *snapshot
	// held: the store keeps it locked (Store.held), and what is written
	// to it is synced at commit; close leaves it be.
	held  bool
	index *os.File // the index file, written since the last sync and not synced
	share *share   // the store's, told when the folder is let go
	// While held: the file's base was raised to reserved, UIDs from next
	// on not yet given (see reserve). Only a hold that lasts may give
	// them: once let go, another program may append after the gap.
	next, reserved uint32
	block          uint32 // the UIDs the next raise reserves beyond its need
}

// maxReserve bounds the UIDs a raise reserves beyond the APPEND at hand.
const maxReserve = 256

// reserve is how many UIDs to raise the base by beyond those an APPEND
// needs: none for the first APPEND of a hold (a client that waits for
// each reply numbers its messages without gaps), then twice as many each
// time, so that a run of n pipelined APPENDs raises and syncs the base
// about log2(n) times, and leaves fewer than n UIDs unused. RFC 3501
// 2.3.1.1 allows the gap: UIDNEXT must only grow when mail is added, and
// no one else can see the base until the run lets the folder go.
func (lf *lockedFolder) reserve() uint32 {
	if !lf.held {
		return 0
	}
	n := lf.block
	lf.block = min(max(1, 2*lf.block), maxReserve)
	return n
}

// openLocked opens and locks the folder at path and makes sure every
// message in it has a lasting UID, writing them if needed. The caller must
// call close. The folder the store holds is given as it is; another is
// let go first, so that no two are ever locked at once.
func (st *Store) openLocked(path string, create bool, prev *snapshot) (*lockedFolder, error) {
	if h := st.held; h != nil {
		if h.mb.Path == path {
			return h, nil
		}
		if err := st.commit(); err != nil {
			return nil, err
		}
	}
	st.share.before(path)
	mb, err := mbox.Open(path, mbox.OpenOptions{Create: create, Owner: st.opts.Owner, Lock: st.opts.Lock, Warn: st.opts.Log.Warn})
	if err != nil {
		return nil, st.openError(path, err)
	}
	st.share.took()
	lf := &lockedFolder{mb: mb, share: &st.share}
	if prev == nil {
		prev = st.snaps[path]
	}
	if lf.snap, err = st.scan(mb.File, prev); err != nil {
		lf.close()
		return nil, err
	}
	st.remember(path, lf.snap)
	if err := st.rewrite(lf, nil); err != nil {
		lf.close()
		return nil, err
	}
	return lf, nil
}

func (lf *lockedFolder) close() error {
	if lf.held {
		return nil
	}
	turn, err := lf.mb.CloseForTurn()
	lf.share.released(turn)
	return err
}

// hold is the folder at path locked for APPENDs whose sync waits for
// commit: held, so that the APPENDs a client pipelines take the locks and
// wait for the disk once for them all.
func (st *Store) hold(path string, create bool) (*lockedFolder, error) {
	lf, err := st.openLocked(path, create, nil)
	if err != nil || lf.held {
		return lf, err
	}
	lf.held = true
	st.held = lf
	st.unsynced.Store(true)
	return lf, nil
}

// holds reports whether the store holds the folder at path locked: the
// file is as this session left it, and locking it again would find it
// busy (its dot-lock, its OFD lock), by ourselves.
func (st *Store) holds(path string) bool { return st.held != nil && st.held.mb.Path == path }

// commit makes what was written to the held folder last (the mailbox and
// its index synced in one wait) and lets it go. A failure is kept, and
// given by every later commit: no reply may say those writes were done.
func (st *Store) commit() error {
	if lf := st.held; lf != nil {
		st.held, lf.held = nil, false
		idx := make(chan error, 1)
		if f := lf.index; f != nil {
			lf.index = nil
			go func() { idx <- mbox.SyncIndex(f) }()
		} else {
			idx <- nil
		}
		err := errors.Join(lf.mb.Sync(), <-idx)
		lf.close()
		if err != nil && st.syncErr == nil {
			st.syncErr = err
		}
	}
	if st.syncErr == nil {
		st.unsynced.Store(false)
	}
	return st.syncErr
}

// saveIndex is the snapshot's save, its sync left to commit where the
// folder is held.
func (lf *lockedFolder) saveIndex() bool {
	s := lf.snap
	if !lf.held || !s.unsaved() {
		return s.save(lf.mb.Path)
	}
	f, err := s.idx.SaveUnsynced(mbox.IndexPath(lf.mb.Path), lf.index)
	lf.index = f
	s.saved = err == nil
	return s.saved
}

// rewrite writes the changes asked for, and makes the snapshot's
// numbering last: in the index alone for a big folder (lazy) where the
// index can be saved, else in the file.
func (st *Store) rewrite(lf *lockedFolder, changes map[int]change) error {
	if lf.snap.lazy() {
		var must []int
		if lf.snap.behind {
			// Only a scan finds X-UIDs to write (ToWrite walks every
			// entry): the writes of this process leave none.
			must = lf.snap.idx.ToWrite()
		}
		if len(changes) > 0 || len(must) > 0 {
			if err := st.writeTouched(lf, changes, must); err != nil {
				return err
			}
			if s := lf.snap; len(s.idx.Entries) == 0 && s.hasBase {
				// All gone: the UID state the index kept goes into the file.
				if err := st.writePseudo(lf, &mbox.Base{UIDValidity: s.base.UIDValidity, LastUID: s.base.LastUID, Keywords: s.base.Keywords}); err != nil {
					return err
				}
			}
		}
		if err := st.raiseBase(lf); err != nil {
			return err
		}
		if lf.saveIndex() {
			return nil
		}
		// No index can be kept beside this folder: the file must hold it all.
		changes = nil
	}
	s := lf.snap
	p := planUIDs(s)
	if p.empty() && len(changes) == 0 {
		return nil
	}
	if fb := s.idx.Base; p.base != nil && s.first == 0 && fb != nil && fb.UIDValidity == p.base.UIDValidity && len(p.uids) > 0 && !touchesFirst(p, changes) {
		// New mail at the end: raise the base alone first. It keeps its
		// length (the last UID is zero-padded), so only the first bytes
		// are rewritten, and then the new X-UIDs rewrite only the tail,
		// not the whole file between them.
		if err := st.write(lf, nil, nil, p.base); err != nil {
			return err
		}
		p.base = nil
	}
	return st.write(lf, p.uids, changes, p.base)
}

// raiseBase writes the last UID a lazy folder's index gave into the
// file's X-IMAPbase, in place, before any of those UIDs is shown (see
// mbox.Index.BaseToRaise).
func (st *Store) raiseBase(lf *lockedFolder) error {
	if b := lf.snap.idx.BaseToRaise(lf.mb.File); b != nil {
		return st.write(lf, nil, nil, b)
	}
	return nil
}

// writeTouched is rewrite's lazy form: the changes, with the X-UIDs the
// file must hold (must, by index in the scan: mbox.Index.ToWrite), and
// those of the messages the changes touch (onTheWay; and the base, when
// they touch the first message) written on the way, as c-client would;
// the other UIDs stay in the index. A message changed is no longer
// \Recent once a session was shown it.
func (st *Store) writeTouched(lf *lockedFolder, changes map[int]change, must []int) error {
	s := lf.snap
	uids := map[int]uint32{}
	for _, i := range must {
		uids[i-s.first] = s.idx.Entries[i].UID
	}
	onTheWay(s, changes, -1, uids)
	markShown(s, changes)
	// The base goes on the first message left when the rewrite reaches it.
	firstKept := 0
	for firstKept < len(s.entries) && changes[firstKept].drop {
		firstKept++
	}
	base := baseToWrite(s)
	if _, touched := changes[firstKept]; !touched && firstKept == 0 {
		base = nil
	}
	return st.write(lf, uids, changes, base)
}

// onTheWay adds to uids (those written anyway, by index in entries) the
// X-UIDs a rewrite of changes writes on the way: those of the messages it
// touches (changes, and also) whose UIDs the index alone holds, where no
// message after them keeps its UID in the index alone. An X-UID before
// such a message would make a file whose index is lost take it for mail
// no one numbered (mbox.Index.Number).
func onTheWay(s *snapshot, changes map[int]change, also int, uids map[int]uint32) {
	alone := false // a message after this one keeps its UID in the index alone
	for j := len(s.entries) - 1; j >= 0; j-- {
		e := &s.entries[j]
		c, touched := changes[j]
		_, written := uids[j]
		switch {
		case !e.Lazy || written || touched && c.drop:
		case (touched || j == also) && !alone:
			uids[j] = e.UID
		default:
			alone = true
		}
	}
}

// markShown adds Status: O to the messages changes rewrite that a session
// has been shown (markedShown).
func markShown(s *snapshot, changes map[int]change) {
	for j, c := range changes {
		if c.state != nil {
			ns := markedShown(s, j, *c.state)
			changes[j] = change{state: &ns, was: c.was}
		}
	}
}

// markedShown is st, the state message j of s gets, with Status: O added
// when a session has been shown the message (below RecentFrom) and the
// file does not say it is old yet, as UW-IMAP would have written it.
func markedShown(s *snapshot, j int, st mbox.State) mbox.State {
	if e := &s.entries[j]; e.Flags&mbox.Old == 0 && e.UID < s.idx.RecentFrom {
		st.Flags |= mbox.Old
	}
	return st
}

// touchesFirst reports whether the first message changes otherwise than
// in its base.
func touchesFirst(p *uidPlan, changes map[int]change) bool {
	_, uid := p.uids[0]
	c, ch := changes[0]
	return uid || ch && (c.drop || c.state != nil)
}

// write is one RewriteWith of the folder, then a scan of the result.
func (st *Store) write(lf *lockedFolder, uids map[int]uint32, changes map[int]change, base *mbox.Base) error {
	s := lf.snap
	firstKept := -1
	for i := range s.entries {
		if !changes[i].drop {
			firstKept = i
			break
		}
	}
	// Everything before the first message touched stays as it was.
	from := s.idx.Size
	touch := func(j int) {
		if o := s.entries[j].Offset; o < from {
			from = o
		}
	}
	for j := range uids {
		touch(j)
	}
	for j := range changes {
		touch(j)
	}
	if base != nil && firstKept >= 0 {
		touch(firstKept)
	}
	if s.first > 0 && firstKept >= 0 && base != nil {
		from = 0
	}
	// Only the messages that change are read again: a base raised or a
	// message appended costs what it writes, not a read of the folder.
	// They go in one list in file order, not a map of them (50,000 when
	// every flag changes).
	touched := make([]int, 0, len(changes)+len(uids)+1)
	for j := range changes {
		touched = append(touched, j)
	}
	for j := range uids {
		touched = append(touched, j)
	}
	if firstKept >= 0 {
		touched = append(touched, firstKept)
	}
	slices.Sort(touched)
	some := make([]mbox.NumberedChange, 0, s.first+len(touched))
	for i := 0; i < s.first; i++ {
		if firstKept >= 0 && base != nil {
			// UW's pseudo-message goes once a real message carries the base.
			some = append(some, mbox.NumberedChange{I: i, Change: mbox.Change{Drop: true}})
		}
	}
	for _, j := range slices.Compact(touched) {
		c := changes[j]
		out := mbox.Change{Drop: c.drop, State: c.state, Was: c.was, UID: uids[j]}
		if j == firstKept {
			out.Base = base
		}
		if out.Drop || out.State != nil || out.UID != 0 || out.Base != nil {
			some = append(some, mbox.NumberedChange{I: j + s.first, Change: out})
		}
	}
	// Every offset: a rewrite that inserts bytes pads the messages after
	// them too (see mbox.RewriteSorted).
	offsets := make([]int64, len(s.idx.Entries))
	for i := range offsets {
		offsets[i] = s.idx.Entries[i].Offset
	}
	err := mbox.RewriteSorted(lf.mb, s.idx.Size, offsets, some)
	if e := st.noSpace(lf.mb.Path, err); e != nil {
		return e
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", lf.mb.Path, err)
	}
	if uids == nil && changes == nil && s.first == 0 {
		// Only the base, rewritten in place at its length: every message
		// is where it was.
		if size, err := lf.mb.Size(); err == nil && size == s.idx.Size {
			from = size
		}
	}
	// Where nothing was dropped, none is named gone: an index that names
	// some is numbered by a walk of every message (mbox.Index.Number), and
	// a run of APPENDs to a big folder raises its base in place again and
	// again: 1,000 APPENDs to a folder of 95,000 walked it 56 times.
	var gone func(i int) bool
	for _, c := range changes {
		if c.drop {
			gone = func(i int) bool { return i >= s.first && changes[i-s.first].drop }
			break
		}
	}
	return st.reindex(lf, from, gone)
}

// reindex takes the snapshot of a folder this process has just written,
// from the byte it changed on, the messages gone (by index in the
// snapshot's index, nil for none) left out. The UIDs the file does not
// hold are found again in the snapshot (mbox.Index.Number); a lazy
// folder's index is saved at once, while the lock is held, so that no
// other program numbers the rewritten file from an older one. The
// collector is off meanwhile (collectorOff): the new entries are a copy
// of the old ones (7.5 MB for 50,000 messages, all live), and a
// collection in the middle of an expunge of 10% of them doubled the time
// of all this (from 45 ms to 100) to free nothing.
func (st *Store) reindex(lf *lockedFolder, from int64, gone func(i int) bool) error {
	defer collectorOff()()
	idx, err := mbox.ReindexRewritten(lf.snap.idx, lf.mb, from)
	if err != nil {
		return err
	}
	stp, err := stampOf(lf.mb.File)
	if err != nil {
		return err
	}
	renumbered := false
	if gone != nil {
		renumbered = idx.NumberWithout(lf.snap.idx, gone, st.now())
	} else {
		renumbered = idx.Number(lf.snap.idx, st.now())
	}
	if renumbered {
		st.logRenumbered(lf.mb.Path, idx)
	}
	lf.snap = newSnapshot(idx, stp)
	if lf.snap.lazy() {
		lf.saveIndex()
	}
	st.remember(lf.mb.Path, lf.snap)
	return nil
}

// remember keeps the last snapshot of each folder, so the next command
// on it reads only what changed since.
func (st *Store) remember(path string, s *snapshot) {
	if st.snaps == nil {
		st.snaps = map[string]*snapshot{}
	}
	st.snaps[path] = s
}

// readSnapshot scans the folder at path under a brief shared lock. A
// missing file is an empty folder.
func (st *Store) readSnapshot(path string, prev *snapshot) (*snapshot, error) {
	if h := st.held; h != nil && h.mb.Path == path {
		return h.snap, nil // locked by us: the file is as we left it
	}
	if prev == nil {
		prev = st.snaps[path]
	}
	if prev != nil {
		if f, err := os.OpenFile(path, os.O_RDONLY|noFollow, 0); err == nil {
			stp, serr := stampOf(f)
			f.Close()
			if serr == nil && stp == prev.stamp {
				return prev, nil
			}
			// Written by this session since (an APPEND to the selected
			// folder): what it scanned then is the file now.
			if last := st.snaps[path]; serr == nil && last != nil && stp == last.stamp {
				return last, nil
			}
		}
	}
	if last := st.snaps[path]; last != nil {
		// The last scan this store made (of its own APPEND, say) knows
		// the UIDs given since prev: the new mail is numbered after them.
		prev = last
	}
	mb, err := mbox.Open(path, mbox.OpenOptions{ReadOnly: true, Owner: st.opts.Owner, Lock: st.opts.Lock, Warn: st.opts.Log.Warn, NoDotLockOK: true})
	if errors.Is(err, os.ErrNotExist) {
		return &snapshot{idx: &mbox.Index{}}, nil
	}
	if err != nil {
		return nil, st.openError(path, err)
	}
	defer mb.Close()
	snap, err := st.scan(mb.File, prev)
	if err == nil {
		st.remember(path, snap)
	}
	return snap, err
}

// complete reports whether every message has its lasting UID, so nothing
// needs writing before the snapshot is shown to a client.
func (s *snapshot) complete() bool {
	if s.idx.Pending() {
		return false
	}
	if s.lazy() {
		return !s.behind
	}
	return planUIDs(s).empty()
}
