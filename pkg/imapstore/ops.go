package imapstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"unixmail/pkg/mbox"
)

type ioWriter = io.Writer

// noCancel: an append of ours is never cut short by a client going away,
// only by an error (which rolls it back).
var noCancel = context.Background()

// Store changes flags in the session at once (FETCH FLAGS shows them) and
// keeps the change for a batch written later (see FlushDelay): a client
// that marks messages one at a time costs one write for them all. The
// change is kept as flags added and taken away, applied then to what the
// file holds, so another session's change made meanwhile is kept.
func (s *Session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, _ *imap.StoreOptions) error {
	sel, err := s.needSelected()
	if err != nil {
		return err
	}
	if sel.readOnly {
		return errReadOnly()
	}
	targets, err := sel.indexes(numSet)
	if err != nil || len(targets) == 0 {
		return err
	}
	now := s.st.now()
	for _, t := range targets {
		m := &sel.msgs[t]
		old := mbox.State{Flags: m.flags, Keywords: m.keywords}
		ns := applyFlags(old, flags.Op, flags.Flags)
		if ns.Flags != old.Flags || !slices.Equal(ns.Keywords, old.Keywords) {
			sel.note(m, old, ns, now)
			m.flags, m.keywords = ns.Flags, ns.Keywords
		}
		if flags.Silent {
			continue
		}
		rw := w.CreateMessage(uint32(t + 1))
		rw.WriteUID(imap.UID(m.uid))
		rw.WriteFlags(s.flagsOf(m))
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// rewriteKeywords is rewrite that also lists new keywords in X-IMAPbase,
// as c-client does, so that FLAGS shows them in every session.
func (st *Store) rewriteKeywords(lf *lockedFolder, changes map[int]change, newKeywords []string) error {
	if len(newKeywords) > 0 && len(lf.snap.entries) > 0 {
		lf.snap.base.Keywords = append(slices.Clone(lf.snap.base.Keywords), newKeywords...)
		b := lf.snap.base
		if err := st.rewrite(lf, nil); err != nil {
			return err
		}
		uids := map[int]uint32{}
		onTheWay(lf.snap, changes, 0, uids)
		markShown(lf.snap, changes)
		return st.write(lf, uids, changes, &b)
	}
	return st.rewrite(lf, changes)
}

// eachByUID calls fn with each message of the view (msgs[i]) that the
// snapshot's entries still hold, and its entry's index j. Both are in UID
// order, always: one walk pairs them, where a map of 50,000 UIDs would be
// built first (megabytes of fresh memory). Out of order, they are paired
// through such a map all the same.
func eachByUID(msgs []viewMsg, s *snapshot, fn func(i, j int)) {
	ascending := slices.IsSortedFunc(msgs, func(a, b viewMsg) int { return cmp.Compare(a.uid, b.uid) }) &&
		slices.IsSortedFunc(s.entries, func(a, b mbox.Entry) int { return cmp.Compare(a.UID, b.UID) })
	if !ascending {
		byUID := make(map[uint32]int, len(s.entries))
		for j := range s.entries {
			byUID[s.entries[j].UID] = j
		}
		for i := range msgs {
			if j, ok := byUID[msgs[i].uid]; ok {
				fn(i, j)
			}
		}
		return
	}
	j := 0
	for i := range msgs {
		for j < len(s.entries) && s.entries[j].UID < msgs[i].uid {
			j++
		}
		if j < len(s.entries) && s.entries[j].UID == msgs[i].uid {
			fn(i, j)
		}
	}
}

// Expunge removes the messages marked \Deleted that the client knows of
// (of uids, when given), in one rewrite.
func (s *Session) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	sel, err := s.needSelected()
	if err != nil {
		return err
	}
	if sel.readOnly {
		return errReadOnly()
	}
	gone, err := s.expunge(func(m *viewMsg, st mbox.State) bool {
		return st.Flags&mbox.Deleted != 0 && (uids == nil || uids.Contains(imap.UID(m.uid)))
	})
	if err != nil {
		return err
	}
	for _, seq := range gone {
		if err := w.WriteExpunge(seq); err != nil {
			return err
		}
	}
	return nil
}

// expunge drops the messages of the view that pick chooses (by the flags
// this session shows) and returns their sequence numbers, highest first,
// for EXPUNGE responses. The session's unwritten flag changes are written
// in the same rewrite: a \Deleted set just before costs nothing, where
// writing it first would rewrite a message that goes anyway (and, in a
// file whose state fields are not padded yet, move the whole file once
// more).
func (s *Session) expunge(pick func(m *viewMsg, st mbox.State) bool) ([]uint32, error) {
	sel := s.sel
	lf, err := s.st.openLocked(sel.path, false, sel.snap)
	if err != nil {
		return nil, err
	}
	defer lf.close()
	picked := func() map[int]bool {
		out := map[int]bool{}
		eachByUID(sel.msgs, lf.snap, func(i, j int) {
			if m := &sel.msgs[i]; pick(m, m.shownState(&lf.snap.entries[j])) {
				out[j] = true
			}
		})
		return out
	}
	gone := picked()
	changes, newKeywords := sel.batchChanges(lf.snap, func(j int) bool { return gone[j] })
	if len(gone) == 0 || len(newKeywords) > 0 {
		// Nothing to drop, or keywords to list in X-IMAPbase first: the
		// flags are written on their own (see flush).
		if err := s.flushLocked(lf, false); err != nil {
			return nil, err
		}
		sel.snap = lf.snap
		gone, changes = picked(), map[int]change{}
	}
	if len(gone) == 0 {
		return nil, nil
	}
	drop := map[uint32]bool{}
	for j := range gone {
		changes[j] = change{drop: true}
		drop[lf.snap.entries[j].UID] = true
	}
	markShown(lf.snap, changes)
	if err := s.st.rewrite(lf, changes); err != nil {
		return nil, err
	}
	sel.snap = lf.snap
	sel.clearBatch()
	// Highest first, each number as the client knows it until then: the
	// numbers below it do not move.
	var out []uint32
	for i := len(sel.msgs) - 1; i >= 0; i-- {
		if drop[sel.msgs[i].uid] {
			out = append(out, uint32(i+1))
		}
	}
	sel.msgs = slices.DeleteFunc(sel.msgs, func(m viewMsg) bool { return drop[m.uid] })
	return out, nil
}

// spool holds messages on their way into a folder: copied out of their
// source (or off the network) first, so no two mailboxes are ever locked
// at once and a slow client never holds a lock.
type spool struct {
	f     *os.File
	store *Store
	items []spoolItem
	size  int64
}

type spoolItem struct {
	from      string // the From_ line
	off, n    int64  // the content (as its reader sees it) in f
	state     mbox.State
	sourceUID uint32
}

func (st *Store) newSpool() (*spool, error) {
	if f := st.spoolFile; f != nil {
		// The last one's file, emptied: an APPEND costs no file made
		// and removed in the directory.
		st.spoolFile = nil
		if _, err := f.Seek(0, io.SeekStart); err == nil {
			return &spool{f: f, store: st}, nil
		}
		f.Close()
	}
	dir := st.opts.FolderDir
	if err := os.MkdirAll(dir, 0700); err != nil {
		dir = filepath.Dir(st.opts.Inbox)
	}
	f, err := os.CreateTemp(dir, ".imapd-spool-")
	if e := st.noSpace(dir, err); e != nil {
		return nil, e
	}
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	os.Remove(f.Name())
	return &spool{f: f, store: st}, nil
}

// close empties the spool's file and keeps it for the store's next spool.
func (sp *spool) close() {
	if sp.store.spoolFile != nil || sp.f.Truncate(0) != nil {
		sp.f.Close()
		return
	}
	sp.store.spoolFile = sp.f
}

// add copies one message into the spool, its state fields set to st.
func (sp *spool) add(from string, content io.Reader, st mbox.State, sourceUID uint32) error {
	n, err := io.Copy(sp.f, mbox.WithState(content, st))
	if e := sp.store.noSpace(filepath.Dir(sp.f.Name()), err); e != nil {
		return e
	}
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	sp.items = append(sp.items, spoolItem{from: from, off: sp.size, n: n, state: st, sourceUID: sourceUID})
	sp.size += n
	return nil
}

// addEntry copies message e of a folder into the spool, reading it
// through g, its state fields as e has them. No lock is held while it
// reads (COPY) or another program may ignore ours: when the folder changes
// under the read, what was copied of the message is taken back and the
// message found again and copied anew, whole. A copy is so the message's
// bytes or an error (NO [EXPUNGEISSUE] for a message expunged meanwhile),
// never part of another message.
func (sp *spool) addEntry(g *guard, e *mbox.Entry) error {
	for {
		g.next()
		err := sp.addOnce(g, e)
		if !errors.Is(err, errMoved) {
			return err
		}
		if err := sp.truncate(); err != nil {
			return err
		}
		if e, err = g.relocate(e); err != nil {
			return err
		}
	}
}

// addOnce is one try of addEntry: errMoved when the folder changed
// under it, the message then left half copied for the caller to take back.
func (sp *spool) addOnce(g *guard, e *mbox.Entry) error {
	from := make([]byte, e.HeaderOffset-e.Offset)
	if _, err := g.ReadAt(from, e.Offset); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	err := sp.add(strings.TrimRight(string(from), "\r\n"), e.Message().Content(g), mbox.State{Flags: e.Flags, Keywords: e.Keywords}, e.UID)
	if err != nil {
		return err
	}
	if err := g.check(); err != nil {
		it := sp.items[len(sp.items)-1]
		sp.items, sp.size = sp.items[:len(sp.items)-1], it.off
		return err
	}
	return nil
}

// truncate takes back whatever was written after the last message added.
func (sp *spool) truncate() error {
	if err := sp.f.Truncate(sp.size); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if _, err := sp.f.Seek(sp.size, io.SeekStart); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// deliverTo is deliver to the folder at path, locked for it alone.
func (st *Store) deliverTo(path string, create bool, sp *spool) (uint32, []uint32, error) {
	lf, err := st.openLocked(path, create, nil)
	if err != nil {
		return 0, nil, err
	}
	defer lf.close()
	return st.deliver(lf, sp)
}

// deliver appends the spooled messages to the locked folder, each with
// the next UID, in one append, synced before it returns unless the folder
// is held (then commit syncs it). The base is raised first (in place,
// its length unchanged), so an X-UID is never above the last UID it
// records, whatever happens to the append. In a folder held for a run of
// APPENDs, the base is raised ahead of the run (reserve), so that most of
// them write and sync no base. It returns UIDVALIDITY and the UIDs.
func (st *Store) deliver(lf *lockedFolder, sp *spool) (uint32, []uint32, error) {
	path := lf.mb.Path
	base := lf.snap.base
	if !lf.snap.hasBase {
		base = mbox.Base{UIDValidity: uint32(st.now().Unix())}
	}
	first := base.LastUID + 1
	if lf.reserved != 0 && lf.reserved == base.LastUID {
		first = lf.next
	}
	last := first + uint32(len(sp.items)) - 1
	base.LastUID = max(base.LastUID, last)
	header := ""
	switch {
	case len(lf.snap.entries) > 0 && lf.snap.lazy() && !lf.snap.idx.BaseInPlace(lf.mb.File, &base):
		// The file holds no base to raise in place (see raiseBase): the
		// index keeps it (saved with the new mail's scan, under the lock).
		lf.snap.idx.LastUID = base.LastUID
	case len(lf.snap.entries) > 0 && last <= lf.reserved && lf.reserved == base.LastUID:
		// Reserved by an earlier raise of this run: the base says so.
	case len(lf.snap.entries) > 0:
		base.LastUID += lf.reserve()
		if err := st.write(lf, nil, nil, &base); err != nil {
			return 0, nil, err
		}
		if lf.held {
			lf.reserved = base.LastUID
		}
	case len(lf.snap.idx.Entries) > 0:
		// Only UW's pseudo-message: the first new message takes its place.
		err := mbox.RewriteWith(lf.mb, lf.snap.idx.Size, nil, func(int, *mbox.Message) mbox.Change { return mbox.Change{Drop: true} })
		if err != nil {
			return 0, nil, fmt.Errorf("write %s: %w", path, err)
		}
		fallthrough
	default:
		header = fmt.Sprintf("X-IMAPbase: %d %010d\n", base.UIDValidity, base.LastUID)
	}
	var uids []uint32
	old := lf.snap.idx.Size
	// The new mail is scanned and numbered, and the index that holds its
	// UIDs saved, while the mail itself is synced: one wait (at commit,
	// for all the APPENDs before it, where the folder is held).
	along := func() error { return st.reindex(lf, old, nil) }
	appendAlong := lf.mb.AppendAlong
	if lf.held {
		appendAlong = lf.mb.AppendUnsynced
	}
	err := appendAlong(noCancel, func(w io.Writer) error {
		for i, it := range sp.items {
			uid := first + uint32(i)
			uids = append(uids, uid)
			head := fmt.Sprintf("X-UID: %d\n", uid)
			if i == 0 {
				head = header + head
			}
			content := io.MultiReader(strings.NewReader(head), io.NewSectionReader(sp.f, it.off, it.n))
			if _, err := mbox.WriteMessage(w, it.from, content); err != nil {
				return err
			}
		}
		return nil
	}, along)
	if err != nil {
		return 0, nil, st.openError(path, err)
	}
	lf.next = last + 1
	return base.UIDValidity, uids, nil
}

// Append stores a message from the client. It is read into a spool first
// (the library has already refused one above APPENDLIMIT before reading).
func (s *Session) Append(name string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	path, err := s.st.path(name)
	if err != nil {
		return nil, err
	}
	if !isInbox(name) && !s.st.holds(path) {
		if k := kindOf(path); k == kindNone {
			return nil, errTryCreate(name)
		} else if k != kindMbox {
			return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Not a mailbox: " + name}
		}
	}
	if l := s.st.opts.AppendLimit; l > 0 && r.Size() > l {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig, Text: "Message too big"}
	}
	sp, err := s.st.newSpool()
	if err != nil {
		return nil, err
	}
	defer sp.close()
	t := options.Time
	if t.IsZero() {
		t = s.st.now()
	}
	// Stored old (Status: O): a client's own message (a copy in Sent, a
	// draft) is not new mail, and no session need rewrite it to say so.
	state := applyFlags(mbox.State{Flags: mbox.Old}, imap.StoreFlagsAdd, options.Flags)
	// A From_ line's date is local time with no zone, as every reader of
	// the file takes it: a date given in another zone is written as the
	// same moment here, not as the same clock reading.
	if err := sp.add(mbox.FromLine("MAILER-DAEMON", t.Local()), r, state, 0); err != nil {
		return nil, err
	}
	if sel := s.sel; sel != nil && sel.path == path {
		// The selection's view, made now, is the scan the append
		// starts from: the index is decoded once, not again after.
		if err := s.ready(sel); err != nil {
			return nil, err
		}
	}
	validity, uids, err := s.appendSpool(path, isInbox(name), sp)
	if err != nil {
		return nil, err
	}
	return &imap.AppendData{UIDValidity: validity, UID: imap.UID(uids[0])}, nil
}

// appendSpool delivers an APPEND's message: synced at once, or, with
// GroupCommit, into the folder the store holds for the APPENDs that
// follow, to be synced by Commit.
func (s *Session) appendSpool(path string, create bool, sp *spool) (uint32, []uint32, error) {
	if !s.GroupCommit {
		return s.st.deliverTo(path, create, sp)
	}
	lf, err := s.st.hold(path, create)
	if err != nil {
		return 0, nil, err
	}
	validity, uids, err := s.st.deliver(lf, sp)
	if err != nil {
		// Cut back, the folder may not be as the held snapshot says:
		// it is let go, what came before synced.
		if cerr := s.st.commit(); cerr != nil {
			return 0, nil, cerr
		}
	}
	return validity, uids, err
}

// Copy copies messages to another folder (UIDPLUS: COPYUID).
func (s *Session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	sel, err := s.needSelected()
	if err != nil {
		return nil, err
	}
	targets, err := sel.indexes(numSet)
	if err != nil {
		return nil, err
	}
	return s.copyTo(sel, targets, dest)
}

func (s *Session) copyTo(sel *selected, targets []int, dest string) (*imap.CopyData, error) {
	dpath, err := s.st.path(dest)
	if err != nil {
		return nil, err
	}
	if !isInbox(dest) && kindOf(dpath) != kindMbox {
		if kindOf(dpath) == kindNone {
			return nil, errTryCreate(dest)
		}
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Not a mailbox: " + dest}
	}
	// Copies carry the flags as this session shows them.
	if err := s.flush(false); err != nil {
		return nil, err
	}
	if err := s.refresh(); err != nil {
		return nil, err
	}
	sp, err := s.st.newSpool()
	if err != nil {
		return nil, err
	}
	defer sp.close()
	g := &guard{s: s}
	for _, t := range targets {
		e := sel.entry(sel.msgs[t].uid)
		if e == nil {
			continue
		}
		if err := sp.addEntry(g, e); err != nil {
			return nil, err
		}
	}
	if len(sp.items) == 0 {
		return &imap.CopyData{}, nil
	}
	validity, uids, err := s.st.deliverTo(dpath, isInbox(dest), sp)
	if err != nil {
		return nil, err
	}
	data := &imap.CopyData{UIDValidity: validity}
	for i, it := range sp.items {
		data.SourceUIDs.AddNum(imap.UID(it.sourceUID))
		data.DestUIDs.AddNum(imap.UID(uids[i]))
	}
	return data, nil
}

// Move is COPY, then the copied messages expunged from the source.
func (s *Session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	sel, err := s.needSelected()
	if err != nil {
		return err
	}
	if sel.readOnly {
		return errReadOnly()
	}
	targets, err := sel.indexes(numSet)
	if err != nil {
		return err
	}
	data, err := s.copyTo(sel, targets, dest)
	if err != nil {
		return err
	}
	if err := w.WriteCopyData(data); err != nil {
		return err
	}
	gone, err := s.expunge(func(m *viewMsg, _ mbox.State) bool { return data.SourceUIDs.Contains(imap.UID(m.uid)) })
	if err != nil {
		return err
	}
	for _, seq := range gone {
		if err := w.WriteExpunge(seq); err != nil {
			return err
		}
	}
	return nil
}

// copyInto spools messages of a locked folder and delivers them to np
// (RENAME INBOX). The caller holds src's locks; np is a new file.
func (st *Store) copyInto(src *lockedFolder, idxs []int, np string, create bool) ([]uint32, error) {
	sp, err := st.newSpool()
	if err != nil {
		return nil, err
	}
	defer sp.close()
	// Under our lock, only a program that ignores it changes the file:
	// the copy then fails (NO [INUSE]), whole or not at all.
	stp, err := stampOf(src.mb.File)
	if err != nil {
		return nil, err
	}
	g := &guard{f: src.mb.File, stamp: stp}
	for _, i := range idxs {
		if err := sp.addEntry(g, &src.snap.entries[i]); err != nil {
			return nil, err
		}
	}
	_, uids, err := st.deliverTo(np, create, sp)
	return uids, err
}

// viewStamp is the stamp of the file as the client's view was taken.
func (sel *selected) viewStamp() stamp {
	if sel.pending != nil {
		return sel.pending.stamp
	}
	return sel.snap.stamp
}

// reader is the selected mailbox's file for reading messages, opened again
// when another program has replaced it.
func (sel *selected) reader() (*os.File, error) {
	if sel.file != nil {
		was := sel.viewStamp()
		if stp, err := stampOf(sel.file); err == nil && stp.dev == was.dev && stp.ino == was.ino {
			return sel.file, nil
		}
		sel.file.Close()
		sel.file = nil
	}
	f, err := os.OpenFile(sel.path, os.O_RDONLY|noFollow, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", sel.path, err)
	}
	sel.file = f
	return f, nil
}
