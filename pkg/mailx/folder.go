package mailx

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"unixmail/pkg/mbox"
	"unixmail/pkg/mimeview"
)

// mark is what the user did to a message in this session.
type mark uint8

const (
	mDeleted   mark = 1 << iota
	mSaved          // saved or written to a file
	mPreserved      // hold/preserve: stays in the system mailbox
	mMbox           // the mbox command: goes to MBOX at quit
	mTouched        // read or touched: goes to MBOX at quit unless hold
)

// msg is what the session keeps of one message: offsets to come back for
// the text, and what the header summary shows. It stays small, so that a
// folder of 100,000 messages is listed in bounded memory.
type msg struct {
	off, hdrOff, end int64
	lines            int32
	orig             mbox.Flags // flags in the file
	flags            mbox.Flags // flags now
	mark             mark
	date             int64  // Unix seconds; 0 = unknown
	from             string // the From field as shown: the address
	to               string // the To address, kept only for mail from us (showto)
	subject          string
}

// when is the message's date, zero when unknown.
func (m *msg) when() time.Time {
	if m.date == 0 {
		return time.Time{}
	}
	return time.Unix(m.date, 0)
}

func (m *msg) size() int64 { return m.end - m.hdrOff }

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
	pseudo   bool // the file begins with UW's hidden pseudo-message
	system   bool // the user's INBOX: read mail moves to MBOX at quit
	readOnly bool
	dot      int // current message, an index into msgs
}

// openFolder opens and scans path.
func (s *Session) openFolder(path string, system bool) (*folder, error) {
	ro := s.o.ReadOnly || unix.Access(path, unix.W_OK) != nil
	mb, err := mbox.Open(path, mbox.OpenOptions{Owner: -1, ReadOnly: true, NoDotLockOK: true})
	if err != nil {
		return nil, err
	}
	defer mb.Close()
	// A second descriptor outlives the locks, for reading message text.
	fd, err := unix.Dup(int(mb.File.Fd()))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	f := &folder{path: path, file: os.NewFile(uintptr(fd), path), system: system, readOnly: ro}
	if err := s.scan(f); err != nil {
		f.file.Close()
		return nil, err
	}
	return f, nil
}

// scan reads the messages from f.known to the end of the file.
func (s *Session) scan(f *folder) error {
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
	first := f.known == 0
	sc := mbox.NewScanner(io.NewSectionReader(f.file, f.known, size-f.known))
	for sc.Next() {
		m := sc.Message()
		if first && m.Pseudo {
			f.pseudo = true
			first = false
			continue
		}
		first = false
		from, subj, date := mimeview.Summary(m.Header)
		if date.IsZero() {
			date = m.Date
		}
		x := msg{
			off: f.known + m.Offset, hdrOff: f.known + m.HeaderOffset, end: f.known + m.End,
			lines: int32(m.Lines),
			// Copies, so no message keeps its whole header block alive.
			from: strings.Clone(mimeview.Skin(from)), subject: strings.Clone(subj),
			orig: m.Flags, flags: m.Flags,
		}
		if !date.IsZero() {
			x.date = date.Unix()
		}
		if x.from == "" {
			x.from = strings.Clone(m.Sender)
		}
		if s.isMe(x.from) {
			x.to = headerValue(m.Header, "To")
		}
		f.msgs = append(f.msgs, x)
	}
	if err := sc.Err(); err != nil && !(errors.Is(err, mbox.ErrNotMbox) && size == 0) {
		return fmt.Errorf("read %s: %w", f.path, err)
	}
	f.known = size
	return nil
}

// headerValue is the decoded, skinned first address of a field.
func headerValue(hdr []byte, name string) string {
	var v string
	mbox.HeaderFields(hdr, func(n, val []byte) {
		if v == "" && strings.EqualFold(string(n), name) {
			v = mimeview.Skin(mimeview.DecodeHeader(string(val)))
		}
	})
	return v
}

// content is message i as stored before mbox quoting.
func (f *folder) content(i int) io.Reader {
	m := &f.msgs[i]
	mm := mbox.Message{HeaderOffset: m.hdrOff, End: m.end}
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
