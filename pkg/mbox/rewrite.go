package mbox

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"unixmail/internal/parts"
)

// ErrChanged is wrapped by Rewrite's refusal to touch a mailbox whose
// first bytes are no longer what the caller read: another program has
// rewritten it, and the caller's message numbers no longer point at the
// messages the user acted on.
var ErrChanged = errors.New("mailbox changed by another program")

// Plan says what becomes of message i (counted from 0, in file order) of
// the part of the mailbox the caller read: keep it or drop it, and, when st
// is not nil, the state its Status, X-Status and X-Keywords headers should
// record. X-UID is never touched (RewriteWith can set it).
type Plan func(i int, m *Message) (keep bool, st *State)

// Change is what a RewritePlan says of one message: drop it, or keep it,
// with its state headers recording State when that is not nil, and with
// Content instead of what the file holds when that is not nil (a message
// edited in mail(1)). Content is the message as its reader sees it; it is
// stored in mbox form (mboxrd quoting) after the message's own From_ line.
//
// UID, when not 0, becomes the message's X-UID; Base, when not nil, the
// X-IMAPbase it carries (UIDVALIDITY, last UID, keywords), which belongs in
// the first message kept. That is how an IMAP server gives new mail its
// UIDs, as UW-IMAP and Dovecot do, in headers every mbox program keeps.
type Change struct {
	Drop  bool
	State *State
	// Was, when not nil, is the state State was worked out from: where
	// the file says otherwise (another program changed the message in
	// place since), the message gets both changes (mergedState).
	Was     *State
	UID     uint32
	Base    *Base
	Content io.Reader
	pad     bool // the state fields padded anew, whatever room they had
}

// RewritePlan is Plan for RewriteWith, which can also replace a message.
type RewritePlan func(i int, m *Message) Change

// Rewrite changes the mailbox as plan says, in place, the safe way quit in
// mail(1), POP3's UPDATE and IMAP's EXPUNGE need. mb must be open for
// writing (so both locks are held). known is the size of the mailbox when
// the caller read it, and offsets, unless nil, the From_ line offsets it
// saw: only those bytes are re-read and changed. Everything after known
// (mail delivered meanwhile) is kept byte for byte. If the first known
// bytes no longer hold those messages, nothing is written and the error
// wraps ErrChanged.
//
// The file keeps its inode: other programs open a mailbox, wait for a
// lock and append through the descriptor they hold, so a file renamed into
// place would lose their mail. Only the bytes from the first one that
// changes are written (all of them when the length changes, else up to the
// last one that changes), after a journal of what they held was made
// durable (see JournalPath); a rewrite killed at any point is rolled back
// by the next Open, so the mailbox is the old one or the new one, never a
// mix. A failure before the first byte is written leaves the mailbox as
// it was. Two rewrites need no journal, being old or new at any instant
// as they are: one that only cuts the file short (the last messages
// expunged), and one that changes a few bytes inside one disk sector (a
// flag written into the padding of the state fields).
//
// When the first message is dropped, its X-IMAPbase header (UIDVALIDITY,
// last UID) moves to the first message kept, so UIDs stay valid.
func Rewrite(mb *Mailbox, known int64, offsets []int64, plan Plan) error {
	return RewriteWith(mb, known, offsets, func(i int, m *Message) Change {
		keep, st := plan(i, m)
		return Change{Drop: !keep, State: st}
	})
}

// RewriteWith is Rewrite with a plan that may also give a message new
// content.
func RewriteWith(mb *Mailbox, known int64, offsets []int64, plan RewritePlan) error {
	size, pad, err := mb.checkKnown(known)
	if err != nil {
		return err
	}
	var l layout
	if err := copyPlanned(&l, mb.File, known, offsets, plan); err != nil {
		return fmt.Errorf("rewrite %s: %w", mb.Path, err)
	}
	l.newMail(mb.File, known, size, pad)
	return mb.apply(&l, size)
}

// checkKnown checks that the mailbox, open for writing, still holds what
// the caller read of it (known bytes, then whole messages), and returns
// its size and the newlines another program wrote at known before the
// From_ line of its message (see layout.newMail).
func (mb *Mailbox) checkKnown(known int64) (size, pad int64, err error) {
	mb.moved = nil
	if mb.ro {
		return 0, 0, fmt.Errorf("rewrite %s: opened read-only", mb.Path)
	}
	if size, err = mb.Size(); err != nil {
		return 0, 0, err
	}
	if size < known {
		return 0, 0, fmt.Errorf("rewrite %s: it shrank from %d to %d bytes: %w", mb.Path, known, size, ErrChanged)
	}
	if known == size {
		return size, 0, nil
	}
	// dovecot-lda, procmail and mutt make a file that does not end in a
	// blank line end in one before they append: the caller may have read
	// a last message that lacked it.
	var nl [2]byte
	n, _ := mb.File.ReadAt(nl[:], known)
	for pad < int64(n) && nl[pad] == '\n' {
		pad++
	}
	if !fromLineAt(mb.File, known+pad) {
		var there [40]byte
		n, _ := mb.File.ReadAt(there[:], known)
		return 0, 0, fmt.Errorf("rewrite %s: no message starts at byte %d (it holds %q): %w", mb.Path, known, there[:n], ErrChanged)
	}
	return size, pad, nil
}

// newMail adds the mail others appended after the known bytes. The pad
// newlines they wrote before it separate it from the last message laid
// out before it; with that message gone, or already ending in a blank
// line, they would make a blank line too many, or a file that does not
// begin with a From_ line.
func (l *layout) newMail(f io.ReaderAt, known, size, pad int64) {
	if pad > 0 {
		end := l.last2(f)
		need := int64(0)
		switch {
		case l.n == 0 || bytes.HasSuffix(end, []byte("\n\n")):
		case bytes.HasSuffix(end, []byte("\n")):
			need = 1
		default:
			need = 2
		}
		l.Write([]byte("\n\n")[:need])
		known += pad
	}
	l.old(known, size-known)
}

// last2 is the last two bytes laid out (fewer in a shorter layout).
func (l *layout) last2(f io.ReaderAt) []byte {
	var end []byte
	for k := len(l.pieces) - 1; k >= 0 && len(end) < 2; k-- {
		p := l.pieces[k]
		b := make([]byte, min(p.len(), int64(2-len(end))))
		if p.lit != nil {
			copy(b, p.lit[len(p.lit)-len(b):])
		} else if _, err := f.ReadAt(b, p.off+p.n-int64(len(b))); err != nil {
			return nil // read again by apply, which reports the error
		}
		end = append(b, end...)
	}
	return end
}

// layout is the new mailbox as a list of pieces: ranges of the old file
// and new bytes.
type layout struct {
	pieces []piece
	n      int64 // length of the new file
	arena  arena // the new bytes
}

type piece struct {
	off, n int64  // a range of the old file, when lit is nil
	lit    []byte // new bytes
}

func (p *piece) len() int64 {
	if p.lit != nil {
		return int64(len(p.lit))
	}
	return p.n
}

// old adds the old file's bytes [off, off+n).
func (l *layout) old(off, n int64) {
	if n <= 0 {
		return
	}
	l.n += n
	if k := len(l.pieces); k > 0 && l.pieces[k-1].lit == nil && l.pieces[k-1].off+l.pieces[k-1].n == off {
		l.pieces[k-1].n += n
		return
	}
	l.pieces = append(l.pieces, piece{off: off, n: n})
}

// Write adds new bytes.
func (l *layout) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	l.n += int64(len(b))
	if k := len(l.pieces); k > 0 && l.pieces[k-1].lit != nil {
		l.pieces[k-1].lit = append(l.pieces[k-1].lit, b...)
		return len(b), nil
	}
	l.pieces = append(l.pieces, piece{lit: l.arena.keep(b)})
	return len(b), nil
}

// arena keeps copies of small byte slices many to an allocation: the state
// fields of 50,000 headers are not 50,000 allocations.
type arena struct{ cur []byte }

const arenaSize = 64 << 10

// keep returns a copy of b.
func (a *arena) keep(b []byte) []byte {
	if len(b) > arenaSize/8 {
		return append([]byte(nil), b...)
	}
	if len(b) > cap(a.cur)-len(a.cur) {
		a.cur = make([]byte, 0, arenaSize)
	}
	n := len(a.cur)
	a.cur = append(a.cur, b...)
	return a.cur[n:len(a.cur):len(a.cur)]
}

// changed finds the bytes of the new file that differ from the old one
// (of length size): from the first that differs to the end when the
// length changes, else to the last that differs. from == to: nothing.
func (l *layout) changed(f io.ReaderAt, size int64) (from, to int64) {
	from, to = l.n, l.n
	pos := int64(0)
	for i := range l.pieces {
		p := &l.pieces[i]
		if d := p.diff(f, pos, size, true); d >= 0 {
			from = pos + d
			break
		}
		pos += p.len()
	}
	if l.n != size {
		return min(from, l.n), l.n
	}
	end := l.n
	for i := len(l.pieces) - 1; i >= 0 && end > from; i-- {
		p := &l.pieces[i]
		pos := end - p.len()
		if d := p.diff(f, pos, size, false); d >= 0 {
			return from, pos + d + 1
		}
		end = pos
	}
	return from, from
}

// diff compares the piece, placed at pos in the new file, with the old
// file there and returns the index of its first (or last) byte that
// differs, or -1.
func (p *piece) diff(f io.ReaderAt, pos, size int64, first bool) int64 {
	if p.lit == nil {
		if p.off == pos {
			return -1
		}
		if first {
			return 0
		}
		return p.n - 1
	}
	old := make([]byte, len(p.lit))
	n, _ := f.ReadAt(old[:max(0, min(int64(len(old)), size-pos))], pos)
	if first {
		for i := range p.lit {
			if i >= n || p.lit[i] != old[i] {
				return int64(i)
			}
		}
		return -1
	}
	for i := len(p.lit) - 1; i >= 0; i-- {
		if i >= n || p.lit[i] != old[i] {
			return int64(i)
		}
	}
	return -1
}

// apply makes the mailbox (now size bytes long) what l says, in place,
// through a journal.
func (mb *Mailbox) apply(l *layout, size int64) error {
	var before unix.Stat_t
	if err := unix.Fstat(int(mb.File.Fd()), &before); err != nil {
		return fmt.Errorf("rewrite %s: %w", mb.Path, err)
	}
	mb.synced = false
	err := mb.applyIn(l, size)
	if err == nil && l.n < size {
		mb.leaveTheSecond(&before)
	}
	return err
}

// leaveTheSecond moves the mtime of a mailbox this process has just made
// shorter to the next whole second when it is still in the second of the
// change before (stamped before). Dovecot tells a changed mbox by its
// size and its mtime in whole seconds: mail appended and numbered, then
// expunged (the file cut back to its old length) within the second of
// Dovecot's own last write would look unchanged to it, and dovecot-lda
// would give the next message the expunged one's UID from its stale
// index, never reading the X-IMAPbase raised meanwhile. At worst the mtime
// is a second ahead until the next write. Best effort: only the owner may
// set it.
func (mb *Mailbox) leaveTheSecond(before *unix.Stat_t) {
	var now unix.Stat_t
	if unix.Fstat(int(mb.File.Fd()), &now) != nil || now.Mtim.Sec != before.Mtim.Sec {
		return
	}
	tv := []unix.Timeval{{Sec: now.Atim.Sec, Usec: now.Atim.Nsec / 1000}, {Sec: now.Mtim.Sec + 1}}
	unix.Futimes(int(mb.File.Fd()), tv)
}

// applyIn is apply's writing.
func (mb *Mailbox) applyIn(l *layout, size int64) error {
	from, to := l.changed(mb.File, size)
	switch {
	case from == to && l.n == size:
		return nil
	case from == l.n:
		// Only cut off (the last messages expunged): one truncate is
		// old or new whenever it is interrupted, so needs no journal.
		return mb.syncAfter(mb.File.Truncate(l.n))
	case l.n == size && from/sectorSize == (to-1)/sectorSize:
		// A few bytes inside one sector (a flag written into the
		// padding): one pwrite is old or new whenever the process dies
		// (the kernel copies it into the page at once), and a disk
		// writes a sector whole, so neither needs a journal.
		var b bytes.Buffer
		if err := l.emit(&b, mb.File, from, to); err != nil {
			return fmt.Errorf("rewrite %s: %w", mb.Path, err)
		}
		_, err := mb.File.WriteAt(b.Bytes(), from)
		return mb.syncAfter(err)
	}
	if l.leftward(from) || l.rightward(from) {
		err := mb.compact(l, from, to, size, !l.leftward(from))
		mb.synced = err == nil
		return err
	}
	saved := size - from // what is overwritten or cut off
	if l.n == size {
		saved = to - from
	}
	j, err := writeJournal(mb.File, mb.Path, from, saved, size)
	if err != nil {
		return fmt.Errorf("rewrite %s: %w", mb.Path, err)
	}
	if err := mb.writeRange(l, oldBytes{mb.File, j}, from, to, size); err != nil {
		// Put the old bytes back now; if that fails too, the journal
		// stays for the next Open.
		if rerr := recoverJournal(mb.File, mb.Path, mb.warn); rerr != nil {
			return fmt.Errorf("rewrite %s: %w; and rolling back: %v", mb.Path, err, rerr)
		}
		return fmt.Errorf("rewrite %s: %w", mb.Path, err)
	}
	if err := j.remove(); err != nil {
		return fmt.Errorf("rewrite %s: remove journal: %w", mb.Path, err)
	}
	return nil
}

// sectorSize is the unit a disk writes whole.
const sectorSize = 512

// syncAfter syncs the mailbox after a write that returned err.
func (mb *Mailbox) syncAfter(err error) error {
	if err == nil {
		err = unix.Fdatasync(int(mb.File.Fd()))
	}
	if err != nil {
		return fmt.Errorf("rewrite %s: %w", mb.Path, err)
	}
	mb.synced = true
	return nil
}

// writeRange writes the new file's bytes [from, to), reading old ones
// through src, cuts the old file of size bytes to the new length and
// syncs it.
func (mb *Mailbox) writeRange(l *layout, src io.ReaderAt, from, to, size int64) error {
	w := bufio.NewWriterSize(slowWriter(io.NewOffsetWriter(mb.File, from)), 1<<20)
	if err := l.emit(w, src, from, to); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if l.n < size {
		if err := mb.File.Truncate(l.n); err != nil {
			return err
		}
	}
	if err := unix.Fdatasync(int(mb.File.Fd())); err != nil {
		return err
	}
	mb.synced = true
	return nil
}

// emit writes the new file's bytes [from, to) to w, reading old ones
// through src.
func (l *layout) emit(w io.Writer, src io.ReaderAt, from, to int64) error {
	pos := int64(0)
	for i := range l.pieces {
		p := &l.pieces[i]
		s, e := pos, pos+p.len()
		pos = e
		if e <= from {
			continue
		}
		if s >= to {
			break
		}
		a, b := max(s, from)-s, min(e, to)-s
		var err error
		if p.lit != nil {
			_, err = w.Write(p.lit[a:b])
		} else {
			_, err = io.Copy(w, io.NewSectionReader(src, p.off+a, b-a))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// RewriteDelayEnv, when set to a duration, makes every rewrite write in
// small pieces with that pause between them: for tests that kill a
// rewrite at many points.
const RewriteDelayEnv = "UNIXMAIL_TEST_REWRITE_DELAY"

func slowWriter(w io.Writer) io.Writer {
	d, err := time.ParseDuration(os.Getenv(RewriteDelayEnv))
	if err != nil || d <= 0 {
		return w
	}
	return &pacedWriter{w: w, d: d}
}

type pacedWriter struct {
	w io.Writer
	d time.Duration
}

func (p *pacedWriter) Write(b []byte) (int, error) {
	done := 0
	for done < len(b) {
		n, err := p.w.Write(b[done:min(len(b), done+512)])
		done += n
		if err != nil {
			return done, err
		}
		time.Sleep(p.d)
	}
	return done, nil
}

// fromLineRead is how much of the file fromLineAt reads for a From_ line.
const fromLineRead = 512

// fromLineAt reports whether a valid From_ line starts at off in f.
func fromLineAt(f io.ReaderAt, off int64) bool {
	return fromLineIn(f, off, make([]byte, fromLineRead))
}

// fromLineIn is fromLineAt reading through buf.
func fromLineIn(f io.ReaderAt, off int64, buf []byte) bool {
	n, _ := f.ReadAt(buf, off)
	line := buf[:n]
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	_, _, ok := ParseFromLine(line)
	return ok
}

// copyPlanned lays out the first known bytes of f as plan says.
func copyPlanned(l *layout, f *os.File, known int64, offsets []int64, plan RewritePlan) error {
	s := NewScanner(io.NewSectionReader(f, 0, known))
	var movedBase []byte // the X-IMAPbase field of a dropped first message
	i := 0
	for ; s.Next(); i++ {
		m := s.Message()
		if offsets != nil && (i >= len(offsets) || offsets[i] != m.Offset) {
			return fmt.Errorf("message %d is not where it was: %w", i+1, ErrChanged)
		}
		var err error
		if movedBase, err = l.place(f, i, m, plan(i, m), movedBase, nil); err != nil {
			return err
		}
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("read it again: %w", err)
	}
	if offsets != nil && i != len(offsets) {
		return fmt.Errorf("it holds %d messages where there were %d: %w", i, len(offsets), ErrChanged)
	}
	return l.end(movedBase)
}

// place lays out message i, m, as c says. movedBase is the X-IMAPbase
// field a dropped first message left for the next one kept; place returns
// what is left of it. What it changes is noted in mv, unless that is nil.
func (l *layout) place(f io.ReaderAt, i int, m *Message, c Change, movedBase []byte, mv *moves) ([]byte, error) {
	if c.Drop {
		if i == 0 && !m.Pseudo {
			movedBase = fieldLine(m.Header, "X-IMAPbase")
		}
		return movedBase, nil
	}
	edit := headerEdit{state: c.State, uid: c.UID, base: movedBase, pad: c.pad}
	if c.State != nil && c.Was != nil && !sameState(m.State, *c.Was) {
		st := mergedState(*c.Was, *c.State, m.State)
		edit.state = &st
	}
	if c.Base != nil {
		edit.base = []byte(baseField(c.Base))
	}
	if c.Content != nil {
		if mv != nil {
			mv.replace(m.Offset)
		}
		from := make([]byte, m.HeaderOffset-m.Offset)
		if _, err := f.ReadAt(from, m.Offset); err != nil {
			return nil, err
		}
		_, err := WriteMessage(l, strings.TrimRight(string(from), "\r\n"), withHeader(c.Content, edit))
		return nil, err
	}
	if edit.empty() {
		l.old(m.Offset, m.Next-m.Offset)
		return nil, nil
	}
	// Only the bytes that differ are new: the plan a journal keeps of a
	// rewrite that pads 50,000 headers stays small.
	nh := rewriteHeader(m.Header, edit)
	if mv != nil {
		mv.noteEdit(m, nh)
	}
	a, b := changedBytes(m.Header, nh)
	l.old(m.Offset, m.HeaderOffset+int64(a)-m.Offset)
	l.Write(nh[a : len(nh)-(len(m.Header)-b)])
	rest := m.HeaderOffset + int64(b)
	l.old(rest, m.Next-rest)
	return nil, nil
}

// changedBytes is where new differs from old, which it replaces: old[a:b]
// becomes new[a:len(new)-(len(old)-b)], the bytes before a and from b on
// being the same in both.
func changedBytes(old, new []byte) (a, b int) {
	b = len(old)
	for a < len(old) && a < len(new) && old[a] == new[a] {
		a++
	}
	for d := len(new) - len(old); b > a && b+d > a && old[b-1] == new[b+d-1]; b-- {
	}
	return a, b
}

// end finishes the layout of the part that was read.
func (l *layout) end(movedBase []byte) error {
	if movedBase == nil {
		return nil
	}
	// Every message went: keep UIDVALIDITY and the last UID in a
	// pseudo-message, as UW-IMAP does, so that they survive an empty
	// mailbox (c-client, Dovecot and we hide it from every list).
	return writePseudo(l, movedBase)
}

// RewriteSome is RewriteWith for a caller that knows which messages
// change, an IMAP or POP3 server with its index: changes maps a message's
// number (from 0, in file order) to what becomes of it, and only those
// messages are read again, so that a flag change or an expunge near the
// end of a big mailbox costs what it changes, not a read of the whole
// file. offsets must hold the From_ offset of every message in the first
// known bytes; each message read is checked to begin where it says.
//
// A rewrite that inserts bytes moves everything after them anyway: from
// there on, every message whose state fields lack the room for any flag
// gets its padding (see Padding), read from its header alone, so that no
// later flag change of it has to move the file again (Dovecot pads every
// message at its first sight of a folder for the same reason).
func RewriteSome(mb *Mailbox, known int64, offsets []int64, changes map[int]Change) error {
	list := make([]NumberedChange, 0, len(changes))
	for i, c := range changes {
		list = append(list, NumberedChange{i, c})
	}
	slices.SortFunc(list, func(a, b NumberedChange) int { return cmp.Compare(a.I, b.I) })
	return RewriteSorted(mb, known, offsets, list)
}

// NumberedChange is what becomes of message I (counted from 0, in file
// order), for RewriteSorted.
type NumberedChange struct {
	I int
	Change
}

// RewriteSorted is RewriteSome with the changes in a list sorted by
// message number, one for each message at most: a caller changing 50,000
// messages keeps them in one slice, not a map.
func RewriteSorted(mb *Mailbox, known int64, offsets []int64, changes []NumberedChange) error {
	size, pad, err := mb.checkKnown(known)
	if err != nil {
		return err
	}
	var l layout
	var movedBase []byte
	// The loop jumps from one message that changes to the next (every
	// message after a dropped first one is looked at, until one takes its
	// base, and every one after bytes were inserted).
	k := 0           // changes[k] is the next message that changes
	done := int64(0) // offsets before this are laid out
	hs := newHeaders(mb.File, offsets, known)
	mv := newMoves()
	if err := checkCuts(mb.File, offsets, changes); err != nil {
		return fmt.Errorf("rewrite %s: %w", mb.Path, err)
	}
	for i := 0; i < len(offsets); i++ {
		for k < len(changes) && changes[k].I < i {
			k++
		}
		var c Change
		ok := k < len(changes) && changes[k].I == i
		if ok {
			c = changes[k].Change
		}
		grown := l.n > done
		if !ok && movedBase == nil && !grown {
			if k == len(changes) || changes[k].I >= len(offsets) {
				break
			}
			i = changes[k].I - 1
			continue
		}
		if c.Drop && i > 0 {
			// Nothing of a dropped message is read: checkCuts checked
			// that messages begin where the cut is made.
			l.old(done, offsets[i]-done)
			done = known
			if i+1 < len(offsets) {
				done = offsets[i+1]
			}
			continue
		}
		m, err := hs.at(i)
		if err != nil {
			return fmt.Errorf("rewrite %s: %w", mb.Path, err)
		}
		if !ok && movedBase == nil && needsPadding(m) {
			st := m.State
			c = Change{State: &st, pad: true}
		}
		l.old(done, m.Offset-done)
		if movedBase, err = l.place(mb.File, i, m, c, movedBase, mv); err != nil {
			return fmt.Errorf("rewrite %s: %w", mb.Path, err)
		}
		done = m.Next
	}
	if err := hs.check(-1); err != nil {
		return fmt.Errorf("rewrite %s: %w", mb.Path, err)
	}
	if movedBase != nil {
		if err := l.end(movedBase); err != nil {
			return fmt.Errorf("rewrite %s: %w", mb.Path, err)
		}
	}
	l.old(done, known-done)
	l.newMail(mb.File, known, size, pad)
	if err := mb.apply(&l, size); err != nil {
		return err
	}
	mv.done(&l, known)
	mb.moved = mv
	return nil
}

// needsPadding reports whether a message's state fields lack the room to
// take every flag (Status RO, X-Status DFAT) in place.
func needsPadding(m *Message) bool {
	full := m.State
	full.Flags = Seen | Old | Answered | Flagged | Draft | Deleted
	return len(rewriteHeader(m.Header, headerEdit{state: &full})) != len(m.Header)
}

// cutReaders is the fewest From_ lines checkCuts gives a goroutine of
// its own.
const cutReaders = 256

// checkCuts checks that a message begins at each end of every run of
// messages the rewrite drops (after the first message, whose header is
// read anyway): nothing of a dropped message is read, and the cuts must
// fall where messages begin. An expunge of 10% of 50,000 messages checks
// 10,000 From_ lines, a read of the file each: they are shared out over
// as many goroutines as can run at once. The error names the first
// message in the file that is not where it was.
func checkCuts(f io.ReaderAt, offsets []int64, changes []NumberedChange) error {
	var at []int // the messages whose From_ line is checked, in file order
	for k, c := range changes {
		i := c.I
		if !c.Drop || i == 0 || i >= len(offsets) {
			continue
		}
		// changes is sorted, one for each message at most: a run's
		// neighbours are next to it in the list.
		if k == 0 || changes[k-1].I != i-1 || !changes[k-1].Drop {
			at = append(at, i)
		}
		if i+1 < len(offsets) && (k+1 == len(changes) || changes[k+1].I != i+1 || !changes[k+1].Drop) {
			at = append(at, i+1)
		}
	}
	bad := make([]int, parts.Of(len(at), cutReaders)) // the first message of each part not where it was, or -1
	parts.In(len(at), len(bad), func(p, from, to int) {
		bad[p] = -1
		buf := make([]byte, fromLineRead)
		for _, i := range at[from:to] {
			if !fromLineIn(f, offsets[i], buf) {
				bad[p] = i
				return
			}
		}
	})
	for _, i := range bad {
		if i >= 0 {
			return fmt.Errorf("message %d is not where it was: %w", i+1, ErrChanged)
		}
	}
	return nil
}

// headerRead is how much of a message is read first for its header: a
// dropped first message's X-IMAPbase, or the state fields of one whose
// flags change. A longer header is read whole on a second try.
const headerRead = 4 << 10

// headers reads the headers of the messages of the first known bytes of
// f that a rewrite changes, through one buffer. Each must begin at its
// offset and end where the next begins; its body is not read (the index
// the offsets come from found that end).
type headers struct {
	f       *os.File
	offsets []int64
	known   int64
	buf     []byte
	// next is the message whose From_ line is still to be checked, the
	// end of the last one read, or -1: reading it next checks it anyway
	// (a rewrite that pads reads every header after the first change),
	// so it is read once, not twice.
	next int
}

func newHeaders(f *os.File, offsets []int64, known int64) *headers {
	return &headers{f: f, offsets: offsets, known: known, next: -1}
}

// check checks the From_ line left to check, unless message i is read
// next, which checks it.
func (h *headers) check(i int) error {
	if h.next < 0 || h.next == i {
		return nil
	}
	k := h.next
	h.next = -1
	if !fromLineAt(h.f, h.offsets[k]) {
		return fmt.Errorf("message %d is not where it was: %w", k+1, ErrChanged)
	}
	return nil
}

// at reads the header of message i. The Message's Header is good until
// the next call.
func (h *headers) at(i int) (*Message, error) {
	if i >= len(h.offsets) {
		return nil, fmt.Errorf("no message %d: %w", i+1, ErrChanged)
	}
	if err := h.check(i); err != nil {
		return nil, err
	}
	end := h.known
	if i+1 < len(h.offsets) {
		end = h.offsets[i+1]
	}
	off := h.offsets[i]
	if off >= end {
		return nil, fmt.Errorf("message %d is not where it was: %w", i+1, ErrChanged)
	}
	if h.buf == nil {
		h.buf = make([]byte, headerRead)
	}
	b := h.buf[:min(end-off, headerRead)]
	if _, err := h.f.ReadAt(b, off); err != nil {
		return nil, err
	}
	from, _, _ := bytes.Cut(b, []byte("\n"))
	if _, _, ok := ParseFromLine(from); !ok {
		return nil, fmt.Errorf("message %d is not where it was: %w", i+1, ErrChanged)
	}
	if i+1 < len(h.offsets) {
		h.next = i + 1
	}
	s := scanBytes(b)
	for whole := false; ; whole = true {
		s.atFileStart = i == 0
		if !s.Next() {
			return nil, fmt.Errorf("message %d is not where it was: %w", i+1, ErrChanged)
		}
		m := *s.Message()
		if !whole && int64(len(b)) < end-off && !endsHeader(m.Header) {
			// The header goes on past what was read.
			s = newScannerSize(io.NewSectionReader(h.f, off, end-off), int(end-off)+1)
			continue
		}
		m.End, m.Next = end-off, end-off
		m.Offset += off
		m.HeaderOffset += off
		m.BodyOffset += off
		m.End += off
		m.Next += off
		return &m, nil
	}
}

// endsHeader reports whether a header block read ends in its blank line.
func endsHeader(hdr []byte) bool {
	return bytes.HasSuffix(hdr, []byte("\n\n")) || bytes.HasSuffix(hdr, []byte("\n\r\n"))
}

// pseudoText is the body c-client gives its folder-internal message.
const pseudoText = "This text is part of the internal format of your mail folder, and is not\n" +
	"a real message.  It is created automatically by the mail system software.\n" +
	"If deleted, important folder data will be lost, and it will be re-created\n" +
	"with the data reset to initial values.\n"

// writePseudo writes UW's folder-internal message, carrying the value of
// an X-IMAPbase field as its X-IMAP field.
func writePseudo(w io.Writer, baseLine []byte) error {
	_, value, _ := bytes.Cut(bytes.TrimRight(baseLine, "\r\n"), []byte(":"))
	value = bytes.Join(bytes.Fields(value), []byte(" "))
	now := time.Now()
	msg := "Date: " + now.Format(time.RFC1123Z) + "\n" +
		"From: Mail System Internal Data <MAILER-DAEMON@localhost>\n" +
		"Subject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\n" +
		"X-IMAP: " + string(value) + "\n" +
		"Status: RO\n\n" + pseudoText
	_, err := WriteMessage(w, FromLine("MAILER-DAEMON", now), strings.NewReader(msg))
	return err
}

// fieldLine returns the raw lines of the first field called name in a
// header block, continuation lines included, or nil.
func fieldLine(hdr []byte, name string) []byte {
	var out []byte
	in := false
	eachLine(hdr, func(line []byte) {
		switch {
		case in && (line[0] == ' ' || line[0] == '\t'):
			out = append(out, line...)
		case in:
			in = false
		case out == nil && isField(line, name):
			in = true
			out = append(out, line...)
		}
	})
	return out
}

// eachLine calls fn for each line of a header block, line end included,
// stopping before the blank line that ends it.
func eachLine(hdr []byte, fn func(line []byte)) {
	for len(hdr) > 0 {
		i := bytes.IndexByte(hdr, '\n')
		line := hdr
		if i >= 0 {
			line = hdr[:i+1]
		}
		if isBlank(line) || len(bytes.TrimRight(line, "\r\n")) == 0 {
			return
		}
		fn(line)
		hdr = hdr[len(line):]
	}
}

func isField(line []byte, name string) bool {
	return len(line) > len(name) && line[len(name)] == ':' && bytes.EqualFold(line[:len(name)], []byte(name))
}

// headerEdit is what rewriteHeader changes in a header block.
type headerEdit struct {
	state   *State // Status, X-Status and X-Keywords become these
	uid     uint32 // X-UID becomes this, when not 0
	base    []byte // an X-IMAPbase field to carry, replacing any
	copying bool   // drop the UID fields: they belong to the mailbox left
	pad     bool   // pad the state fields anew, not to the room they had
}

func (e headerEdit) empty() bool {
	return e.state == nil && e.uid == 0 && e.base == nil && !e.copying
}

// rewriteHeader returns hdr with the fields e names replaced, the new ones
// written after the other fields as mutt and s-nail write them. Every
// other byte, and the blank line that ends the block, is kept.
func rewriteHeader(hdr []byte, e headerEdit) []byte {
	eol := "\n"
	if bytes.Contains(hdr, []byte("\r\n")) {
		eol = "\r\n"
	}
	var out, uidLine []byte
	dropping, state := false, false
	n := 0    // bytes of field lines
	room := 0 // bytes of the state fields replaced
	eachLine(hdr, func(line []byte) {
		n += len(line)
		if line[0] == ' ' || line[0] == '\t' {
			if !dropping {
				out = append(out, line...)
			} else if state {
				room += len(line)
			}
			return
		}
		state = e.state != nil && (isField(line, "Status") || isField(line, "X-Status") || isField(line, "X-Keywords"))
		dropping = state ||
			(e.copying || e.uid != 0) && isField(line, "X-UID") ||
			e.copying && (isField(line, "X-IMAPbase") || isField(line, "X-IMAP")) ||
			e.base != nil && isField(line, "X-IMAPbase")
		if state {
			room += len(line)
		}
		if e.base != nil && e.uid == 0 && isField(line, "X-UID") {
			// Dovecot reads X-UID against the base it has seen: the
			// base must come first, or it renumbers every message.
			uidLine, dropping = line, true
		}
		if !dropping {
			out = append(out, line...)
		}
	})
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, eol...)
	}
	if e.base != nil {
		out = append(out, bytes.TrimRight(e.base, "\r\n")...)
		out = append(out, eol...)
		out = append(out, uidLine...)
	}
	if e.uid != 0 {
		out = append(out, fmt.Sprintf("X-UID: %d%s", e.uid, eol)...)
	}
	if e.state != nil {
		if e.copying || e.pad {
			room = 0 // padded afresh (a copy in its new mailbox)
		}
		out = append(out, stateFields(*e.state, eol, room)...)
	}
	return append(out, hdr[n:]...)
}

// baseField is the X-IMAPbase field for b, the last UID zero-padded as
// Dovecot writes it, so that a later one can be written in place.
func baseField(b *Base) string {
	f := fmt.Sprintf("X-IMAPbase: %d %010d", b.UIDValidity, b.LastUID)
	if len(b.Keywords) > 0 {
		f += " " + strings.Join(b.Keywords, " ")
	}
	return f
}

// keywordPad is the room kept in X-Keywords for later flag changes: all
// of X-Status (DFAT) and Status (RO) added, or a keyword or two.
const keywordPad = 32

// stateFields are the header lines that record st. They end in an
// X-Keywords field padded with spaces, as Dovecot pads it: to room bytes in
// all when they fit (then a flag change overwrites the old fields in
// place, with no byte of the file moving), else with keywordPad spaces to
// spare for the next change.
func stateFields(st State, eol string, room int) string {
	return string(appendStateFields(nil, st, eol, room))
}

// appendStateFields appends stateFields(st, eol, room) to b.
func appendStateFields(b []byte, st State, eol string, room int) []byte {
	start := len(b)
	if st.Flags&(Seen|Old) != 0 {
		b = append(st.Flags.appendStatus(append(b, "Status: "...)), eol...)
	}
	if st.Flags&(Deleted|Flagged|Answered|Draft) != 0 {
		b = append(st.Flags.appendXStatus(append(b, "X-Status: "...)), eol...)
	}
	b = append(b, "X-Keywords:"...)
	for _, k := range st.Keywords {
		b = append(append(b, ' '), k...)
	}
	pad := room - (len(b) - start) - len(eol)
	if pad < 0 {
		pad = keywordPad
	}
	for range pad {
		b = append(b, ' ')
	}
	return append(b, eol...)
}

// Padding is the state field a message gets when it is stored with no
// state yet (deliver, APPEND): an X-Keywords field of keywordPad spaces,
// which every reader takes for no keywords and which a later flag change
// overwrites in place (Status and X-Status fit in it), so that nothing of
// the file after it moves.
func Padding() string { return stateFields(State{}, "\n", 0) }

// WithState returns a message's content with its state header fields set
// to st, for copying a message to another mailbox (mail's MBOX, save) with
// the flags it has now. Its X-UID and any X-IMAPbase or X-IMAP go: the copy
// gets a UID in its new mailbox, and the old one's would clash there. The
// body is read through as it is.
func WithState(content io.Reader, st State) io.Reader {
	return withHeader(content, headerEdit{state: &st, copying: true})
}

// withHeader returns content with its header changed as rewriteHeader
// does; with nothing to change, content as it is.
func withHeader(content io.Reader, e headerEdit) io.Reader {
	if e.empty() {
		return content
	}
	br := bufio.NewReader(content)
	var hdr []byte
	for {
		line, err := br.ReadSlice('\n')
		hdr = append(hdr, line...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil || isBlank(line) {
			break
		}
	}
	return io.MultiReader(bytes.NewReader(rewriteHeader(hdr, e)), br)
}
