package mbox

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"sort"

	"golang.org/x/sys/unix"
)

// moves is what the last RewriteSome through a Mailbox did, kept for
// ReindexRewritten: where each range of old bytes went, and the messages
// whose state fields alone it rewrote. Each list is in the order of the
// old file (RewriteSome lays messages out in it), so that a rewrite of
// 50,000 headers keeps a few compact slices, not maps of them.
type moves struct {
	known, size int64      // the bytes the caller knew, and the new file's size
	spans       []span     // in old order
	edits       []edit     // by old offset
	keywords    [][]string // the keywords of edits whose state has some
	replaced    []int64    // messages given new content, by old offset
}

// span is old bytes [old, old+n) moved to new.
type span struct{ old, new, n int64 }

func newMoves() *moves { return &moves{} }

// done records where the layout put the old bytes, once it is written.
func (mv *moves) done(l *layout, known int64) {
	mv.known, mv.size = known, l.n
	n := 0
	for i := range l.pieces {
		if l.pieces[i].lit == nil {
			n++
		}
	}
	mv.spans = make([]span, 0, n)
	pos := int64(0)
	for i := range l.pieces {
		if p := &l.pieces[i]; p.lit == nil {
			mv.spans = append(mv.spans, span{p.off, pos, p.n})
		}
		pos += l.pieces[i].len()
	}
}

// edit is a message (at old offset off) whose header changed in its state
// fields alone: by how many bytes and lines it grew, and the state the
// file now holds (its keywords in moves.keywords[kw-1], when kw is not 0).
type edit struct {
	off         int64
	grow, lines int32
	uid         uint32
	kw          int32
	flags       Flags
	room        Room
}

// replace records that the message at old offset off is to be read again.
func (mv *moves) replace(off int64) {
	if k := len(mv.replaced); k == 0 || mv.replaced[k-1] != off {
		mv.replaced = append(mv.replaced, off)
	}
}

// noteEdit records the rewrite of message m's header as nh, for
// ReindexRewritten; a change of more than its state fields is recorded
// as a message to read again.
func (mv *moves) noteEdit(m *Message, nh []byte) {
	grow, lines := len(nh)-len(m.Header), bytes.Count(nh, []byte("\n"))-bytes.Count(m.Header, []byte("\n"))
	if !sameButStateFields(m.Header, nh) || !endsHeader(nh) || int(int32(grow)) != grow || int(int32(lines)) != lines {
		mv.replace(m.Offset)
		return
	}
	var n Message
	parseHeader(nh, &n, false, new(*Base))
	e := edit{off: m.Offset, grow: int32(grow), lines: int32(lines), uid: n.UID, flags: n.Flags, room: roomOf(nh)}
	if len(n.Keywords) > 0 {
		mv.keywords = append(mv.keywords, n.Keywords)
		e.kw = int32(len(mv.keywords))
	}
	mv.edits = append(mv.edits, e)
}

// sameButStateFields reports whether two header blocks are the same but
// for their state fields (the ones a client is never shown,
// IsStateHeader), continuation lines included.
func sameButStateFields(a, b []byte) bool {
	for {
		la, ra := nextKept(a)
		lb, rb := nextKept(b)
		if !bytes.Equal(la, lb) {
			return false
		}
		if la == nil {
			return true
		}
		a, b = ra, rb
	}
}

// nextKept is the first line of hdr that is no part of a state field,
// and what follows it; nil when there is none.
func nextKept(hdr []byte) (line, rest []byte) {
	drop := false
	for len(hdr) > 0 {
		line, hdr = hdr, nil
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line, hdr = line[:i+1], line[i+1:]
		}
		if line[0] != ' ' && line[0] != '\t' {
			name, _, _ := bytes.Cut(line, []byte(":"))
			drop = trusted(name)
		}
		if !drop {
			return line, hdr
		}
	}
	return nil, nil
}

// entry is what old entry e of the mailbox the rewrite was given became:
// moved whole, or with its state fields rewritten (ok), dropped (gone),
// or neither (to be read again).
// An edited message's room is of gen (the rooms of the index written).
func (mv *moves) entry(e *Entry, gen uint8) (out Entry, ok, gone bool) {
	if _, ok := slices.BinarySearch(mv.replaced, e.Offset); ok {
		return out, false, false
	}
	// The old bytes that hold the message's From_ line, if any do.
	k := sort.Search(len(mv.spans), func(k int) bool { return mv.spans[k].old+mv.spans[k].n > e.Offset })
	if k == len(mv.spans) || mv.spans[k].old > e.Offset {
		return out, false, true
	}
	p := &mv.spans[k]
	out = *e
	shift(&out, p.new-p.old)
	j, edited := slices.BinarySearchFunc(mv.edits, e.Offset, func(ed edit, off int64) int { return cmp.Compare(ed.off, off) })
	switch {
	case edited:
		ed := &mv.edits[j]
		out.BodyOffset += int64(ed.grow)
		out.End += int64(ed.grow)
		out.Next += int64(ed.grow)
		out.Lines += int(ed.lines)
		out.Flags, out.Keywords, out.Room = ed.flags, nil, ed.room
		out.Room.Gen = gen
		if ed.kw > 0 {
			out.Keywords = mv.keywords[ed.kw-1]
		}
		if ed.uid != 0 {
			out.UID, out.Lazy = ed.uid, false
		}
	case e.Next > p.old+p.n:
		return out, false, false
	}
	return out, true, false
}

// ReindexRewritten is Reindex after a RewriteSome through mb that began at
// from: the entries of the messages it moved whole, or whose state fields
// alone it rewrote, are worked out from idx instead of read again; only
// the last message and what follows it (mail another program appended),
// and whatever else changed, are scanned. Without such a rewrite (or
// after another), it is Reindex.
//
// The rooms it finds (Room) are of the file as this process left it,
// under its locks: settled first, so that a later write of another
// program shows in the mtime.
func ReindexRewritten(idx *Index, mb *Mailbox, from int64) (*Index, error) {
	settled := mb.settle()
	out, err := reindexRewritten(idx, mb, from)
	if err == nil && !settled {
		out.distrustRooms()
	}
	if err == nil && mb.synced {
		// Every dirty page of the file went to disk, flags written in
		// place before included.
		out.unsynced = [16]byte{}
	}
	mb.synced = false
	return out, err
}

func reindexRewritten(idx *Index, mb *Mailbox, from int64) (*Index, error) {
	mv := mb.moved
	mb.moved = nil
	f := mb.File
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, fmt.Errorf("index %s: %w", f.Name(), err)
	}
	if mv == nil || mv.known != idx.Size || mv.size != st.Size || len(idx.Entries) < 2 {
		return Reindex(idx, f, from)
	}
	keep := sort.Search(len(idx.Entries), func(i int) bool { return idx.Entries[i].Next > from })
	// Made once: grown by appends, the entries of a big mailbox would be
	// copied into fresh memory again and again.
	more := make([]Entry, 0, len(idx.Entries)-keep)
	for k := keep; k < len(idx.Entries)-1; k++ {
		e, ok, gone := mv.entry(&idx.Entries[k], idx.roomGen)
		if gone {
			continue
		}
		if !ok {
			break
		}
		more = append(more, e)
	}
	// The last message worked out is read again with what follows: bytes
	// added after it (a blank line before new mail, UW's pseudo-message)
	// belong to no message the rewrite was given.
	// What they were worked out to be still gives them the UIDs the
	// index gave them, which the file may not hold.
	var reread []Entry
	if e, ok, _ := mv.entry(&idx.Entries[len(idx.Entries)-1], idx.roomGen); ok {
		reread = append(reread, e)
	}
	if len(more) > 0 {
		reread = append(reread, more[len(more)-1])
		more = more[:len(more)-1]
	} else if keep > 0 {
		keep--
	}
	start := int64(0)
	switch {
	case len(more) > 0:
		start = more[len(more)-1].Next
	case keep > 0:
		start = idx.Entries[keep-1].Next
	}
	return idx.reindexed(f, &st, keep, more, start, reread)
}
