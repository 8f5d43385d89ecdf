package mbox

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"sync/atomic"
	"time"
)

// NumberUIDs says which UIDs the messages of a mailbox get, in file order,
// given the base the file holds (nil when none) and the X-UID each message
// holds (0 when none). It is the one rule ipop3d and imapd share, so that
// POP3's UIDL and IMAP's UIDs name the same messages, as UW-IMAP and
// Dovecot number them:
//
//   - UIDs already there are kept when they rise strictly, stay at or
//     below the base's last UID, and no message without one comes before
//     one with one; messages without one then get the next UIDs.
//   - Otherwise (UIDs out of order, a message copied in between) the old
//     UIDs cannot be trusted: every message is numbered from 1 under a new
//     UIDVALIDITY, greater than the old one (RFC 3501 2.3.1.1).
//
// It returns the base to write, the UID of every message, and whether
// anything differs from what the file holds.
func NumberUIDs(base *Base, uids []uint32, now time.Time) (Base, []uint32, bool) {
	b, out, changed, _ := numberUIDs(base, uids, now, "")
	return b, out, changed
}

// numberUIDs is NumberUIDs, giving a new UIDVALIDITY whatever the UIDs
// when fresh (the reason) is set. It says why it gave a new UIDVALIDITY
// to a mailbox that had one ("" when it did not): the message (by
// position in uids) and the UIDs that could not stand.
func numberUIDs(base *Base, uids []uint32, now time.Time, fresh string) (Base, []uint32, bool, string) {
	uids = slices.Clone(uids)
	out := make([]uint32, len(uids))
	b := Base{UIDValidity: uint32(now.Unix()), LastUID: 0}
	if base != nil {
		b = *base
		b.Keywords = append([]string(nil), base.Keywords...)
	}
	if b.UIDValidity == 0 {
		b.UIDValidity = 1
	}
	changed := base == nil
	why := fresh
	last, zeroAt := uint32(0), -1
	for i, u := range uids {
		switch {
		case why != "":
		case u == 0:
			if zeroAt < 0 {
				zeroAt = i
			}
		case zeroAt >= 0:
			why = fmt.Sprintf("message %d has UID %d after message %d, which has none", i+1, u, zeroAt+1)
		case u <= last:
			why = fmt.Sprintf("message %d has UID %d, not above %d before it", i+1, u, last)
		case u > b.LastUID:
			why = fmt.Sprintf("message %d has UID %d, above the last UID %d of UIDVALIDITY %d", i+1, u, b.LastUID, b.UIDValidity)
		default:
			last = u
		}
	}
	if why != "" {
		validity := uint32(now.Unix())
		if validity <= b.UIDValidity {
			validity = b.UIDValidity + 1
		}
		b.UIDValidity, b.LastUID = validity, 0
		changed = true
		for i := range uids {
			uids[i] = 0 // numbered afresh below
		}
	}
	for i, u := range uids {
		if u == 0 {
			b.LastUID++
			u = b.LastUID
			changed = true
		}
		out[i] = u
	}
	if base == nil {
		why = "" // a first numbering, no new one
	}
	return b, out, changed, why
}

// Fingerprint is what tells a message again after another program
// rewrote the file (mail deleting one, mutt or Dovecot writing flags):
// its From_ line, its Message-ID and its size as a client sees it, none
// of which a rewrite changes (ClientSize leaves the state fields out).
// Two copies of one message have the same fingerprint: Number gives the
// nth of them the UID of the nth.
func Fingerprint(m *Message) uint64 {
	h := fnv.New64a()
	h.Write([]byte(m.Sender))
	var b []byte
	b = binary.LittleEndian.AppendUint64(b, uint64(m.Date.Unix()))
	b = binary.LittleEndian.AppendUint64(b, uint64(m.ClientSize))
	h.Write(b)
	h.Write(messageID(m.Header))
	return h.Sum64()
}

// messageID is the Message-ID field's value in a header block, as it
// stands (nil when none).
func messageID(block []byte) []byte {
	for len(block) > 0 {
		line := block
		if i := bytes.IndexByte(block, '\n'); i >= 0 {
			line, block = block[:i], block[i+1:]
		} else {
			block = nil
		}
		if len(line) == 0 || line[0] == '\r' {
			return nil
		}
		if len(line) > 11 && bytes.EqualFold(line[:11], []byte("message-id:")) {
			return bytes.TrimSpace(line[11:])
		}
	}
	return nil
}

// Number gives every message of idx its UID (Entry.UID), and the mailbox
// its UIDVALIDITY and last UID, by the rule NumberUIDs states, with what
// an index saved before (prev, nil for none) gave and the file does not
// hold yet:
//
//   - A message with an X-UID keeps it. One without gets the UID prev
//     gave it: an entry prev shares with idx (the file only grew) keeps
//     its UID; after a rewrite by another program the messages are found
//     again by Fingerprint, the nth copy of a message getting the UID of
//     the nth. Only UIDs prev held alone are found so (the file's X-UIDs
//     stay with their messages through every program's rewrite), and
//     only one above the UIDs of the messages before it: a copy of a
//     message expunged, delivered again, is new mail, and the UID of the
//     message gone is never given to it (uidsBySum, takeAbove).
//   - The UIDVALIDITY is the file's when it holds one, else prev's. When
//     the file holds another UIDVALIDITY than prev gave (another program
//     numbered the file), the file's UIDs win and prev's are dropped.
//   - Messages left without a UID get the next ones; UIDs that do not
//     rise are all given again under a new UIDVALIDITY (NumberUIDs).
//   - When another program's rewrite dropped the base (mutt deleting the
//     first message, which carried it), prev's numbering stands if the
//     X-UIDs left in the file fit it, as NumberUIDs checks.
//   - A mailbox big enough to be numbered in its index (LazyFrom) that
//     has no trusted index (lost, removed by hand, or a copy made without
//     it) gets a new UIDVALIDITY when messages lack an X-UID, none holds
//     one, and the file's base says UIDs were given: the index lost may
//     have given them to those very messages, and a message must not
//     change its UID under one UIDVALIDITY (RFC 3501 2.3.1.1). Messages
//     without an X-UID after the last that holds one (before it, the UIDs
//     cannot stand anyway) get UIDs above the base under the old
//     UIDVALIDITY, however far the base is above the X-UIDs: an index of
//     ours never shows a UID it alone holds for a message that comes
//     after one whose X-UID the file holds (ToWrite: that UID goes into
//     the file first), and never writes an X-UID before a message whose
//     UID it alone holds, so no UID was shown for them. They are mail no
//     one numbered, as procmail's after Dovecot or UW-IMAP numbered the
//     file and its last messages were expunged (or UIDs reserved above
//     them), and are numbered as those servers number it. The base the
//     file holds is never behind the UIDs shown (imapd raises it in place
//     first), so no UID is ever given twice.
//
// It reports whether it had to give a new UIDVALIDITY to a mailbox that
// had one (RenumberedWhy then says why). The UIDs given here and held by
// no saved index nor the file are pending until Save.
func (idx *Index) Number(prev *Index, now time.Time) (renumbered bool) {
	idx.renumberedWhy = ""
	if prev == idx && idx.UIDValidity != 0 {
		return false // a saved index that still fits the file: numbered
	}
	if prev == idx {
		prev = nil // its entries are idx's: nothing to find again
	}
	from := prev
	if from == nil {
		from = idx // entries kept from an earlier state carry its numbering
	}
	fileV := uint32(0)
	var keywords []string
	if idx.Base != nil {
		fileV, keywords = idx.Base.UIDValidity, idx.Base.Keywords
	}
	// The numbering given before stands while the file holds the
	// UIDVALIDITY it held then: another one means another program
	// numbered the file since.
	trust := from.UIDValidity != 0 && (fileV == from.UIDValidity || fileV == from.seenValidity)
	if !trust && fileV == 0 && from.UIDValidity != 0 && from.seenValidity == from.UIDValidity {
		// The file held this numbering's base, and lost it to another
		// program's rewrite: its X-UIDs are still this numbering's.
		trust = true
		if from.Base != nil {
			keywords = from.Base.Keywords
		}
	}
	var eff *Base
	switch {
	case trust:
		eff = &Base{UIDValidity: from.UIDValidity, LastUID: from.LastUID, Keywords: keywords}
		if fileV == from.UIDValidity {
			eff.LastUID = max(eff.LastUID, idx.Base.LastUID)
		}
	case fileV != 0:
		eff = &Base{UIDValidity: fileV, LastUID: idx.Base.LastUID, Keywords: keywords}
	}
	// X-UIDs under a UIDVALIDITY the index replaced are no UIDs. (Those
	// in a file without a base are the index's, written on the way.)
	staleFile := trust && fileV != 0 && fileV != from.UIDValidity
	if trust && !staleFile && prev != nil && idx.numberAfter(prev, eff, fileV) {
		return false
	}
	// prev's UIDs by message, the nth copy of a message taking the nth
	// UID. Built only when a message lacks its UID: mail appended with
	// its X-UIDs to a big folder then costs no walk of prev.
	var fromPrev map[uint64][]uint32
	top := uint32(0) // the highest UID of the messages walked
	real := make([]int, 0, len(idx.Entries))
	uids := make([]uint32, 0, len(idx.Entries))
	for i := range idx.Entries {
		e := &idx.Entries[i]
		if e.Pseudo {
			continue
		}
		if e.Lazy && !trust || !e.Lazy && staleFile {
			e.UID, e.Lazy = 0, false
			idx.dirty(i)
		}
		if fromPrev == nil && e.UID == 0 && trust && prev != nil {
			fromPrev = uidsBySum(prev, idx.Entries[:i])
		}
		if fromPrev != nil {
			if e.UID != 0 {
				fromPrev[e.Sum] = withoutUID(fromPrev[e.Sum], e.UID)
			} else if u := takeAbove(fromPrev, e.Sum, top); u != 0 {
				e.UID, e.Lazy = u, true
				idx.dirty(i)
			}
		}
		top = max(top, e.UID)
		real = append(real, i)
		uids = append(uids, e.UID)
	}
	if len(real) == 0 && eff == nil {
		// No message, no base: nothing to number until the first comes.
		idx.UIDValidity, idx.LastUID, idx.RecentFrom, idx.seenValidity = 0, 0, 0, 0
		return false
	}
	fresh := ""
	if !trust && eff != nil && idx.Size >= LazyFrom() && unaccounted(eff, uids) {
		fresh = fmt.Sprintf("no message holds an X-UID while the last UID given is %d, and no index of ours says which UIDs they were given", eff.LastUID)
	}
	base, out, changed, why := numberUIDs(eff, uids, now, fresh)
	renumbered = eff != nil && base.UIDValidity != eff.UIDValidity
	if renumbered {
		idx.renumberedWhy = fmt.Sprintf("%s (file: %d bytes, base %s; index before: UIDVALIDITY %d, last UID %d, trusted %t)", why, idx.Size, baseString(idx.Base), from.UIDValidity, from.LastUID, trust)
	}
	for j, i := range real {
		if e := &idx.Entries[i]; out[j] != uids[j] || renumbered {
			e.UID, e.Lazy = out[j], true
			idx.dirty(i)
		}
	}
	recentFrom := uint32(0)
	if trust && !renumbered {
		recentFrom = from.RecentFrom
	}
	idx.RecentFrom = recentFrom
	idx.UIDValidity, idx.LastUID, idx.seenValidity = base.UIDValidity, base.LastUID, fileV
	idx.pending = idx.pending || changed || prev != nil && prev.pending
	return renumbered
}

// RenumberedWhy says why Number last gave the mailbox a new UIDVALIDITY,
// with what it numbered from, for the log ("" when it did not).
func (idx *Index) RenumberedWhy() string { return idx.renumberedWhy }

// RenumberedNote is what imapd and ipop3d log when Number gave the mailbox
// at path a new UIDVALIDITY: a client sees only every message fetched
// again, and it should never happen but for the reason the note gives.
func (idx *Index) RenumberedNote(path string) string {
	return fmt.Sprintf("mailbox=%s new uidvalidity=%d: the UIDs in it could not stand: %s", path, idx.UIDValidity, idx.renumberedWhy)
}

// baseString is an X-IMAPbase for the log.
func baseString(b *Base) string {
	if b == nil {
		return "none"
	}
	return fmt.Sprintf("UIDVALIDITY %d last UID %d", b.UIDValidity, b.LastUID)
}

// numberAfter is Number for an index that holds prev's entries as they
// are (the same array: prev's file, with mail appended) and more: only the
// new entries are looked at, so an APPEND to a big folder costs what it
// appended. It reports false, having changed nothing, when the new
// entries' UIDs do not follow prev's (Number then looks at them all).
func (idx *Index) numberAfter(prev *Index, eff *Base, fileV uint32) bool {
	n := len(prev.Entries)
	if n == 0 || prev.gone != nil || len(idx.Entries) < n || &idx.Entries[0] != &prev.Entries[0] {
		return false
	}
	last := uint32(0)
	for i := n - 1; i >= 0 && last == 0; i-- {
		if e := &idx.Entries[i]; !e.Pseudo {
			if e.UID == 0 {
				return false // prev was never numbered
			}
			last = e.UID
		}
	}
	// The rule NumberUIDs states, for what follows prev's last UID.
	sawZero := false
	for i := n; i < len(idx.Entries); i++ {
		switch e := &idx.Entries[i]; {
		case e.Pseudo:
		case e.UID == 0:
			sawZero = true
		case sawZero || e.UID <= last || e.UID > eff.LastUID:
			return false
		default:
			last = e.UID
		}
	}
	lastUID := eff.LastUID
	for i := n; i < len(idx.Entries); i++ {
		if e := &idx.Entries[i]; !e.Pseudo && e.UID == 0 {
			lastUID++
			e.UID, e.Lazy = lastUID, true
			idx.dirty(i)
			idx.pending = true
		}
	}
	idx.RecentFrom = prev.RecentFrom
	idx.UIDValidity, idx.LastUID, idx.seenValidity = eff.UIDValidity, lastUID, fileV
	idx.pending = idx.pending || prev.pending
	return true
}

// unaccounted reports whether messages lack a UID (0 in uids) while none
// holds one and the base says UIDs were given: the UIDs an index lost may
// have shown for them (Number).
func unaccounted(base *Base, uids []uint32) bool {
	for _, u := range uids {
		if u != 0 {
			return false
		}
	}
	return len(uids) > 0 && base.LastUID > 0
}

// ToWrite is the messages (by index in Entries) whose UIDs the index
// alone holds (Lazy) and that come after a message whose X-UID the file
// holds: their X-UIDs must be written into the file before anyone is
// shown those UIDs. A mailbox's index may hold UIDs alone only for the
// messages before the first X-UID in the file, so that one found without
// its index can tell the messages it may have numbered (none holds an
// X-UID) from mail no one numbered (after the X-UIDs: Number). That costs
// a fresh big mailbox nothing, and new mail after numbered mail the bytes
// of its own X-UIDs, as for a small folder.
func (idx *Index) ToWrite() []int {
	var out []int
	file := false
	for i := range idx.Entries {
		switch e := &idx.Entries[i]; {
		case e.Pseudo || e.UID == 0:
		case !e.Lazy:
			file = true
		case file:
			out = append(out, i)
		}
	}
	return out
}

// uidsBySum is the UIDs prev gave by its index alone (Lazy), by message,
// less those of the messages in done (already numbered, as Number walks
// them). A UID the file held is not among them: every program keeps a
// message's X-UID when it rewrites the file, so a message without one now
// is not the one that held it, whatever its fingerprint; that one is
// gone, and a copy of it delivered since is new mail (the UID of a
// message expunged is never given again).
func uidsBySum(prev *Index, done []Entry) map[uint64][]uint32 {
	m := map[uint64][]uint32{}
	for i := range prev.Entries {
		if e := &prev.Entries[i]; !e.Pseudo && e.Lazy && e.UID != 0 && (prev.gone == nil || !prev.gone(i)) {
			m[e.Sum] = append(m[e.Sum], e.UID)
		}
	}
	for i := range done {
		if e := &done[i]; !e.Pseudo && e.UID != 0 {
			m[e.Sum] = withoutUID(m[e.Sum], e.UID)
		}
	}
	return m
}

// withoutUID is q (UIDs in file order) less u, which a message walked
// holds already.
func withoutUID(q []uint32, u uint32) []uint32 {
	if i := slices.Index(q, u); i >= 0 {
		return slices.Delete(q, i, i+1)
	}
	return q
}

// takeAbove takes from m the first UID prev gave a message of fingerprint
// sum that is above top, the highest UID of the messages before it: every
// program keeps the messages of a file in their order, so a copy that
// comes after messages its UID is below is not that copy but a new one
// (the same message delivered again after the first went). The UIDs
// skipped are of copies gone.
func takeAbove(m map[uint64][]uint32, sum uint64, top uint32) uint32 {
	q := m[sum]
	for len(q) > 0 && q[0] <= top {
		q = q[1:]
	}
	if len(q) == 0 {
		m[sum] = q
		return 0
	}
	m[sum] = q[1:]
	return q[0]
}

// Pending reports whether Number gave UIDs that neither the file nor a
// saved index holds: before they are shown to anyone, the index must be
// saved (under the mailbox's lock) or the UIDs written into the file.
func (idx *Index) Pending() bool { return idx.pending }

// Lazy reports whether any UID, or the base, is held by the index alone,
// not the file.
func (idx *Index) Lazy() bool {
	if idx.UIDValidity == 0 {
		return false
	}
	if idx.Base == nil || idx.Base.UIDValidity != idx.UIDValidity || idx.Base.LastUID != idx.LastUID {
		return true
	}
	for i := range idx.Entries {
		if idx.Entries[i].Lazy {
			return true
		}
	}
	return false
}

// BaseToRaise is the X-IMAPbase to write over the file's before the UIDs
// idx gave (Number) above the last one the file's base records are shown
// to anyone: dovecot-lda and UW-IMAP number the mail they append from the
// file's base, and Number numbers from it a mailbox whose index is lost,
// so a UID it lags behind could be given twice. It is nil when the base
// does not lag, or when the new one cannot be written in place
// (BaseInPlace): the index alone holds those UIDs then.
func (idx *Index) BaseToRaise(f io.ReaderAt) *Base {
	fb := idx.Base
	if fb == nil || fb.LastUID >= idx.LastUID {
		return nil
	}
	b := &Base{UIDValidity: idx.UIDValidity, LastUID: idx.LastUID, Keywords: fb.Keywords}
	if !idx.BaseInPlace(f, b) {
		return nil
	}
	return b
}

// BaseInPlace reports whether b can be written over the X-IMAPbase of the
// mailbox's first message without that message changing length: the file
// holds a base of b's UIDVALIDITY, in a real message. Writing it
// (RewriteSome) then changes a few bytes of one header in place, and
// moves nothing after it: we, c-client and Dovecot all write the last
// UID zero-padded to ten digits.
func (idx *Index) BaseInPlace(f io.ReaderAt, b *Base) bool {
	if idx.Base == nil || idx.Base.UIDValidity != b.UIDValidity || len(idx.Entries) == 0 || idx.Entries[0].Pseudo {
		return false
	}
	e := &idx.Entries[0]
	if e.BodyOffset-e.HeaderOffset > 1<<20 {
		return false // not read whole for a few bytes
	}
	hdr := make([]byte, e.BodyOffset-e.HeaderOffset)
	if _, err := f.ReadAt(hdr, e.HeaderOffset); err != nil || fieldLine(hdr, "X-IMAPbase") == nil {
		return false
	}
	return len(rewriteHeader(hdr, headerEdit{base: []byte(baseField(b))})) == len(hdr)
}

// NumberWithout is Number after a rewrite that dropped prev's entries
// gone (by index): the nth copy of a message left is found again as the
// nth of prev's copies left, never as one that went. prev is not copied:
// a big folder's expunge costs no second array of its entries.
func (idx *Index) NumberWithout(prev *Index, gone func(i int) bool, now time.Time) (renumbered bool) {
	was := *prev
	was.gone = gone
	return idx.Number(&was, now)
}

// LazyFrom is the size from which a mailbox's UIDs (and imapd's \Recent
// state) may be kept in its index alone, written into the file only when
// a rewrite touches the message anyway, as Dovecot's mbox_lazy_writes
// does: numbering a fresh 1 GB mailbox must not rewrite it. A smaller
// mailbox gets them written at once, where every other program sees them.
// imapd and ipop3d share it. Tests lower it with SetLazyFrom while other
// sessions may be reading it, hence the atomic.
func LazyFrom() int64 { return lazyFrom.Load() }

// SetLazyFrom sets LazyFrom and gives the old value back.
func SetLazyFrom(n int64) int64 { return lazyFrom.Swap(n) }

var lazyFrom = func() *atomic.Int64 {
	var v atomic.Int64
	v.Store(16 << 20)
	return &v
}()
