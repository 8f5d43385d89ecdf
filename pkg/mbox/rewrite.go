package mbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"unixmail/pkg/lock"
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
	Drop    bool
	State   *State
	UID     uint32
	Base    *Base
	Content io.Reader
}

// RewritePlan is Plan for RewriteWith, which can also replace a message.
type RewritePlan func(i int, m *Message) Change

// Rewrite replaces the mailbox with a copy changed by plan, the safe way
// quit in mail(1) and EXPUNGE in imapd need. mb must be open for writing
// (so both locks are held). known is the size of the mailbox when the
// caller read it, and offsets, unless nil, the From_ line offsets it saw:
// only those bytes are re-read and changed. Everything after known (mail
// delivered meanwhile) is copied byte for byte. If the first known bytes
// no longer hold those messages, nothing is written and the error wraps
// ErrChanged.
//
// The copy goes to a temporary file in the same directory, which is
// synced, given the old file's mode and owner, locked, and renamed over the
// mailbox; then the directory is synced. A failure at any step leaves the
// old mailbox as it was. On success mb.File is the new file, locked.
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
func RewriteWith(mb *Mailbox, known int64, offsets []int64, plan RewritePlan) (err error) {
	if mb.ro {
		return fmt.Errorf("rewrite %s: opened read-only", mb.Path)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(mb.File.Fd()), &st); err != nil {
		return fmt.Errorf("stat mailbox %s: %w", mb.Path, err)
	}
	if st.Size < known {
		return fmt.Errorf("rewrite %s: it shrank from %d to %d bytes: %w", mb.Path, known, st.Size, ErrChanged)
	}
	if known < st.Size && !fromLineAt(mb.File, known) {
		return fmt.Errorf("rewrite %s: no message starts at byte %d: %w", mb.Path, known, ErrChanged)
	}

	dir, base := filepath.Split(mb.Path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".rewrite-")
	if err != nil {
		return fmt.Errorf("rewrite %s: %w", mb.Path, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	w := bufio.NewWriterSize(tmp, 64<<10)
	if err := copyPlanned(w, mb.File, known, offsets, plan); err != nil {
		return fmt.Errorf("rewrite %s: %w", mb.Path, err)
	}
	if _, err := io.Copy(w, io.NewSectionReader(mb.File, known, st.Size-known)); err != nil {
		return fmt.Errorf("rewrite %s: copy new mail: %w", mb.Path, err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("rewrite %s: %w", mb.Path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("rewrite %s: fsync: %w", mb.Path, err)
	}
	if err := tmp.Chmod(os.FileMode(st.Mode & 0o7777)); err != nil {
		return fmt.Errorf("rewrite %s: %w", mb.Path, err)
	}
	var tst unix.Stat_t
	if err := unix.Fstat(int(tmp.Fd()), &tst); err != nil {
		return fmt.Errorf("rewrite %s: %w", mb.Path, err)
	}
	if tst.Uid != st.Uid || tst.Gid != st.Gid {
		if err := tmp.Chown(int(st.Uid), int(st.Gid)); err != nil {
			return fmt.Errorf("rewrite %s: keep its owner: %w", mb.Path, err)
		}
	}
	// The new file is locked before it gets the name, so no one who
	// opens the mailbox can see it unlocked.
	if err := lock.Fcntl(tmp, true, lock.Options{}); err != nil {
		return fmt.Errorf("rewrite %s: %w", mb.Path, err)
	}
	if err := os.Rename(tmp.Name(), mb.Path); err != nil {
		return fmt.Errorf("rewrite %s: %w", mb.Path, err)
	}
	done = true
	syncDir(dir)
	lock.Unfcntl(mb.File)
	mb.File.Close()
	mb.File = tmp
	return nil
}

// fromLineAt reports whether a valid From_ line starts at off in f.
func fromLineAt(f io.ReaderAt, off int64) bool {
	buf := make([]byte, 512)
	n, _ := f.ReadAt(buf, off)
	line := buf[:n]
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	_, _, ok := ParseFromLine(line)
	return ok
}

// copyPlanned writes the first known bytes of f to w as plan says.
func copyPlanned(w io.Writer, f *os.File, known int64, offsets []int64, plan RewritePlan) error {
	s := NewScanner(io.NewSectionReader(f, 0, known))
	var movedBase []byte // the X-IMAPbase field of a dropped first message
	i := 0
	for ; s.Next(); i++ {
		m := s.Message()
		if offsets != nil && (i >= len(offsets) || offsets[i] != m.Offset) {
			return fmt.Errorf("message %d is not where it was: %w", i+1, ErrChanged)
		}
		c := plan(i, m)
		if c.Drop {
			if i == 0 && !m.Pseudo {
				movedBase = fieldLine(m.Header, "X-IMAPbase")
			}
			continue
		}
		edit := headerEdit{state: c.State, uid: c.UID, base: movedBase}
		if c.Base != nil {
			edit.base = []byte(baseField(c.Base))
		}
		movedBase = nil
		if c.Content != nil {
			from := make([]byte, m.HeaderOffset-m.Offset)
			if _, err := f.ReadAt(from, m.Offset); err != nil {
				return err
			}
			if _, err := WriteMessage(w, strings.TrimRight(string(from), "\r\n"), withHeader(c.Content, edit)); err != nil {
				return err
			}
			continue
		}
		hdr := m.Header
		if !edit.empty() {
			hdr = rewriteHeader(m.Header, edit)
		}
		if _, err := io.Copy(w, io.NewSectionReader(f, m.Offset, m.HeaderOffset-m.Offset)); err != nil {
			return err
		}
		if _, err := w.Write(hdr); err != nil {
			return err
		}
		rest := m.HeaderOffset + int64(len(m.Header))
		if _, err := io.Copy(w, io.NewSectionReader(f, rest, m.Next-rest)); err != nil {
			return err
		}
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("read it again: %w", err)
	}
	if movedBase != nil {
		// Every message went: keep UIDVALIDITY and the last UID in a
		// pseudo-message, as UW-IMAP does, so that they survive an empty
		// mailbox (c-client, Dovecot and we hide it from every list).
		if err := writePseudo(w, movedBase); err != nil {
			return err
		}
	}
	if offsets != nil && i != len(offsets) {
		return fmt.Errorf("it holds %d messages where there were %d: %w", i, len(offsets), ErrChanged)
	}
	return nil
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
	var out []byte
	dropping := false
	n := 0 // bytes of field lines
	eachLine(hdr, func(line []byte) {
		n += len(line)
		if line[0] == ' ' || line[0] == '\t' {
			if !dropping {
				out = append(out, line...)
			}
			return
		}
		dropping = e.state != nil && (isField(line, "Status") || isField(line, "X-Status") || isField(line, "X-Keywords")) ||
			(e.copying || e.uid != 0) && isField(line, "X-UID") ||
			e.copying && (isField(line, "X-IMAPbase") || isField(line, "X-IMAP")) ||
			e.base != nil && isField(line, "X-IMAPbase")
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
	}
	if e.uid != 0 {
		out = append(out, fmt.Sprintf("X-UID: %d%s", e.uid, eol)...)
	}
	if e.state != nil {
		out = append(out, stateFields(*e.state, eol)...)
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

// stateFields are the header lines that record st.
func stateFields(st State, eol string) string {
	var b strings.Builder
	if v := st.Flags.StatusValue(); v != "" {
		b.WriteString("Status: " + v + eol)
	}
	if v := st.Flags.XStatusValue(); v != "" {
		b.WriteString("X-Status: " + v + eol)
	}
	if len(st.Keywords) > 0 {
		b.WriteString("X-Keywords: " + strings.Join(st.Keywords, " ") + eol)
	}
	return b.String()
}

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
