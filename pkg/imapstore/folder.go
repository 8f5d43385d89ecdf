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
	base    mbox.Base // UIDVALIDITY, and LastUID raised to the highest X-UID seen
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
	for i := range s.entries {
		if u := s.entries[i].UID; u > s.base.LastUID {
			s.base.LastUID = u
		}
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

// planUIDs gives UIDs to the messages that have none, the way c-client and
// Dovecot do: last UID + 1, in file order. UIDs must rise in file order
// (sequence numbers follow it); where they do not, every message is
// numbered again under a new UIDVALIDITY, the only case where one changes.
func planUIDs(s *snapshot, now time.Time) *uidPlan {
	p := &uidPlan{uids: map[int]uint32{}}
	ordered := true
	var prev uint32
	sawMissing := false
	for i := range s.entries {
		u := s.entries[i].UID
		switch {
		case u == 0:
			sawMissing = true
		case u <= prev || sawMissing:
			ordered = false
		default:
			prev = u
		}
	}
	base := s.base
	if !s.hasBase || !ordered {
		v := uint32(now.Unix())
		if v == 0 || v == s.base.UIDValidity {
			v++
		}
		base = mbox.Base{UIDValidity: v, LastUID: s.base.LastUID, Keywords: s.base.Keywords}
		p.renumbered = s.hasBase
	}
	if !ordered {
		base.LastUID = 0
	}
	for i := range s.entries {
		if ordered && s.entries[i].UID != 0 {
			continue
		}
		base.LastUID++
		p.uids[i] = base.LastUID
	}
	if !s.hasBase || !ordered || (s.first == 1 && len(s.entries) > 0) {
		b := base
		p.base = &b
	}
	if len(s.entries) == 0 && s.first == 0 {
		// Nothing to carry the base: it is written with the first message.
		p.base = nil
	}
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
	if lf.snap, err = scan(mb.File, prev); err != nil {
		mb.Close()
		return nil, err
	}
	if err := st.rewrite(lf, nil); err != nil {
		mb.Close()
		return nil, err
	}
	return lf, nil
}

func (lf *lockedFolder) close() error { return lf.mb.Close() }

// rewrite writes the UIDs the snapshot lacks and the changes asked for, in
// one rewrite, and scans the result.
func (st *Store) rewrite(lf *lockedFolder, changes map[int]change) error {
	s := lf.snap
	p := planUIDs(s, st.now())
	if p.empty() && len(changes) == 0 {
		return nil
	}
	if p.renumbered {
		st.opts.Log.Warn("mailbox=%s new uidvalidity=%d: the UIDs in it did not rise in file order", lf.mb.Path, p.base.UIDValidity)
	}
	// A base the new state lowers would give a UID out twice: keep the
	// highest UID ever seen, dropped messages' included.
	base := p.base
	lastUID := s.base.LastUID
	if p.base != nil {
		lastUID = p.base.LastUID
	}
	var offsets []int64
	for i := range s.idx.Entries {
		offsets = append(offsets, s.idx.Entries[i].Offset)
	}
	firstKept, dropping := -1, false
	for i := range s.entries {
		if changes[i].drop {
			dropping = true
		} else if firstKept < 0 {
			firstKept = i
		}
	}
	// Appends leave the base's last UID behind the highest X-UID (so a
	// new message costs no rewrite of the first one); once a message goes,
	// the base must catch up or its UID could be given out again.
	if firstKept > 0 || (dropping && firstKept == 0 && s.idx.Base != nil && s.idx.Base.LastUID < lastUID) {
		b := s.base
		if p.base != nil {
			b = *p.base
		}
		b.LastUID = lastUID
		base = &b
	}
	err := mbox.RewriteWith(lf.mb, s.idx.Size, offsets, func(i int, m *mbox.Message) mbox.Change {
		if i < s.first {
			// UW's pseudo-message goes once a real message carries the base.
			return mbox.Change{Drop: firstKept >= 0 && base != nil}
		}
		j := i - s.first
		c := changes[j]
		out := mbox.Change{Drop: c.drop, State: c.state, UID: p.uids[j]}
		if j == firstKept && base != nil {
			out.Base = base
		}
		return out
	})
	if err != nil {
		return fmt.Errorf("write %s: %w", lf.mb.Path, err)
	}
	idx, err := mbox.UpdateIndex(nil, lf.mb.File)
	if err != nil {
		return err
	}
	stp, err := stampOf(lf.mb.File)
	if err != nil {
		return err
	}
	lf.snap = newSnapshot(idx, stp)
	if lf.snap.base.LastUID < lastUID {
		lf.snap.base.LastUID = lastUID
	}
	return nil
}

// readSnapshot scans the folder at path under a brief shared lock. A
// missing file is an empty folder.
func (st *Store) readSnapshot(path string, prev *snapshot) (*snapshot, error) {
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
	return scan(mb.File, prev)
}

// complete reports whether every message has its UID and the folder its
// base, so nothing needs writing before the snapshot is shown to a client.
func (s *snapshot) complete() bool {
	if len(s.entries) == 0 {
		return true
	}
	if !s.hasBase || s.first == 1 {
		return false
	}
	var prev uint32
	for i := range s.entries {
		u := s.entries[i].UID
		if u == 0 || u <= prev {
			return false
		}
		prev = u
	}
	return true
}
