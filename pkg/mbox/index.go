package mbox

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// Index is a cache of what a scan of a mailbox found, kept in a file beside
// it, so that reopening a big mailbox costs a stat, a small read and the
// scan of what was appended since, not a read of the whole file. The mbox
// stays the truth: an index that does not fit the file any more is thrown
// away and the file scanned again.
//
// It fits when the file is the same inode and either exactly as it was
// (length and mtime), when nothing is scanned, or longer with the last 4
// KiB indexed unchanged: mail was appended. A file of the same length but
// another mtime was changed in place (a flag written into its padding, by
// us or by Dovecot) and is scanned again. (Like Dovecot's mbox index, it
// does not see an in-place edit of an earlier message made at the same
// time as an append.) An index holding flags written but not synced in an
// earlier boot never fits (see unsynced.go).
type Index struct {
	Entries []Entry
	Base    *Base // the X-IMAPbase the file holds, nil when none
	Size    int64 // bytes of the file the entries cover

	// UIDValidity and LastUID are the mailbox's UID state once Number has
	// run: the file's base, or the one the index gave when the file holds
	// none yet (or an older one). RecentFrom is the first UID no
	// read-write session has been shown yet (\Recent, RFC 3501 2.3.2).
	UIDValidity, LastUID, RecentFrom uint32

	// pending: Number gave out UIDs that neither the file nor a saved
	// index holds yet.
	pending bool
	// seenValidity is the UIDVALIDITY the file held (0: none) when the
	// index numbered it.
	seenValidity uint32
	// renumberedWhy: why Number last gave a new UIDVALIDITY.
	renumberedWhy string
	// unsynced is the boot (bootID) in which flags this index holds were
	// written into the file in place and not synced; zero when every
	// byte it describes was synced (see WriteStates).
	unsynced [16]byte
	// roomGen is the generation of rooms the index trusts (Room.Gen):
	// it moves on when the index is carried over a change another
	// program made to the file (mail appended), which may have rewritten
	// headers in place too.
	roomGen uint8

	dev, ino uint64
	mtime    int64
	tail     [32]byte
	// handed is how many entries of the array under Entries some index
	// holds (shared by the indexes that share the array): only the one
	// that holds them all may append there without copying.
	handed *int

	// disk is the index file this index was loaded from or saved to, of
	// which the first clean entries are the same as these (Save then
	// appends the rest).
	disk  onDisk
	clean int
	// gone, when not nil, says which entries a rewrite dropped since:
	// Number hands none of their UIDs out again (NumberWithout).
	gone func(i int) bool
}

// grown is the entries of idx up to keep, then more. They are appended in
// idx's own array when no other index holds entries past it, so that mail
// appended to a big mailbox costs what was appended, not a copy of every
// entry.
func (idx *Index) grown(keep int, more []Entry) ([]Entry, *int) {
	n := keep + len(more)
	if idx.handed != nil && keep == len(idx.Entries) && *idx.handed == keep && n <= cap(idx.Entries) {
		out := append(idx.Entries, more...)
		*idx.handed = n
		return out, idx.handed
	}
	out := make([]Entry, keep, n+n/8+64)
	copy(out, idx.Entries[:keep])
	out = append(out, more...)
	return out, &n
}

// rescanned drops the first of entries, read again from the offset of
// idx's entry keep, when it is that entry unchanged, and says how many of
// idx's entries stand.
func (idx *Index) rescanned(keep int, entries []Entry) (int, []Entry) {
	if keep < len(idx.Entries) && len(entries) > 0 && sameEntry(&idx.Entries[keep], &entries[0]) {
		return keep + 1, entries[1:]
	}
	return keep, entries
}

func sameEntry(a, b *Entry) bool {
	return a.Offset == b.Offset && a.HeaderOffset == b.HeaderOffset && a.BodyOffset == b.BodyOffset &&
		a.End == b.End && a.Next == b.Next && a.ContentLength == b.ContentLength && a.ClientSize == b.ClientSize &&
		a.Date.Equal(b.Date) && a.Lines == b.Lines && a.Flags == b.Flags && a.UID == b.UID &&
		slices.Equal(a.Keywords, b.Keywords) && a.Pseudo == b.Pseudo && a.Room == b.Room
}

// Entry is one message as Index keeps it: Message without the header.
type Entry struct {
	Offset, HeaderOffset, BodyOffset, End, Next int64
	ContentLength                               int64
	ClientSize                                  int64 // Message.ClientSize
	Date                                        time.Time
	Lines                                       int
	State                                       // State.UID is the message's UID once Number has run
	Pseudo                                      bool
	// Lazy: the UID was given by the index and is not (yet) the file's
	// X-UID for the message.
	Lazy bool
	Room Room // where its state fields lie (Message.Room)
	// Sum is the message's fingerprint: what no mailbox program changes
	// when it rewrites a file (Fingerprint).
	Sum uint64
}

func entryOf(m *Message) Entry {
	st := m.State
	st.Keywords = append([]string(nil), m.Keywords...)
	return Entry{m.Offset, m.HeaderOffset, m.BodyOffset, m.End, m.Next, m.ContentLength, m.ClientSize, m.Date, m.Lines, st, m.Pseudo, false, m.Room, Fingerprint(m)}
}

// Message gives the entry back as a Message (with no Header).
func (e *Entry) Message() *Message {
	return &Message{Offset: e.Offset, HeaderOffset: e.HeaderOffset, BodyOffset: e.BodyOffset, End: e.End, Next: e.Next,
		ContentLength: e.ContentLength, ClientSize: e.ClientSize, Date: e.Date, Lines: e.Lines, State: e.State, Pseudo: e.Pseudo, Room: e.Room}
}

// IndexPath is where the index of mailbox lives: beside it, hidden.
func IndexPath(mailbox string) string {
	dir, name := filepath.Split(mailbox)
	return filepath.Join(dir, "."+name+".index")
}

const tailLen = 4096

func tailHash(f io.ReaderAt, size int64) ([32]byte, error) {
	n := int64(tailLen)
	if size < n {
		n = size
	}
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, size-n); err != nil && err != io.EOF {
		return [32]byte{}, err
	}
	return sha256.Sum256(buf), nil
}

// UpdateIndex brings idx (nil for none) up to date with the mailbox f: it
// keeps what still fits, scans what was appended, or scans it all. The
// result describes the whole file.
func UpdateIndex(idx *Index, f *os.File) (*Index, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, fmt.Errorf("index %s: %w", f.Name(), err)
	}
	mtime := st.Mtim.Nano()
	was := idx
	if idx != nil && !idx.fits(f, &st) {
		idx = nil
	}
	if idx != nil && st.Size == idx.Size && mtime == idx.mtime {
		return idx, nil
	}
	out := &Index{dev: st.Dev, ino: st.Ino, mtime: mtime, Size: st.Size}
	out.carryUnsynced(was)
	from, keep := int64(0), 0
	if idx != nil && len(idx.Entries) > 0 {
		// The last message may have grown: read it again with the rest.
		keep = len(idx.Entries) - 1
		from = idx.Entries[keep].Offset
		out.Base = firstBase(f, st.Size, &idx.Entries[0])
		out.UIDValidity, out.LastUID, out.RecentFrom, out.seenValidity = idx.UIDValidity, idx.LastUID, idx.RecentFrom, idx.seenValidity
		out.roomGen = idx.roomGen
	}
	entries, base, err := ScanFile(sectionFrom{f, from}, st.Size-from, 0, entryOf)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", f.Name(), err)
	}
	for i := range entries {
		shift(&entries[i], from)
		// Only the file's first message can be UW's pseudo-message.
		entries[i].Pseudo = entries[i].Pseudo && from == 0
	}
	if from == 0 {
		out.Base = base
	}
	if idx == nil {
		idx = &Index{}
	}
	carried := keep > 0
	keep, entries = idx.rescanned(keep, entries)
	out.Entries, out.handed = idx.grown(keep, entries)
	out.inheritDisk(idx, keep)
	if carried {
		// Another program appended: it may have rewritten headers in
		// place too, where the rooms the entries kept lie.
		out.distrustRooms()
	}
	out.newRooms(out.Entries[keep:], &st)
	if out.tail, err = tailHash(f, st.Size); err != nil {
		return nil, fmt.Errorf("index %s: %w", f.Name(), err)
	}
	return out, nil
}

// sectionFrom shows the file from an offset on, as ScanFile wants a file.
type sectionFrom struct {
	f    io.ReaderAt
	from int64
}

func (s sectionFrom) ReadAt(p []byte, off int64) (int, error) { return s.f.ReadAt(p, off+s.from) }

func shift(e *Entry, by int64) {
	e.Offset += by
	e.HeaderOffset += by
	e.BodyOffset += by
	e.End += by
	e.Next += by
}

func (idx *Index) fits(f io.ReaderAt, st *unix.Stat_t) bool {
	if idx.flagsLost() {
		return false
	}
	if st.Dev != idx.dev || st.Ino != idx.ino || st.Size < idx.Size {
		return false
	}
	if st.Size == idx.Size {
		return st.Mtim.Nano() == idx.mtime
	}
	h, err := tailHash(f, idx.Size)
	return err == nil && h == idx.tail
}
