package mbox

import (
	"bytes"
	"fmt"
	"os"
	"slices"

	"golang.org/x/sys/unix"

	"unixmail/internal/parts"
	"unixmail/pkg/filewrite"
)

// WriteStates writes new state fields (Status, X-Status, X-Keywords) into
// messages of the mailbox in place, for an IMAP server's batch of flag
// changes: states gives messages (their number in idx.Entries, in order,
// each once) the state they get (the UID is left as the file holds it). idx must describe the
// mailbox as it is now, read under the locks mb holds.
//
// Every message must have room for its new fields in the bytes its old
// ones take, padding included (see Padding): then nothing in the file
// moves, only those few bytes of each header are written. When one has no
// room, nothing is written and ok is false: the caller rewrites instead
// (RewriteSome, which pads the fields it writes, so the next change fits).
//
// Where idx knows a message's Room, its fields are written there without
// its header being read: idx must truly describe the file, as one checked
// against it under the locks is (same inode and length, mtime to the
// nanosecond, the same last 4 KiB; any other program's write changes the
// mtime). The header of a message whose room idx does not know is read,
// its From_ line checked, and its room learnt for the index returned.
//
// The writes are synced when sync is set (IMAP's CHECK); else they are
// left to the kernel's writeback, and the index returned is marked so that
// it cannot stand for the file after a power cut (see unsynced.go).
//
// No journal is needed: a process killed between two writes leaves each
// message with its old fields or its new ones, whole, since the kernel
// takes each write at once. A power cut may tear a write across a disk
// sector, mixing old and new bytes of one message's state fields; the
// line ends of the header and every message boundary stay where they
// were, so no message is lost or merged with another.
//
// It returns the index of the mailbox after the writes.
func WriteStates(mb *Mailbox, idx *Index, states []NumberedState, sync bool) (out *Index, ok bool, err error) {
	out, ok, _, err = writeStates(mb, idx, states, sync, false)
	return out, ok, err
}

// WriteStatesSaved is WriteStates, then Save of the index returned to the
// mailbox's IndexPath; saved reports whether that save was done. Where
// Save would write the index whole (a change near the start of a big
// folder), its entries are written to the new file while the kernel takes
// the flag writes, on another processor: for 50,000 messages that is 5 MB
// encoded and written, a fifth of a STORE to all of them.
func WriteStatesSaved(mb *Mailbox, idx *Index, states []NumberedState, sync bool) (out *Index, ok, saved bool, err error) {
	return writeStates(mb, idx, states, sync, true)
}

func writeStates(mb *Mailbox, idx *Index, states []NumberedState, sync, save bool) (out *Index, ok, saved bool, err error) {
	mb.moved = nil
	size, err := mb.Size()
	if err != nil {
		return nil, false, false, err
	}
	if size != idx.Size {
		return nil, false, false, fmt.Errorf("write flags of %s: it is %d bytes, not %d: %w", mb.Path, size, idx.Size, ErrChanged)
	}
	for k, s := range states {
		if s.I < 0 || s.I >= len(idx.Entries) || k > 0 && s.I <= states[k-1].I {
			return nil, false, false, fmt.Errorf("write flags of %s: no message %d, or out of order", mb.Path, s.I+1)
		}
	}
	pl, ok, err := planStates(mb, idx, states)
	if err != nil || !ok {
		return nil, false, false, err
	}
	writes := pl.writes
	sync = sync || bootID() == [16]byte{}
	if len(writes) > 0 && !sync && !idx.markedOnDisk(mb.Path) {
		if m, err := idx.marked(mb.Path); err == nil {
			idx = m
		} else {
			sync = true // as before there were marks
		}
	}
	// The mark the index after bears (see unsynced.go).
	mark := idx.unsynced
	switch {
	case sync:
		mark = [16]byte{}
	case len(writes) > 0:
		mark = bootID()
	}
	// The entries after the writes are made while the kernel takes
	// them, on another processor: for 50,000 messages, a copy of
	// megabytes; and the index file to be, where it is written whole.
	var ahead *aheadSave
	ipath := IndexPath(mb.Path)
	if save && len(states) > 0 && !idx.appends(ipath, min(idx.clean, states[0].I, idx.disk.n)) {
		ahead = &aheadSave{done: make(chan error, 1)}
	}
	after := make(chan []Entry, 1)
	go func() {
		entries := entriesWith(idx.Entries, states, pl)
		after <- entries
		if ahead != nil {
			ahead.begin(ipath, idx, entries, mark)
		}
	}()
	killPoint()
	err = filewrite.WriteAt(mb.File, writes)
	entries := <-after
	if err != nil {
		ahead.drop()
		return nil, false, false, fmt.Errorf("write flags of %s: %w", mb.Path, err)
	}
	if sync {
		if err := unix.Fdatasync(int(mb.File.Fd())); err != nil {
			ahead.drop()
			return nil, false, false, fmt.Errorf("write flags of %s: %w", mb.Path, err)
		}
	}
	settled := len(writes) == 0 || mb.settle()
	first := len(entries)
	if len(states) > 0 {
		first = states[0].I
	}
	out, err = idx.withEntries(mb, entries, first)
	if err != nil {
		ahead.drop()
		return nil, false, false, err
	}
	if !settled {
		out.distrustRooms()
	}
	out.unsynced = mark
	switch {
	case !save:
	case ahead != nil && settled:
		saved = ahead.finish(out) == nil
	default:
		ahead.drop()
		saved = out.Save(ipath) == nil
	}
	return out, true, saved, nil
}

// aheadSave is an index file written whole (wholeIndex) while the flag
// writes it follows are still going on: first a record of the entries
// after them, under a header that cannot stand for the mailbox (no mtime,
// no hash of its last bytes), then, once they are done, a record of the
// header alone that keeps them all. Renamed into place only then, it is
// never seen with the first record last.
type aheadSave struct {
	w    *wholeIndex
	sync bool // as Save syncs
	done chan error
}

// begin writes the first record: idx's header with the mark the index
// after bears, the entries given.
func (a *aheadSave) begin(path string, idx *Index, entries []Entry, mark [16]byte) {
	c := *idx
	head := &c
	head.Entries, head.unsynced = entries, mark
	head.mtime, head.tail = 0, [len(head.tail)]byte{}
	a.sync = head.savedSynced()
	w, err := createWhole(path)
	if err == nil {
		b := append(make([]byte, 0, len(indexMagic)+recordHead+1024+len(entries)*entrySize), indexMagic...)
		err = w.write(head.record(b, 0))
		if err == nil && a.sync {
			err = unix.Fdatasync(int(w.tmp.Fd()))
		}
		if err != nil {
			w.discard()
			w = nil
		}
	}
	a.w = w
	a.done <- err
}

// finish adds out's header, which keeps every entry of the first record
// (out's own), and renames the file into place.
func (a *aheadSave) finish(out *Index) error {
	if err := <-a.done; err != nil {
		return err
	}
	defer a.w.discard()
	if err := a.w.write(out.record(nil, len(out.Entries))); err != nil {
		return err
	}
	return a.w.commit(out, a.sync, a.sync)
}

// drop removes the file, once begun (nil does nothing).
func (a *aheadSave) drop() {
	if a != nil && <-a.done == nil {
		a.w.discard()
	}
}

// NumberedState is the state message I (counted from 0, in file order)
// gets, for WriteStates.
type NumberedState struct {
	I int
	State
}

// stateWrite is bytes to write at an offset of the mailbox; a big
// batch of them goes to the kernel in a few calls (filewrite).
type stateWrite = filewrite.Piece

// statePlan is the writes that give messages their states, where the
// state fields of those whose header they rearrange lie after, and the
// states that are not those asked for (mergedState).
type statePlan struct {
	writes []stateWrite
	rooms  []movedRoom
	merged []NumberedState
}

// movedRoom is the Room message i has after its writes.
type movedRoom struct {
	i    int
	room Room
}

func (p *statePlan) add(q statePlan) {
	p.writes = append(p.writes, q.writes...)
	p.rooms = append(p.rooms, q.rooms...)
	p.merged = append(p.merged, q.merged...)
}

// planStates works out the writes that give messages of idx their states
// (sorted). ok is false when one has no room.
//
// A message whose Room the index knows gets its fields written there,
// unread (planRooms). The others' headers are read (planRead).
func planStates(mb *Mailbox, idx *Index, states []NumberedState) (statePlan, bool, error) {
	var pl statePlan
	writes, unknown, ok := planRooms(idx, states)
	if !ok {
		return statePlan{}, false, nil
	}
	pl.writes = writes
	if len(unknown) > 0 {
		read, ok, err := planRead(mb, idx, unknown)
		if err != nil || !ok {
			return statePlan{}, false, err
		}
		pl.add(read)
	}
	return pl, true, nil
}

// planRooms is the writes of the fields of the messages of states whose
// room idx knows into those rooms, and the other messages (unknown). ok
// is false when one's fields do not fit its room.
//
// Messages without keywords whose rooms are alike and that get the same
// flags get the same bytes (a STORE to every message of a folder gives
// most of them the same): each such write reads one shared copy. A copy
// each was megabytes of fresh memory for 50,000 messages, and a virtual
// machine pays for every page on its first touch (about 10 µs here).
func planRooms(idx *Index, states []NumberedState) (writes []stateWrite, unknown []NumberedState, ok bool) {
	size, roomy := 0, 0
	for _, s := range states {
		if r, ok := idx.roomOfEntry(s.I); ok {
			if len(s.Keywords) > 0 {
				size += int(r.Len)
			}
			roomy++
		}
	}
	if roomy == 0 {
		return nil, states, true
	}
	type alike struct {
		flags Flags
		room  Room
	}
	shared := map[alike][]byte{}
	buf := make([]byte, 0, size)
	writes = make([]stateWrite, 0, roomy)
	unknown = make([]NumberedState, 0, len(states)-roomy)
	for _, s := range states {
		r, ok := idx.roomOfEntry(s.I)
		if !ok {
			unknown = append(unknown, s)
			continue
		}
		key := alike{s.Flags, r}
		b, made := shared[key]
		if !made || len(s.Keywords) > 0 {
			from := len(buf)
			buf = appendStateFields(buf, s.State, r.eol(), int(r.Len))
			if len(buf)-from != int(r.Len) {
				return nil, nil, false
			}
			b = buf[from:len(buf):len(buf)]
			if len(s.Keywords) == 0 {
				shared[key] = b
			}
		}
		writes = append(writes, stateWrite{Off: r.at(idx.Entries[s.I].BodyOffset), B: b})
	}
	return writes, unknown, true
}

// planRead reads the headers of the messages of idx that states (sorted)
// gives states and works out the writes that give them their states: few and
// in file order. ok is false when one has no room.
//
// A write costs a system call, dearer than copying a few kilobytes (on a
// virtual machine, twice the copy of the header it reads): headers a few
// kilobytes apart (small messages) are read together, and their changes
// written together where they share a page or the next, which dirties no
// page that was not dirtied anyway. The messages are shared out between
// goroutines, one a processor: the reads of a big mailbox's 50,000
// headers are most of the work.
func planRead(mb *Mailbox, idx *Index, states []NumberedState) (statePlan, bool, error) {
	type plan struct {
		statePlan
		ok  bool
		err error
	}
	plans := make([]plan, parts.Of(len(states), 2000))
	parts.In(len(states), len(plans), func(p, from, to int) {
		pl := &plans[p]
		pl.statePlan, pl.ok, pl.err = planPart(mb, idx, states[from:to])
	})
	var out statePlan
	for _, pl := range plans {
		if pl.err != nil || !pl.ok {
			return statePlan{}, false, pl.err
		}
		out.add(pl.statePlan)
	}
	return out, true, nil
}

// Reads gathered: headers at most headersGap bytes apart are read
// in one call of at most headersMax bytes.
const (
	headersGap = 16 << 10
	headersMax = 256 << 10
	pageSize   = 4096
)

// planPart is planRead for some of the messages, in order.
func planPart(mb *Mailbox, idx *Index, states []NumberedState) (statePlan, bool, error) {
	var pl statePlan
	// The bytes to write, many to an allocation: holding each header
	// rewritten until all are known to fit would hold them all.
	var kept arena
	var buf []byte
	for len(states) > 0 {
		// The run of messages read at once.
		start, end := idx.Entries[states[0].I].Offset, idx.Entries[states[0].I].BodyOffset
		n := 1
		for ; n < len(states); n++ {
			e := &idx.Entries[states[n].I]
			if e.Offset-end > headersGap || e.BodyOffset-start > headersMax {
				break
			}
			end = e.BodyOffset
		}
		buf = slices.Grow(buf[:0], int(end-start))[:end-start]
		if _, err := mb.File.ReadAt(buf, start); err != nil {
			return statePlan{}, false, fmt.Errorf("write flags of %s: %w", mb.Path, err)
		}
		// Each header's new bytes go into buf, and the ranges changed are
		// written, joined where they share a page or the next.
		var from, to int64 = -1, -1
		flush := func() {
			if from >= 0 {
				pl.writes = append(pl.writes, stateWrite{Off: from, B: kept.keep(buf[from-start : to-start])})
			}
		}
		for _, s := range states[:n] {
			i := s.I
			e := &idx.Entries[i]
			line, hdr := buf[e.Offset-start:e.HeaderOffset-start], buf[e.HeaderOffset-start:e.BodyOffset-start]
			// The From_ line checks the message is where the index says.
			if _, _, ok := ParseFromLine(bytes.TrimRight(line, "\r\n")); !ok {
				return statePlan{}, false, fmt.Errorf("write flags of %s: message %d is not where it was: %w", mb.Path, i+1, ErrChanged)
			}
			st := s.State
			if now := headerState(hdr); !sameState(now, e.State) {
				// Another program changed the fields in place since the
				// index read them (its entry was carried over that
				// program's append): its change stands beside ours.
				st = mergedState(e.State, s.State, now)
				pl.merged = append(pl.merged, NumberedState{I: i, State: st})
			}
			nh := rewriteHeader(hdr, headerEdit{state: &st})
			if len(nh) != len(hdr) {
				return statePlan{}, false, nil
			}
			if r := roomOf(nh); r.Len > 0 || e.Room.Len > 0 {
				r.Gen = idx.roomGen
				pl.rooms = append(pl.rooms, movedRoom{i, r})
			}
			a, b := changedBytes(hdr, nh)
			if a >= b {
				continue
			}
			copy(hdr[a:b], nh[a:b])
			wa, wb := e.HeaderOffset+int64(a), e.HeaderOffset+int64(b)
			if from >= 0 && wa/pageSize <= (to-1)/pageSize+1 {
				to = wb
				continue
			}
			flush()
			from, to = wa, wb
		}
		flush()
		states = states[n:]
	}
	return pl, true, nil
}

// entriesWith is a copy of entries with the states given, and the states
// and rooms pl gives.
func entriesWith(entries []Entry, states []NumberedState, pl statePlan) []Entry {
	out := slices.Clone(entries)
	for _, s := range states {
		e := &out[s.I]
		e.Flags, e.Keywords = s.Flags, slices.Clone(s.Keywords)
	}
	for _, s := range pl.merged {
		e := &out[s.I]
		e.Flags, e.Keywords = s.Flags, s.Keywords
	}
	for _, r := range pl.rooms {
		out[r.i].Room = r.room
	}
	return out
}

// withEntries is idx with entries instead of its own (the same messages,
// the same bytes where they were; those before first unchanged), for the
// file as it is now.
func (idx *Index) withEntries(mb *Mailbox, entries []Entry, first int) (*Index, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(mb.File.Fd()), &st); err != nil {
		return nil, fmt.Errorf("index %s: %w", mb.Path, err)
	}
	// Everything else it knows (the UIDs it gave, say) stands.
	c := *idx
	out := &c
	out.dev, out.ino, out.mtime = st.Dev, st.Ino, st.Mtim.Nano()
	out.Entries, out.handed = entries, nil
	out.dirty(first)
	var err error
	if out.tail, err = tailHash(mb.File, st.Size); err != nil {
		return nil, fmt.Errorf("index %s: %w", mb.Path, err)
	}
	return out, nil
}

// SyncStates syncs the flags written into the mailbox in place and not
// synced (WriteStates), and returns idx, which must describe the mailbox
// as it is now, without their mark; where an index of the mailbox is
// kept, it is saved so (failing, it keeps the mark, which costs a scan
// after a restart).
func SyncStates(mb *Mailbox, idx *Index) (*Index, error) {
	if err := mb.Sync(); err != nil {
		return nil, err
	}
	c := *idx
	out := &c
	out.unsynced = [16]byte{}
	if ipath, ok := idx.kept(mb.Path); ok {
		out.Save(ipath)
	}
	return out, nil
}

// marked is idx marked for flags written in place in this boot and not
// synced. The mark is saved first, synced, where an index of the mailbox
// at path is kept: that index, saved earlier without it, would otherwise
// stand after a power cut for a file whose flags on disk may be newer.
func (idx *Index) marked(path string) (*Index, error) {
	c := *idx
	out := &c
	out.unsynced = bootID()
	if ipath, ok := idx.kept(path); ok {
		if err := out.save(ipath, true); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// markedOnDisk reports whether the index kept of the mailbox at path is
// marked for flags written in this boot and not synced: it is the file
// idx was loaded from or last saved to, as idx left it (another session's
// CHECK may have saved it without the mark since), and idx marked it.
func (idx *Index) markedOnDisk(path string) bool {
	d := &idx.disk
	if d.path != IndexPath(path) || d.unsynced != bootID() {
		return false
	}
	var st unix.Stat_t
	return unix.Stat(d.path, &st) == nil && st.Dev == d.dev && st.Ino == d.ino && st.Size == d.size
}

// kept is where the index of the mailbox at path is kept, and whether
// one is: idx was loaded from or saved there, or another program saved
// one.
func (idx *Index) kept(path string) (string, bool) {
	ipath := IndexPath(path)
	_, err := os.Lstat(ipath)
	return ipath, err == nil || idx.disk.path == ipath
}

// headerState is the state the fields of a header block give.
func headerState(hdr []byte) State {
	var m Message
	parseHeader(hdr, &m, false, nil)
	return m.State
}

func sameState(a, b State) bool {
	return a.Flags == b.Flags && slices.Equal(a.Keywords, b.Keywords)
}

// mergedState is the state a message gets from a batch that gives it
// ours, worked out from base, when the file says theirs: another program
// changed it in place meanwhile, where the index could not see it (the
// file only grew after, its end as it was). Each change to base stands,
// the other program's and ours, as IMAP's STORE +FLAGS and -FLAGS mean: a
// flag another program cleared is not set again for being in the state
// the batch began with.
func mergedState(base, ours, theirs State) State {
	out := State{UID: ours.UID}
	out.Flags = theirs.Flags&^(base.Flags&^ours.Flags) | ours.Flags&^base.Flags
	keep := func(k string) {
		if !slices.Contains(out.Keywords, k) {
			out.Keywords = append(out.Keywords, k)
		}
	}
	for _, k := range theirs.Keywords {
		if slices.Contains(ours.Keywords, k) || !slices.Contains(base.Keywords, k) {
			keep(k)
		}
	}
	for _, k := range ours.Keywords {
		if !slices.Contains(base.Keywords, k) {
			keep(k)
		}
	}
	return out
}
