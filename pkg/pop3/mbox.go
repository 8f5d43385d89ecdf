package pop3

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"unixmail/pkg/lock"
	"unixmail/pkg/mbox"
)

// mboxDrop is a Maildrop on an mbox file. It holds no lock on the file
// while the client thinks: the session is marked by a session lock
// (lock.Session), and the mailbox's locks are taken only to read it at the
// start, to record UIDs, and to commit, so deliver, mail and imapd carry on
// beside it.
type mboxDrop struct {
	path  string
	owner int
	locks lock.Options
	warn  func(format string, args ...any) // told of a journal set aside, of a new UIDVALIDITY
	sess  *lock.SessionLock

	f    *os.File     // the file as the session began; nil when there was none
	all  []mbox.Entry // every message then, UW's pseudo-message included
	mine []int        // indexes into all of the messages the session shows
	// validity is the mailbox's UIDVALIDITY; pending, that UIDs were
	// given that neither the file nor a saved index holds yet.
	validity uint32
	pending  bool
	// renumbered is why the session's last new UIDVALIDITY was given:
	// one reason is logged once, however often the session numbers.
	renumbered string
}

// OpenMbox opens the mbox at path, which must belong to owner, as a
// maildrop. A missing file is an empty maildrop.
// warn is told what the owner must hear of (mbox.OpenOptions.Warn).
func OpenMbox(path string, owner int, lockTimeout time.Duration, warn func(format string, args ...any)) (Maildrop, error) {
	sess, err := lock.Session(path, owner)
	if errors.Is(err, lock.ErrInUse) {
		return nil, ErrInUse
	}
	if err != nil {
		return nil, err
	}
	d := &mboxDrop{path: path, owner: owner, locks: lock.Options{Timeout: lockTimeout}, warn: warn, sess: sess}
	if err := d.load(); err != nil {
		sess.Release()
		return nil, err
	}
	return d, nil
}

// load reads the mailbox under a shared lock and keeps a descriptor of it
// to read messages from later, when the lock is gone.
func (d *mboxDrop) load() error {
	mb, err := mbox.Open(d.path, mbox.OpenOptions{Owner: d.owner, ReadOnly: true, NoDotLockOK: true, Lock: d.locks, Warn: d.warn})
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer mb.Close()
	idx, err := d.indexOf(mb)
	if err != nil {
		return err
	}
	f, err := reopen(mb)
	if err != nil {
		return err
	}
	// UIDs the index gave over the file's base are shown only once it is
	// raised over them (number).
	behind := idx.Size >= mbox.LazyFrom() && (idx.BaseToRaise(mb.File) != nil || len(idx.ToWrite()) > 0)
	d.f, d.all, d.validity, d.pending = f, idx.Entries, idx.UIDValidity, idx.Pending() || behind
	for i := range d.all {
		if !d.all[i].Pseudo {
			d.mine = append(d.mine, i)
		}
	}
	return nil
}

// indexOf reads the mailbox through its index (pkg/mbox): on a big
// mailbox seen before, only what was appended since is scanned. Its
// messages are numbered as imapd numbers them (mbox.Index.Number): the
// UIDs a big mailbox's index gave, and the file does not hold yet, are
// kept. The index is saved for next time where the directory lets us,
// unless it gives new UIDs: those are saved (or written) by number, under
// the exclusive lock, so that two readers never give two numberings.
func (d *mboxDrop) indexOf(mb *mbox.Mailbox) (*mbox.Index, error) {
	path := mbox.IndexPath(mb.Path)
	old, _ := mbox.LoadIndex(path)
	idx, err := mbox.UpdateIndex(old, mb.File)
	if err != nil {
		return nil, err
	}
	if idx.Number(old, time.Now()) {
		d.logRenumbered(mb.Path, idx)
	}
	if idx != old && !idx.Pending() {
		idx.Save(path) // a cache: without it the next session scans again
	}
	return idx, nil
}

// saveAfterRewrite keeps the index for the next session after this
// process rewrote the file from the byte from on: where the rewrite put
// each message is worked out from cur, the index it rewrote by
// (mbox.ReindexRewritten), not read again, and the messages are numbered
// from cur without those gone. A cache: failing, the next session scans.
// It gives that index (nil when it could not be worked out).
func (d *mboxDrop) saveAfterRewrite(mb *mbox.Mailbox, cur *mbox.Index, from int64, gone func(i int) bool) *mbox.Index {
	idx, err := mbox.ReindexRewritten(cur, mb, from)
	if err != nil {
		return nil
	}
	if idx.NumberWithout(cur, gone, time.Now()) {
		d.logRenumbered(mb.Path, idx)
	}
	if !idx.Pending() {
		idx.Save(mbox.IndexPath(mb.Path))
	}
	return idx
}

// logRenumbered says why the mailbox got a new UIDVALIDITY, as imapd
// does, once for each reason the session meets.
func (d *mboxDrop) logRenumbered(path string, idx *mbox.Index) {
	if why := idx.RenumberedWhy(); why != d.renumbered {
		d.renumbered = why
		d.warn("%s", idx.RenumberedNote(path))
	}
}

// reopen opens the locked mailbox again for reading: a descriptor of our
// own, since closing mb's would drop its locks and keeping mb's would keep
// them.
func reopen(mb *mbox.Mailbox) (*os.File, error) {
	f, err := os.OpenFile(mb.Path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open mailbox %s: %w", mb.Path, err)
	}
	var a, b unix.Stat_t
	if unix.Fstat(int(f.Fd()), &a) != nil || unix.Fstat(int(mb.File.Fd()), &b) != nil || a.Dev != b.Dev || a.Ino != b.Ino {
		f.Close()
		return nil, fmt.Errorf("mailbox %s: %w", mb.Path, mbox.ErrUnsafe)
	}
	return f, nil
}

func (d *mboxDrop) Count() int { return len(d.mine) }

func (d *mboxDrop) Open(j int) (io.ReadCloser, error) {
	// The descriptor is of the file as it was: a program that renamed a
	// new one into place left it whole. One that rewrote it in place
	// (Dovecot adding its headers) may have moved the message; then the
	// session finds its messages again.
	m, err := d.locate(j)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(m.Content(d.f)), nil
}

// Size is message j's mbox.Message.ClientSize (Sizer), which is what the
// server sends: the scan counted it, so reading the message is not needed.
func (d *mboxDrop) Size(j int) int64 { return d.all[d.mine[j]].ClientSize }

// OpenRaw is Open with the mboxrd quoting left in (RawOpener).
func (d *mboxDrop) OpenRaw(j int) (io.ReadCloser, error) {
	m, err := d.locate(j)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(m.Raw(d.f)), nil
}

// locate is where message j is in the session's file now.
func (d *mboxDrop) locate(j int) (*mbox.Message, error) {
	if !d.startsAt(d.all[d.mine[j]].Offset) {
		if err := d.refresh(); err != nil {
			return nil, fmt.Errorf("message %d: %w", j+1, err)
		}
	}
	return d.all[d.mine[j]].Message(), nil
}

// startsAt reports whether a From_ line starts at off in the session's file.
func (d *mboxDrop) startsAt(off int64) bool {
	head := make([]byte, 5)
	_, err := d.f.ReadAt(head, off)
	return err == nil && string(head) == "From "
}

// refresh reads the mailbox again under a shared lock and finds the
// session's messages in it.
func (d *mboxDrop) refresh() error {
	mb, err := mbox.Open(d.path, mbox.OpenOptions{Owner: d.owner, ReadOnly: true, NoDotLockOK: true, Lock: d.locks, Warn: d.warn})
	if err != nil {
		return err
	}
	defer mb.Close()
	cur, err := d.indexOf(mb)
	if err != nil {
		return err
	}
	at := d.match(mb, cur)
	if slices.Contains(at, -1) {
		return ErrChanged
	}
	return d.adopt(mb, cur, at)
}

// adopt makes cur, the mailbox mb now, the session's view of it, its
// messages at the indexes at.
func (d *mboxDrop) adopt(mb *mbox.Mailbox, cur *mbox.Index, at []int) error {
	f, err := reopen(mb)
	if err != nil {
		return err
	}
	d.f.Close()
	d.f, d.all, d.validity, d.pending, d.mine = f, cur.Entries, cur.UIDValidity, cur.Pending(), at
	return nil
}

// UIDs gives the UIDL of each message: UIDVALIDITY and X-UID as
// "%08x%08x", as UW's ipop3d and Dovecot (pop3_uidl_format = %08Xv%08Xu)
// give them, so a client moving between them, or to IMAP, downloads
// nothing twice. Messages without an X-UID get one first, by
// mbox.Index.Number, under the mailbox's locks, the way imapd gives them.
func (d *mboxDrop) UIDs() ([]string, error) {
	if d.f == nil {
		return nil, nil
	}
	if d.pending || d.validity == 0 {
		if err := d.number(); err != nil {
			return nil, err
		}
	}
	out := make([]string, len(d.mine))
	for j, i := range d.mine {
		out[j] = fmt.Sprintf("%08x%08x", d.validity, d.all[i].UID)
	}
	return out, nil
}

// number records UIDs for every message in the mailbox, mail that came
// after the session began included: in its index alone where imapd keeps
// them there (mbox.LazyFrom), else in the file.
func (d *mboxDrop) number() error {
	mb, cur, err := d.lockAndRead()
	if err != nil {
		return err
	}
	defer mb.Close()
	at := d.match(mb, cur)
	if slices.Contains(at, -1) {
		return fmt.Errorf("give UIDs: %w", ErrChanged)
	}
	if cur.Size >= mbox.LazyFrom() && cur.Save(mbox.IndexPath(mb.Path)) == nil {
		// The file's base over the UIDs the index gave, as imapd raises
		// it (in place), and the X-UIDs the file must hold (ToWrite),
		// before any is shown.
		changes := map[int]mbox.Change{}
		from := cur.Size
		if b := cur.BaseToRaise(mb.File); b != nil {
			changes[0] = mbox.Change{Base: b}
		}
		for _, i := range cur.ToWrite() {
			changes[i] = mbox.Change{UID: cur.Entries[i].UID}
			from = min(from, cur.Entries[i].Offset)
		}
		if len(changes) == 0 {
			return d.adopt(mb, cur, at)
		}
		if err := mbox.RewriteSome(mb, cur.Size, offsets(cur), changes); err != nil {
			return fmt.Errorf("give UIDs: %w", err)
		}
		// Every message is still where the session's list has it, by
		// index: nothing was dropped.
		after := d.saveAfterRewrite(mb, cur, from, func(int) bool { return false })
		if after == nil {
			return fmt.Errorf("give UIDs: %w", ErrChanged)
		}
		return d.adopt(mb, after, at)
	}
	var visible []int
	uidOf := map[int]uint32{}
	for i := range cur.Entries {
		if e := &cur.Entries[i]; !e.Pseudo {
			visible = append(visible, i)
			if e.Lazy {
				uidOf[i] = e.UID
			}
		}
	}
	base := mbox.Base{UIDValidity: cur.UIDValidity, LastUID: cur.LastUID}
	if cur.Base != nil {
		base.Keywords = cur.Base.Keywords
	}
	first := -1
	if len(visible) > 0 {
		first = visible[0]
	}
	err = mbox.RewriteWith(mb, cur.Size, offsets(cur), func(i int, m *mbox.Message) mbox.Change {
		if m.Pseudo {
			// The base moves into the first real message, where
			// X-IMAPbase lives; an empty mailbox keeps its pseudo.
			return mbox.Change{Drop: first >= 0}
		}
		c := mbox.Change{UID: uidOf[i]}
		if i == first {
			c.Base = &base
		}
		return c
	})
	if err != nil {
		return err
	}
	// The rewrite kept every real message, in order: the k-th of them is
	// still the k-th.
	after, err := d.indexOf(mb)
	if err != nil {
		return err
	}
	var real []int
	for i := range after.Entries {
		if !after.Entries[i].Pseudo {
			real = append(real, i)
		}
	}
	for j, k := range at {
		p := slices.Index(visible, k)
		if p < 0 || p >= len(real) {
			return fmt.Errorf("after giving UIDs: %w", ErrChanged)
		}
		at[j] = real[p]
	}
	return d.adopt(mb, after, at)
}

// lockAndRead opens the mailbox for writing (both locks) and reads it.
func (d *mboxDrop) lockAndRead() (*mbox.Mailbox, *mbox.Index, error) {
	mb, err := mbox.Open(d.path, mbox.OpenOptions{Owner: d.owner, NoDotLockOK: true, Lock: d.locks, Warn: d.warn})
	if err != nil {
		return nil, nil, err
	}
	cur, err := d.indexOf(mb)
	if err != nil {
		mb.Close()
		return nil, nil, err
	}
	return mb, cur, nil
}

// moved reports whether the session's messages are no longer where the
// session saw them: same file, same offsets, only appends since.
func (d *mboxDrop) moved(mb *mbox.Mailbox, cur *mbox.Index) bool {
	var a, b unix.Stat_t
	if unix.Fstat(int(mb.File.Fd()), &a) != nil || unix.Fstat(int(d.f.Fd()), &b) != nil || a.Dev != b.Dev || a.Ino != b.Ino {
		return true
	}
	if len(cur.Entries) < len(d.all) {
		return true
	}
	for i := range d.all {
		if cur.Entries[i].Offset != d.all[i].Offset || cur.Entries[i].HeaderOffset != d.all[i].HeaderOffset {
			return true
		}
	}
	return false
}

// match finds the session's messages in cur, the mailbox as it is now,
// and gives each one's index there, or -1 for one that is gone. After
// appends alone they are where they were; otherwise mbox.Locate finds
// them.
func (d *mboxDrop) match(mb *mbox.Mailbox, cur *mbox.Index) []int {
	at := make([]int, len(d.mine))
	if !d.moved(mb, cur) {
		copy(at, d.mine)
		return at
	}
	seen := make([]mbox.Sighting, len(d.mine))
	for j, i := range d.mine {
		seen[j] = d.all[i].Sighting()
	}
	return mbox.Locate(seen, d.validity, cur)
}

func offsets(idx *mbox.Index) []int64 {
	o := make([]int64, len(idx.Entries))
	for i := range idx.Entries {
		o[i] = idx.Entries[i].Offset
	}
	return o
}

// Commit removes the deleted messages and marks the retrieved ones read
// (Status: RO), in one rewrite under the mailbox's locks. Mail delivered
// since the session began is kept as it is. The session's messages are
// found where it saw them or, if another program has rewritten the file
// meanwhile, by their X-UID; one that cannot be found is left alone.
func (d *mboxDrop) Commit(deleted, retrieved []bool) error {
	defer d.Close()
	work := false
	for j := range d.mine {
		if deleted[j] || retrieved[j] && d.all[d.mine[j]].Flags&(mbox.Seen|mbox.Old) != mbox.Seen|mbox.Old {
			work = true
		}
	}
	if !work || d.f == nil {
		return nil
	}
	mb, cur, err := d.lockAndRead()
	if err != nil {
		return err
	}
	defer mb.Close()
	// What becomes of each message of the file now, by its index there.
	drop, read := map[int]bool{}, map[int]bool{}
	lost := 0
	for j, k := range d.match(mb, cur) {
		switch {
		case k >= 0:
			drop[k], read[k] = deleted[j], retrieved[j]
		case deleted[j]:
			lost++
		}
	}
	// Only the messages read are read again (the index has their
	// state); nothing of those deleted is.
	changes := map[int]mbox.Change{}
	from := cur.Size // the first byte the rewrite changes
	for i := range cur.Entries {
		e := &cur.Entries[i]
		switch {
		case drop[i]:
			changes[i] = mbox.Change{Drop: true}
		case read[i] && e.Flags&(mbox.Seen|mbox.Old) != mbox.Seen|mbox.Old:
			st := e.State
			st.Flags |= mbox.Seen | mbox.Old
			changes[i] = mbox.Change{State: &st}
		default:
			continue
		}
		from = min(from, e.Offset)
	}
	err = mbox.RewriteSome(mb, cur.Size, offsets(cur), changes)
	if err != nil {
		return err
	}
	d.saveAfterRewrite(mb, cur, from, func(i int) bool { return drop[i] })
	if lost > 0 {
		return fmt.Errorf("%d deleted messages could not be found: %w", lost, ErrChanged)
	}
	return nil
}

func (d *mboxDrop) Close() error {
	if d.f != nil {
		d.f.Close()
		d.f = nil
	}
	d.sess.Release()
	return nil
}
