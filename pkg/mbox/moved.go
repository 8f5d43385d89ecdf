package mbox

import (
	"bytes"
	"fmt"
	"sort"

	"golang.org/x/sys/unix"
)

// moves is what the last RewriteSome through a Mailbox did, kept for
// ReindexRewritten: where each range of old bytes went, and the messages
// whose state fields alone it rewrote.
type moves struct {
	known, size int64  // the bytes the caller knew, and the new file's size
	spans       []span // in old order
	edits       map[int64]stateEdit
	replaced    map[int64]bool // messages given new content, by old offset
}

// span is old bytes [old, old+n) moved to new.
type span struct{ old, new, n int64 }

func newMoves() *moves {
	return &moves{edits: map[int64]stateEdit{}, replaced: map[int64]bool{}}
}

// done records where the layout put the old bytes, once it is written.
func (mv *moves) done(l *layout, known int64) {
	mv.known, mv.size = known, l.n
	pos := int64(0)
	for i := range l.pieces {
		if p := &l.pieces[i]; p.lit == nil {
			mv.spans = append(mv.spans, span{p.off, pos, p.n})
		}
		pos += l.pieces[i].len()
	}
}

// stateEdit is a message whose header changed in its state fields alone:
// by how many bytes and lines it grew, and the state the file now holds.
type stateEdit struct {
	grow  int64
	lines int
	state State
}

// noteEdit records the rewrite of message m's header as nh, for
// ReindexRewritten; a change of more than its state fields is recorded
// as a message to read again.
func (mv *moves) noteEdit(m *Message, nh []byte) {
	if !bytes.Equal(withoutStateFields(m.Header), withoutStateFields(nh)) || !endsHeader(nh) {
		mv.replaced[m.Offset] = true
		return
	}
	var n Message
	parseHeader(nh, &n, false, new(*Base))
	mv.edits[m.Offset] = stateEdit{
		grow:  int64(len(nh) - len(m.Header)),
		lines: bytes.Count(nh, []byte("\n")) - bytes.Count(m.Header, []byte("\n")),
		state: n.State,
	}
}

// withoutStateFields is a header block without its state fields (the
// ones a client is never shown, IsStateHeader), continuation lines
// included.
func withoutStateFields(hdr []byte) []byte {
	var out []byte
	drop := false
	for rest := hdr; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		if line[0] != ' ' && line[0] != '\t' {
			name, _, _ := bytes.Cut(line, []byte(":"))
			drop = trusted(name)
		}
		if !drop {
			out = append(out, line...)
		}
	}
	return out
}

// entry is what old entry e of the mailbox the rewrite was given became:
// moved whole, or with its state fields rewritten (ok), dropped (gone),
// or neither (to be read again).
func (mv *moves) entry(e *Entry) (out Entry, ok, gone bool) {
	if mv.replaced[e.Offset] {
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
	ed, edited := mv.edits[e.Offset]
	switch {
	case edited:
		out.BodyOffset += ed.grow
		out.End += ed.grow
		out.Next += ed.grow
		out.Lines += ed.lines
		out.Flags, out.Keywords = ed.state.Flags, ed.state.Keywords
		if ed.state.UID != 0 {
			out.UID, out.Lazy = ed.state.UID, false
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
func ReindexRewritten(idx *Index, mb *Mailbox, from int64) (*Index, error) {
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
		e, ok, gone := mv.entry(&idx.Entries[k])
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
	if e, ok, _ := mv.entry(&idx.Entries[len(idx.Entries)-1]); ok {
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
