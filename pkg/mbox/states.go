package mbox

import (
	"bytes"
	"fmt"
	"slices"
	"sort"

	"golang.org/x/sys/unix"
)

// WriteStates writes new state fields (Status, X-Status, X-Keywords) into
// messages of the mailbox in place, for an IMAP server's batch of flag
// changes: states maps a message's number in idx.Entries to the state it
// gets (its UID is left as the file holds it). idx must describe the
// mailbox as it is now, read under the locks mb holds.
//
// Every message must have room for its new fields in the bytes its old
// ones take, padding included (see Padding): then nothing in the file
// moves, only those few bytes of each header are written, and one
// fdatasync makes the batch durable. When one has no room, nothing is
// written and ok is false: the caller rewrites instead (RewriteSome, which
// pads the fields it writes, so the next change fits).
//
// No journal is needed: a process killed between two writes leaves each
// message with its old fields or its new ones, whole, since the kernel
// takes each write at once. A power cut may tear a write across a disk
// sector, mixing old and new bytes of one message's state fields; the
// line ends of the header and every message boundary stay where they
// were, so no message is lost or merged with another.
//
// It returns the index of the mailbox after the writes.
func WriteStates(mb *Mailbox, idx *Index, states map[int]State) (out *Index, ok bool, err error) {
	mb.moved = nil
	size, err := mb.Size()
	if err != nil {
		return nil, false, err
	}
	if size != idx.Size {
		return nil, false, fmt.Errorf("write flags of %s: it is %d bytes, not %d: %w", mb.Path, size, idx.Size, ErrChanged)
	}
	order := make([]int, 0, len(states))
	for i := range states {
		if i < 0 || i >= len(idx.Entries) {
			return nil, false, fmt.Errorf("write flags of %s: no message %d", mb.Path, i+1)
		}
		order = append(order, i)
	}
	sort.Ints(order)
	type write struct {
		off int64
		b   []byte
	}
	var writes []write
	// The bytes to write, many to an allocation: holding each header
	// rewritten until all are known to fit would hold them all.
	var kept arena
	var buf []byte
	for _, i := range order {
		e := &idx.Entries[i]
		// One read: the From_ line, to check the message is where the
		// index says, and the header.
		buf = slices.Grow(buf[:0], int(e.BodyOffset-e.Offset))[:e.BodyOffset-e.Offset]
		if _, err := mb.File.ReadAt(buf, e.Offset); err != nil {
			return nil, false, fmt.Errorf("write flags of %s: %w", mb.Path, err)
		}
		from, hdr := buf[:e.HeaderOffset-e.Offset], buf[e.HeaderOffset-e.Offset:]
		if _, _, ok := ParseFromLine(bytes.TrimRight(from, "\r\n")); !ok {
			return nil, false, fmt.Errorf("write flags of %s: message %d is not where it was: %w", mb.Path, i+1, ErrChanged)
		}
		st := states[i]
		nh := rewriteHeader(hdr, headerEdit{state: &st})
		if len(nh) != len(hdr) {
			return nil, false, nil
		}
		if a, b := changedBytes(hdr, nh); a < b {
			writes = append(writes, write{e.HeaderOffset + int64(a), kept.keep(nh[a:b])})
		}
	}
	for _, w := range writes {
		if _, err := mb.File.WriteAt(w.b, w.off); err != nil {
			return nil, false, fmt.Errorf("write flags of %s: %w", mb.Path, err)
		}
	}
	if len(writes) > 0 {
		if err := unix.Fdatasync(int(mb.File.Fd())); err != nil {
			return nil, false, fmt.Errorf("write flags of %s: %w", mb.Path, err)
		}
	}
	out, err = idx.withStates(mb, states)
	return out, true, err
}

// withStates is idx with the states of some entries changed, for the
// file as it is now (same bytes where they were).
func (idx *Index) withStates(mb *Mailbox, states map[int]State) (*Index, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(mb.File.Fd()), &st); err != nil {
		return nil, fmt.Errorf("index %s: %w", mb.Path, err)
	}
	// Everything else it knows (the UIDs it gave, say) stands.
	c := *idx
	out := &c
	out.dev, out.ino, out.mtime = st.Dev, st.Ino, st.Mtim.Nano()
	out.Entries = slices.Clone(idx.Entries)
	for i, s := range states {
		out.dirty(i)
		e := &out.Entries[i]
		e.Flags, e.Keywords = s.Flags, append([]string(nil), s.Keywords...)
	}
	var err error
	if out.tail, err = tailHash(mb.File, st.Size); err != nil {
		return nil, fmt.Errorf("index %s: %w", mb.Path, err)
	}
	return out, nil
}
