package mbox

import (
	"encoding/binary"

	"unixmail/internal/binrec"
)

// Each record of an index file ends with the counts of its own entries
// (recordCounts): what a summary (IndexSummary) adds up. A warm SELECT of
// a big folder then reads the head and the tail of each record, not its
// entries: the first touch of a 50,000-message index's 5 MB was most of
// that SELECT's time. Records written before the counts were (format 4
// files of earlier versions) end with their keywords, and are summarized
// entry by entry as before.

// recordCounts are what a record's entries count for the summary of a
// state that keeps them all; UW's pseudo-message, which only the first
// entry of a first record can be, is not a message.
type recordCounts struct {
	messages, unseen, deleted int
	notOld                    int    // messages without Old: \Recent from some RecentFrom on
	minNotOld, maxNotOld      uint32 // their lowest and highest UIDs
	firstUnseen               int    // among the messages; -1 for none
	clientSize                int64  // -1 when some message's is unknown
	pseudo                    bool
}

// countsSize is the bytes of recordCounts in a record.
const countsSize = 7*4 + 8 + 1

// countsOf counts the entries of a record; first is set for a record that
// keeps no entry of a state before it.
func countsOf(entries []Entry, first bool) recordCounts {
	c := recordCounts{firstUnseen: -1}
	if first && len(entries) > 0 && entries[0].Pseudo {
		c.pseudo, entries = true, entries[1:]
	}
	for i := range entries {
		e := &entries[i]
		if e.Flags&Seen == 0 {
			if c.unseen++; c.firstUnseen < 0 {
				c.firstUnseen = i
			}
		}
		if e.Flags&Deleted != 0 {
			c.deleted++
		}
		if e.Flags&Old == 0 {
			if c.notOld++; c.notOld == 1 {
				c.minNotOld = e.UID
			}
			c.minNotOld, c.maxNotOld = min(c.minNotOld, e.UID), max(c.maxNotOld, e.UID)
		}
		if e.ClientSize < 0 || c.clientSize < 0 {
			c.clientSize = -1
		} else {
			c.clientSize += e.ClientSize
		}
	}
	c.messages = len(entries)
	return c
}

func appendCounts(b []byte, c recordCounts) []byte {
	for _, v := range []int{c.messages, c.unseen, c.deleted, c.notOld, int(c.minNotOld), int(c.maxNotOld), c.firstUnseen} {
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(c.clientSize))
	if c.pseudo {
		return append(b, 1)
	}
	return append(b, 0)
}

// readCounts reads what appendCounts wrote for a record of n entries;
// counts that cannot be n entries' are not ok.
func readCounts(d *binrec.Reader, n int) (recordCounts, bool) {
	c := recordCounts{messages: int(d.U32()), unseen: int(d.U32()), deleted: int(d.U32()), notOld: int(d.U32()),
		minNotOld: d.U32(), maxNotOld: d.U32(), firstUnseen: int(int32(d.U32())), clientSize: int64(d.U64())}
	pseudo := d.Bytes(1)
	c.pseudo = len(pseudo) == 1 && pseudo[0] == 1
	if c.pseudo {
		n--
	}
	ok := !d.Bad && len(pseudo) == 1 && pseudo[0] <= 1 && c.messages == n &&
		c.unseen <= n && c.deleted <= n && c.notOld <= n && c.firstUnseen < n && c.firstUnseen >= -1 &&
		(c.firstUnseen >= 0) == (c.unseen > 0) && c.minNotOld <= c.maxNotOld && c.clientSize >= -1
	return c, ok
}

// add adds the counts of a run of entries, a record's whole, to s, whose
// state has RecentFrom from: the run's \Recent messages are counted off
// its entries only when from falls among their UIDs.
func (s *IndexSummary) add(c *recordCounts, r *entryRun, from uint32) {
	if c.firstUnseen >= 0 && s.FirstUnseen < 0 {
		s.FirstUnseen = s.Messages + c.firstUnseen
	}
	switch {
	case c.notOld == 0 || from > c.maxNotOld:
	case from <= c.minNotOld:
		s.Recent += c.notOld
	default:
		for i := range r.n {
			e := r.entries[i*entrySize:]
			if (i > 0 || !c.pseudo) && Flags(e[84])&Old == 0 && binary.LittleEndian.Uint32(e[80:]) >= from {
				s.Recent++
			}
		}
	}
	s.Unseen += c.unseen
	s.Deleted += c.deleted
	if c.clientSize < 0 || s.ClientSize < 0 {
		s.ClientSize = -1
	} else {
		s.ClientSize += c.clientSize
	}
	s.Messages += c.messages
	s.Pseudo = s.Pseudo || c.pseudo
}

// Summary is what IndexMap.Summary says of the index's state, counted off
// its entries.
func (idx *Index) Summary() IndexSummary {
	s := IndexSummary{Size: idx.Size, UIDValidity: idx.UIDValidity, LastUID: idx.LastUID, FirstUnseen: -1, RecentFrom: idx.RecentFrom}
	if idx.Base != nil {
		s.Keywords = idx.Base.Keywords
	}
	c := countsOf(idx.Entries, true)
	for i := range idx.Entries {
		if e := &idx.Entries[i]; (i > 0 || !c.pseudo) && e.Flags&Old == 0 && e.UID >= idx.RecentFrom {
			s.Recent++
		}
	}
	c.notOld = 0 // counted
	s.add(&c, nil, idx.RecentFrom)
	return s
}
