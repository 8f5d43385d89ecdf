package imapstore

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

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
}

// uidNext is the UID the next message will get.
func (s *snapshot) uidNext() uint32 { return s.base.LastUID + 1 }

// scan reads the folder in f, reusing prev (a scan of an earlier state of
// the same file) when the file only grew: then only what was appended is
// read. Anything else, an in-place rewrite included, is read again whole.
func scan(f *os.File, prev *snapshot) (*snapshot, error) {
	st, err := stampOf(f)
	if err != nil {
		return nil, err
	}
	if prev != nil && prev.stamp == st {
		return prev, nil
	}
	var old *mbox.Index
	if prev != nil && prev.stamp.dev == st.dev && prev.stamp.ino == st.ino && st.size > prev.stamp.size {
		old = prev.idx
	}
	if prev == nil {
		if s := fromSavedIndex(f, st); s != nil {
			return s, nil
		}
	}
	idx, err := mbox.UpdateIndex(old, f)
	if err != nil {
		return nil, err
	}
	return newSnapshot(idx, st), nil
}

// fromSavedIndex uses the index saved beside the folder when the file is
// as it left it, or has only grown (then just the new mail is read). A
// file of the same size but a new mtime may have been edited in place
// (a flag written by another program): that is read again whole.
func fromSavedIndex(f *os.File, st stamp) *snapshot {
	saved, err := mbox.LoadIndex(mbox.IndexPath(f.Name()))
	if err != nil || saved == nil || st.size < saved.Size {
		return nil
	}
	idx, err := mbox.UpdateIndex(saved, f)
	if err != nil || (st.size == saved.Size && idx != saved) {
		return nil
	}
	s := newSnapshot(idx, st)
	s.saved = idx == saved
	return s
}

// save keeps the scan beside the folder for the next session; failing
// costs only speed.
func (s *snapshot) save(path string) {
	if s.saved || s.idx == nil || len(s.idx.Entries) < minIndexed {
		return
	}
	if s.idx.Save(mbox.IndexPath(path)) == nil {
		s.saved = true
	}
}

// minIndexed: a folder smaller than this is read faster than its index.
const minIndexed = 256

func newSnapshot(idx *mbox.Index, st stamp) *snapshot {
	s := &snapshot{stamp: st, idx: idx}
	if len(idx.Entries) > 0 && idx.Entries[0].Pseudo {
		s.first = 1
	}
	s.entries = idx.Entries[s.first:]
	if idx.Base != nil {
		s.base = *idx.Base
		s.hasBase = s.base.UIDValidity != 0
	}
	return s
}

// uidPlan is what must be written for every message to have a lasting UID.
type uidPlan struct {
	uids       map[int]uint32 // index in entries -> UID to write
	base       *mbox.Base     // an X-IMAPbase to write on the first message, or nil
	renumbered bool           // UIDVALIDITY changed: the old UIDs could not stand
}

func (p *uidPlan) empty() bool { return len(p.uids) == 0 && p.base == nil }

// planUIDs gives UIDs to the messages that have none by mbox.NumberUIDs,
// the rule ipop3d shares, so POP3's UIDL and IMAP's UIDs name the same
// messages. UW's pseudo-message goes once a real message can carry the
// base.
func planUIDs(s *snapshot, now time.Time) *uidPlan {
	p := &uidPlan{uids: map[int]uint32{}}
	if len(s.entries) == 0 {
		return p
	}
	var old *mbox.Base
	if s.hasBase {
		old = &s.base
	}
	uids := make([]uint32, len(s.entries))
	for i := range s.entries {
		uids[i] = s.entries[i].UID
	}
	base, assigned, changed := mbox.NumberUIDs(old, uids, now)
	for i, u := range assigned {
		if u != uids[i] {
			p.uids[i] = u
		}
	}
	if changed || s.first == 1 {
		p.base = &base
	}
	p.renumbered = s.hasBase && base.UIDValidity != s.base.UIDValidity
	return p
}

// change is what a writer wants done to one message (by index in entries).
type change struct {
	drop  bool
	state *mbox.State
}

// lockedFolder is a folder opened for writing: both locks held, and the
// snapshot taken under them, with every message given its UID.
type lockedFolder struct {
	mb   *mbox.Mailbox
	snap *snapshot
}

// openLocked opens and locks the folder at path and makes sure every
// message in it has a lasting UID, writing them if needed. The caller must
// call close.
func (st *Store) openLocked(path string, create bool, prev *snapshot) (*lockedFolder, error) {
	mb, err := mbox.Open(path, mbox.OpenOptions{Create: create, Owner: st.opts.Owner, Lock: st.opts.Lock})
	if err != nil {
		return nil, st.openError(path, err)
	}
	lf := &lockedFolder{mb: mb}
	if prev == nil {
		prev = st.snaps[path]
	}
	if lf.snap, err = scan(mb.File, prev); err != nil {
		mb.Close()
		return nil, err
	}
	st.remember(path, lf.snap)
	if err := st.rewrite(lf, nil); err != nil {
		mb.Close()
		return nil, err
	}
	return lf, nil
}

func (lf *lockedFolder) close() error { return lf.mb.Close() }

// rewrite writes the UIDs the snapshot lacks and the changes asked for,
// and scans the result.
func (st *Store) rewrite(lf *lockedFolder, changes map[int]change) error {
	s := lf.snap
	p := planUIDs(s, st.now())
	if p.empty() && len(changes) == 0 {
		return nil
	}
	if p.renumbered {
		st.opts.Log.Warn("mailbox=%s new uidvalidity=%d: the UIDs in it could not stand (out of order, or above the last UID given)", lf.mb.Path, p.base.UIDValidity)
	}
	if p.base != nil && s.first == 0 && s.hasBase && !p.renumbered && len(p.uids) > 0 && !touchesFirst(p, changes) {
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
	offsets := make([]int64, len(s.idx.Entries))
	for i := range s.idx.Entries {
		offsets[i] = s.idx.Entries[i].Offset
	}
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
	some := map[int]mbox.Change{}
	for i := 0; i < s.first; i++ {
		if firstKept >= 0 && base != nil {
			// UW's pseudo-message goes once a real message carries the base.
			some[i] = mbox.Change{Drop: true}
		}
	}
	plan := func(j int) {
		c := changes[j]
		out := mbox.Change{Drop: c.drop, State: c.state, UID: uids[j]}
		if j == firstKept {
			out.Base = base
		}
		if out.Drop || out.State != nil || out.UID != 0 || out.Base != nil {
			some[j+s.first] = out
		}
	}
	for j := range changes {
		plan(j)
	}
	for j := range uids {
		plan(j)
	}
	if firstKept >= 0 {
		plan(firstKept)
	}
	err := mbox.RewriteSome(lf.mb, s.idx.Size, offsets, some)
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
	return st.reindex(lf, from)
}

// reindex takes the snapshot of a folder this process has just written,
// from the byte it changed on.
func (st *Store) reindex(lf *lockedFolder, from int64) error {
	idx, err := mbox.Reindex(lf.snap.idx, lf.mb.File, from)
	if err != nil {
		return err
	}
	stp, err := stampOf(lf.mb.File)
	if err != nil {
		return err
	}
	lf.snap = newSnapshot(idx, stp)
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
		}
	}
	mb, err := mbox.Open(path, mbox.OpenOptions{ReadOnly: true, Owner: st.opts.Owner, Lock: st.opts.Lock, NoDotLockOK: true})
	if errors.Is(err, os.ErrNotExist) {
		return &snapshot{idx: &mbox.Index{}}, nil
	}
	if err != nil {
		return nil, st.openError(path, err)
	}
	defer mb.Close()
	snap, err := scan(mb.File, prev)
	if err == nil {
		st.remember(path, snap)
	}
	return snap, err
}

// complete reports whether every message has its lasting UID, so nothing
// needs writing before the snapshot is shown to a client.
func (s *snapshot) complete() bool {
	return planUIDs(s, time.Unix(1, 0)).empty()
}
