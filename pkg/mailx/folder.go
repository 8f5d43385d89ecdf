package mailx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"golang.org/x/sys/unix"

	"unixmail/pkg/mbox"
)

// mark is what the user did to a message in this session.
type mark uint8

const (
	mDeleted   mark = 1 << iota
	mSaved          // saved or written to a file
	mPreserved      // hold/preserve: stays in the system mailbox
	mMbox           // the mbox command: goes to MBOX at quit
	mTouched        // read or touched: goes to MBOX at quit unless hold
	mHidden         // UW's pseudo-message, only while scanning: never listed
)

// msg is what the session keeps of one message: where it lies in the
// file, its state and what finds it again after another program rewrote
// the file (mbox.Sighting), 48 bytes. What the header summary shows (sender,
// subject, date) is read back from the file when a line is printed, so a
// folder of 100,000 messages is open in a few MiB.
type msg struct {
	off     int64  // the From_ line
	end     int64  // end of the content
	fromLen uint32 // length of the From_ line: the content starts after it
	hdrLen  uint32 // length of the header block, blank line included
	lines   int32
	orig    mbox.Flags // flags in the file
	flags   mbox.Flags // flags now
	mark    mark
	uid     uint32 // X-UID, 0 when none
	date    int64  // of the From_ line, Unix seconds
}

func (m *msg) sighting() mbox.Sighting {
	return mbox.Sighting{UID: m.uid, Date: m.date, BodySize: m.end - m.hdrOff() - int64(m.hdrLen)}
}

func (m *msg) hdrOff() int64 { return m.off + int64(m.fromLen) }

func (m *msg) isNew() bool { return m.orig&(mbox.Seen|mbox.Old) == 0 }

// folder is the open mbox. The file is read through a descriptor opened
// under the locks and kept unlocked while the user reads, as BSD mail does,
// so delivery is never held up; what was read is re-checked under the
// locks at quit (mbox.Rewrite).
type folder struct {
	path     string
	file     *os.File
	known    int64 // bytes scanned
	msgs     []msg
	pseudo   bool   // the file begins with UW's hidden pseudo-message
	validity uint32 // UIDVALIDITY the X-UIDs in msgs were read under
	system   bool   // the user's INBOX: read mail moves to MBOX at quit
	readOnly bool
	dot      int         // current message, an index into msgs
	stop     func() bool // reports an interrupt, for long searches
	// edits holds the messages changed with edit or visual: their new
	// content, read from now on and written to the folder at quit.
	edits map[int][]byte
}

// size is message i's size in bytes, as edited.
func (f *folder) size(i int) int64 {
	if e, ok := f.edits[i]; ok {
		return int64(len(e))
	}
	m := &f.msgs[i]
	return m.end - m.hdrOff()
}

// openFolder opens and scans path.
func (s *Session) openFolder(path string, system bool) (*folder, error) {
	ro := s.o.ReadOnly || unix.Access(path, unix.W_OK) != nil
	mb, err := mbox.Open(path, mbox.OpenOptions{Owner: -1, ReadOnly: true, NoDotLockOK: true, Lock: s.o.Lock, Warn: s.warn})
	if err != nil {
		return nil, err
	}
	defer mb.Close()
	// A second descriptor outlives the locks, for reading message text.
	fd, err := unix.Dup(int(mb.File.Fd()))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	f := &folder{path: path, file: os.NewFile(uintptr(fd), path), system: system, readOnly: ro, stop: s.interrupted}
	if s.o.LimitMemory {
		// mail's live heap is small (48 bytes a message) but a scan and a
		// listing make garbage many times that, which the default GC pacing
		// lets peak RSS follow; a soft limit of a sixteenth of the folder
		// keeps RSS under a tenth of it for a little GC work, and grows with
		// the folder so a huge one never makes the GC run without end.
		if fi, err := f.file.Stat(); err == nil {
			debug.SetMemoryLimit(max(16<<20, fi.Size()/16))
		}
	}
	if err := f.scan(); err != nil {
		f.file.Close()
		return nil, err
	}
	return f, nil
}

// scan reads the messages from f.known to the end of the file, on every
// CPU (mbox.ScanFile), keeping only offsets and flags.
func (f *folder) scan() error {
	size, err := f.file.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("read %s: %w", f.path, err)
	}
	if size < f.known {
		return fmt.Errorf("%s shrank: another program rewrote it", f.path)
	}
	if size == f.known {
		return nil
	}
	base := f.known
	msgs, mbase, err := mbox.ScanFile(io.NewSectionReader(f.file, base, size-base), size-base, 0, func(m *mbox.Message) msg {
		x := msgOf(m)
		x.off += base
		x.end += base
		if m.Pseudo {
			x.mark = mHidden
		}
		return x
	})
	if errors.Is(err, mbox.ErrNotMbox) {
		return notMbox(f.path, f.file)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", f.path, err)
	}
	if base == 0 && mbase != nil {
		f.validity = mbase.UIDValidity
	}
	if base == 0 && len(msgs) > 0 && msgs[0].mark&mHidden != 0 {
		f.pseudo = true
		msgs = msgs[1:]
	}
	if f.msgs == nil {
		f.msgs = msgs // no copy: the first scan of a big folder is most of it
	} else {
		f.msgs = append(f.msgs, msgs...)
	}
	f.known = size
	return nil
}

// notMbox says what is wrong with a file that is not an mbox, and where:
// its first bytes, which a mailbox's "From " line should be.
func notMbox(path string, r io.ReaderAt) error {
	head := make([]byte, 24)
	n, _ := r.ReadAt(head, 0)
	return fmt.Errorf("%s: %w (it begins %q); it is left as it is", path, mbox.ErrNotMbox, head[:n])
}

// content is message i as stored before mbox quoting.
func (f *folder) content(i int) io.Reader {
	if e, ok := f.edits[i]; ok {
		return bytes.NewReader(e)
	}
	m := &f.msgs[i]
	mm := mbox.Message{HeaderOffset: m.hdrOff(), End: m.end}
	return mm.Content(f.file)
}

// offsets are the From_ offsets of every message in the file, the
// pseudo-message included, for mbox.Rewrite to check.
func (f *folder) offsets() []int64 {
	var o []int64
	if f.pseudo {
		o = append(o, 0)
	}
	for i := range f.msgs {
		o = append(o, f.msgs[i].off)
	}
	return o
}

// setFolder makes path the current folder, quitting the old one first.
func (s *Session) setFolder(path string, system bool) error {
	f, err := s.openFolder(path, system)
	if err != nil {
		return err
	}
	if s.f != nil {
		if err := s.quitFolder(); err != nil {
			f.file.Close()
			return err
		}
		s.prev = s.f.path
		s.f.file.Close()
	}
	s.f = f
	f.dot = firstDot(f)
	return nil
}

// firstDot is the message shown first: the first new one, else the first
// unread, else the first.
func firstDot(f *folder) int {
	for i := range f.msgs {
		if f.msgs[i].isNew() {
			return i
		}
	}
	for i := range f.msgs {
		if f.msgs[i].flags&mbox.Seen == 0 {
			return i
		}
	}
	return 0
}

// Close releases the folder without writing anything.
func (s *Session) Close() {
	if s.f != nil {
		s.f.file.Close()
	}
}

// announce prints the folder line: "path": N messages M new K unread.
func (s *Session) announce() {
	f := s.f
	var nNew, nUnread int
	for i := range f.msgs {
		switch {
		case f.msgs[i].mark&mDeleted != 0:
		case f.msgs[i].isNew():
			nNew++
		case f.msgs[i].flags&mbox.Seen == 0:
			nUnread++
		}
	}
	line := fmt.Sprintf("%q: %d message%s", displayPath(s, f.path), len(f.msgs), plural(len(f.msgs)))
	if nNew > 0 {
		line += fmt.Sprintf(" %d new", nNew)
	}
	if nUnread > 0 {
		line += fmt.Sprintf(" %d unread", nUnread)
	}
	if f.readOnly {
		line += " [Read only]"
	}
	fmt.Fprintln(s.out, line)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// displayPath shows a folder under the folder directory as +name.
func displayPath(s *Session, p string) string {
	if rel, err := filepath.Rel(s.folderDir(), p); err == nil && !strings.HasPrefix(rel, "..") {
		return "+" + rel
	}
	return p
}

// Open opens the folder to read: the system mailbox when path is "".
// With noMail set it returns ErrNoMail for an empty or missing system
// mailbox, as "mail" does ("mail -f" opens an empty folder anyway).
func (s *Session) Open(path string) error {
	system := path == ""
	if system {
		path = s.o.SystemMailbox
	} else {
		p, err := s.expandPath(path)
		if err != nil {
			return err
		}
		path = p
		if rp, err := filepath.EvalSymlinks(path); err == nil {
			path = rp
		}
		system = path == s.o.SystemMailbox
	}
	err := s.setFolder(path, system)
	if system && errors.Is(err, os.ErrNotExist) {
		return ErrNoMail
	}
	if err != nil {
		return err
	}
	if system && len(s.f.msgs) == 0 {
		return ErrNoMail
	}
	return nil
}

// HasMail reports whether the open folder holds any message (mail -e).
func (s *Session) HasMail() bool { return s.f != nil && len(s.f.msgs) > 0 }

// Start prints what mail prints on opening a folder: the folder line and,
// unless -N, the header screen with the current message.
func (s *Session) Start() {
	if !s.isSet("quiet") && s.o.Terminal {
		fmt.Fprintln(s.out, `unixmail mail.  Type ? for help.`)
	}
	s.announce()
	if !s.o.NoHeaders && s.isSet("header") && len(s.f.msgs) > 0 {
		s.headerScreen(s.f.dot)
	}
}

// follow finds the session's messages again in the file mb holds (locked)
// after another program rewrote it in place meanwhile (dovecot-lda and
// mutt add a header, imapd gives UIDs), by mbox.Locate, and takes their
// new places. Flags another program changed meanwhile are kept, with the
// user's changes made on top. It returns how many are gone (removed by
// another program: what the user did to them is forgotten); mail that
// came since is left for mbox.Rewrite to keep.
func (f *folder) follow(mb *mbox.Mailbox) (gone int, err error) {
	saved, _ := mbox.LoadIndex(mbox.IndexPath(f.path))
	cur, err := mbox.UpdateIndex(saved, mb.File)
	if err != nil {
		return 0, fmt.Errorf("read %s again: %w", f.path, err)
	}
	seen := make([]mbox.Sighting, len(f.msgs))
	for i := range f.msgs {
		seen[i] = f.msgs[i].sighting()
	}
	at := mbox.Locate(seen, f.validity, cur)
	var (
		msgs  []msg
		edits = map[int][]byte{}
		last  = -1
	)
	for i, k := range at {
		if k < 0 || k <= last {
			gone++
			continue
		}
		// Messages the session never saw between two it did (none, as
		// mail is appended at the end) are taken on as they are.
		for j := last + 1; j < k; j++ {
			if e := &cur.Entries[j]; !e.Pseudo {
				msgs = append(msgs, msgOf(e.Message()))
			}
		}
		m, e := f.msgs[i], &cur.Entries[k]
		added, removed := m.flags&^m.orig, m.orig&^m.flags
		now := msgOf(e.Message())
		now.flags = (e.Flags | added) &^ removed
		now.mark = m.mark
		if b, ok := f.edits[i]; ok {
			edits[len(msgs)] = b
		}
		msgs = append(msgs, now)
		last = k
	}
	f.msgs, f.edits = msgs, edits
	f.pseudo = len(cur.Entries) > 0 && cur.Entries[0].Pseudo
	f.known = 0
	if last >= 0 {
		f.known = cur.Entries[last].Next
	} else if f.pseudo {
		f.known = cur.Entries[0].Next
	}
	if cur.Base != nil {
		f.validity = cur.Base.UIDValidity
	}
	f.dot = min(f.dot, max(len(f.msgs)-1, 0))
	// Read the text from the file as it is now, which may be another
	// inode if the other program replaced the file.
	fd, err := unix.Dup(int(mb.File.Fd()))
	if err != nil {
		return gone, fmt.Errorf("read %s again: %w", f.path, err)
	}
	f.file.Close()
	f.file = os.NewFile(uintptr(fd), f.path)
	return gone, nil
}

// msgOf is what the session keeps of m, which was read at offset 0.
func msgOf(m *mbox.Message) msg {
	return msg{
		off: m.Offset, end: m.End,
		fromLen: uint32(m.HeaderOffset - m.Offset), hdrLen: uint32(m.BodyOffset - m.HeaderOffset),
		lines: int32(m.Lines), orig: m.Flags, flags: m.Flags,
		uid: m.UID, date: m.Date.Unix(),
	}
}

// still reports whether message i is where the session saw it in r: its
// From_ line, of the same date, at its offset, and nothing but the
// separating newlines between its end and the next From_ line (or the end
// of what was read).
func (f *folder) still(r io.ReaderAt, i int) bool {
	m := &f.msgs[i]
	line := make([]byte, m.fromLen)
	if _, err := r.ReadAt(line, m.off); err != nil {
		return false
	}
	if _, date, ok := mbox.ParseFromLine(bytes.TrimRight(line, "\r\n")); !ok || date.Unix() != m.date {
		return false
	}
	next := f.known
	if i+1 < len(f.msgs) {
		next = f.msgs[i+1].off
	}
	gap := make([]byte, next-m.end+5)
	n, _ := r.ReadAt(gap, m.end)
	if int64(n) < next-m.end {
		return false
	}
	if len(bytes.TrimLeft(gap[:next-m.end], "\r\n")) != 0 {
		return false
	}
	return n == len(gap) && string(gap[n-5:]) == "From " || n == int(next-m.end) && next == f.known
}
