package mbox

import (
	"bytes"
	"slices"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Room is where a message's state fields (Status, X-Status, X-Keywords,
// continuation lines included) lie when they are the last field lines of
// its header, one run and no other state field before it, as
// rewriteHeader leaves them: Len bytes that end right before the blank
// line (Blank bytes) that ends the header. A flag change whose fields fit
// in Len bytes is then the write of those fields there, padded to Len:
// the bytes rewriteHeader would give, found without reading the header
// (reading 50,000 headers is most of a STORE to every message of a big
// mailbox). Len is 0 when the fields lie otherwise or were not looked at
// (an index written before Room was).
//
// A room is trusted only while its generation is the index's (see
// Index.roomGen): where the file may have been changed by another
// program in a way the index does not see, the index moves to the next
// generation, and every room it holds is then read again before use.
type Room struct {
	Len   uint16 // at most maxRoom
	Blank uint8  // 1 ("\n") or 2 ("\r\n")
	CRLF  bool   // the header has a CRLF line end: the fields end in CRLF (rewriteHeader)
	Gen   uint8  // the index's roomGen when the room was found
}

// maxRoom is the longest room kept (12 bits in an index file): longer
// state fields are no padding, and are read.
const maxRoom = 1<<12 - 1

// roomGens is how many generations of rooms there are (7 bits in an
// index file).
const roomGens = 128

// at is where the fields begin, for a message whose body begins at body.
func (r Room) at(body int64) int64 { return body - int64(r.Blank) - int64(r.Len) }

// eol is the line end the fields are written with.
func (r Room) eol() string {
	if r.CRLF {
		return "\r\n"
	}
	return "\n"
}

// roomOf is the Room of a header block (its blank line included). It
// walks the lines as rewriteHeader does, so that what it finds is what
// rewriteHeader would replace.
func roomOf(hdr []byte) Room {
	var blank int
	switch {
	case bytes.HasSuffix(hdr, []byte("\n\r\n")):
		blank = 2
	case bytes.HasSuffix(hdr, []byte("\n\n")):
		blank = 1
	default:
		return Room{}
	}
	n, run := 0, -1
	broken := false // a state field before another field
	eachLine(hdr, func(line []byte) {
		if line[0] != ' ' && line[0] != '\t' {
			switch {
			case isStateField(line):
				if run < 0 {
					run = n
				}
			case run >= 0:
				broken, run = true, -1
			}
		}
		n += len(line)
	})
	if broken || run < 0 || n != len(hdr)-blank || n-run > maxRoom {
		return Room{}
	}
	return Room{Len: uint16(n - run), Blank: uint8(blank), CRLF: bytes.Contains(hdr, []byte("\r\n"))}
}

// isStateField reports whether a header line begins one of the fields
// rewriteHeader replaces with a message's state.
func isStateField(line []byte) bool {
	switch line[0] {
	case 'S', 's', 'X', 'x':
		return isField(line, "Status") || isField(line, "X-Status") || isField(line, "X-Keywords")
	}
	return false
}

// roomOfEntry is entry i's room, and whether it can be trusted.
func (idx *Index) roomOfEntry(i int) (Room, bool) {
	r := idx.Entries[i].Room
	return r, r.Len > 0 && r.Gen == idx.roomGen
}

// newRooms gives fresh entries, found in the file as it is now, the
// index's generation of rooms; no room at all when the file was changed
// so lately (changedLately) that the scan may have been followed by
// another write that left the mtime as it was.
func (idx *Index) newRooms(entries []Entry, st *unix.Stat_t) {
	lately := changedLately(st)
	for i := range entries {
		entries[i].Room.Gen = idx.roomGen
		if lately {
			entries[i].Room = Room{}
		}
	}
}

// distrustRooms moves idx to the next generation of rooms, so that none
// of those its entries hold is trusted: the file may have been rewritten
// in place around them. Once in roomGens times the generations come
// round again: then the rooms are dropped from a copy of the entries
// instead, and the index file is written whole again.
func (idx *Index) distrustRooms() {
	idx.roomGen = (idx.roomGen + 1) % roomGens
	if idx.roomGen != 0 {
		return
	}
	idx.Entries = slices.Clone(idx.Entries)
	for i := range idx.Entries {
		idx.Entries[i].Room = Room{}
	}
	idx.handed = nil
	idx.dirty(0)
}

// lateness is how lately a file must have changed for a scan of it to
// find no room: far more than a clock tick (at most 10 ms), within which
// a kernel without fine-grained timestamps (before Linux 6.13) stamps
// every write with the same mtime.
const lateness = time.Second

// changedLately reports whether the file of stat st was changed within
// lateness of now (or stamped in the future).
func changedLately(st *unix.Stat_t) bool {
	return time.Since(time.Unix(st.Mtim.Sec, st.Mtim.Nsec)) < lateness
}

// settle stamps the mailbox, which this process has just written under
// its locks, with an mtime that no later write leaves as it is: now, to
// the nanosecond, or a nanosecond past the mtime it has when that is
// later (leaveTheSecond's). A kernel without fine-grained timestamps
// stamps a write with the time of the last clock tick, and would leave
// the mtime of our write for another program's write in the same tick:
// the index, which trusts each message's Room while the file's length
// and mtime are the same, would not see it. It reports whether the file
// holds the stamp (only the owner may set it; a filesystem may keep
// whole seconds): if not, the caller trusts no room it holds.
func (mb *Mailbox) settle() bool {
	fd := int(mb.File.Fd())
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return false
	}
	stamp := max(time.Now().UnixNano(), st.Mtim.Nano()+1)
	ts := [2]unix.Timespec{{Nsec: unix.UTIME_OMIT}, unix.NsecToTimespec(stamp)}
	// utimensat with no path is futimens, which x/sys does not offer.
	if _, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0); e != 0 {
		return false
	}
	return unix.Fstat(fd, &st) == nil && st.Mtim.Nano() == stamp
}
