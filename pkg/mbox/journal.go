package mbox

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"unixmail/pkg/lock"
)

// A rewrite changes the mailbox in place (other programs append through
// descriptors they opened before our rewrite; a file renamed over the name
// would lose their mail). To survive being killed halfway, one that is not
// a compaction (see compact.go) first saves the bytes it is about to
// overwrite, and the old length, in a journal beside the mailbox:
//
//	unixmail journal 1
//	DEV INO OLDSIZE OFFSET LENGTH
//	LENGTH bytes of the mailbox from OFFSET
//	CRC32C of all the above, 8 hex digits, newline
//
// fsync'ed (and its directory) before the first byte of the mailbox
// changes, and removed once the mailbox is rewritten, truncated and
// fsync'ed. Whoever takes the locks next and finds a journal puts those
// bytes back and cuts the file to its old length: the mailbox is then the
// old one, exactly. A journal that does not check out was never complete,
// so the mailbox was not touched yet, and it is only removed.
const journalMagic = "unixmail journal 1\n"

// castagnoli is made on first use: on amd64 making it costs about a
// million instructions, a third of a whole delivery by deliver, which
// never writes a journal.
var castagnoli = sync.OnceValue(func() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) })

// JournalPath is where the journal of a rewrite of mailbox lives.
func JournalPath(mailbox string) string {
	dir, name := filepath.Split(mailbox)
	return filepath.Join(dir, "."+name+".journal")
}

func hasJournal(mailbox string) bool {
	_, err := os.Lstat(JournalPath(mailbox))
	return err == nil
}

// journal is a written journal, open for reading the bytes it saved.
type journal struct {
	path  string
	f     *os.File
	data  int64 // where the saved bytes start in the journal file
	off   int64 // where they came from in the mailbox
	n     int64
	mbDir string
}

// writeJournal saves the bytes [off, off+n) of the mailbox f, and its
// length size, durably.
func writeJournal(f *os.File, mailbox string, off, n, size int64) (*journal, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, err
	}
	j := &journal{path: JournalPath(mailbox), off: off, n: n, mbDir: filepath.Dir(mailbox)}
	err := lock.WithGroup(func() error {
		var err error
		j.f, err = os.OpenFile(j.path, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0600)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	head := journalMagic + fmt.Sprintf("%d %d %d %d %d\n", st.Dev, st.Ino, size, off, n)
	j.data = int64(len(head))
	crc := crc32.New(castagnoli())
	w := bufio.NewWriterSize(io.MultiWriter(j.f, crc), 1<<20)
	w.WriteString(head)
	_, err = io.Copy(w, io.NewSectionReader(f, off, n))
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		_, err = fmt.Fprintf(j.f, "%08x\n", crc.Sum32())
	}
	if err == nil {
		err = unix.Fdatasync(int(j.f.Fd()))
	}
	if err == nil {
		syncDir(j.mbDir)
		return j, nil
	}
	j.remove()
	return nil, fmt.Errorf("journal: %w", err)
}

// remove deletes the journal: the rewrite is complete and durable.
func (j *journal) remove() error {
	j.f.Close()
	return lock.WithGroup(func() error { return os.Remove(j.path) })
}

// oldBytes reads the mailbox as it was before the rewrite: the range the
// journal saved from the journal, the rest (which the rewrite does not
// overwrite) from the mailbox.
type oldBytes struct {
	mb *os.File
	j  *journal
}

func (o oldBytes) ReadAt(p []byte, off int64) (int, error) {
	done := 0
	for done < len(p) {
		at := off + int64(done)
		var n int
		var err error
		switch end := o.j.off + o.j.n; {
		case at >= o.j.off && at < end:
			m := min(int64(len(p)-done), end-at)
			n, err = o.j.f.ReadAt(p[done:done+int(m)], o.j.data+at-o.j.off)
		case at < o.j.off:
			m := min(int64(len(p)-done), o.j.off-at)
			n, err = o.mb.ReadAt(p[done:done+int(m)], at)
		default:
			n, err = o.mb.ReadAt(p[done:], at)
		}
		done += n
		if err != nil && (err != io.EOF || done < len(p)) {
			return done, err
		}
	}
	return done, nil
}

// recoverJournal rolls the mailbox f back to what a journal beside it
// saved, or completes the compaction it records, if there is one: a
// rewrite was killed. f must be open for writing under both locks,
// exclusive.
// A journal that does not match the mailbox is set aside, and warn told.
func recoverJournal(f *os.File, mailbox string, warn func(string, ...any)) error {
	_, err := recoverJournalOutcome(f, mailbox, warn)
	return err
}

// outcome is what recoverJournalOutcome found and did.
type outcome int

const (
	noJournal  outcome = iota
	dropped            // never acted on: the mailbox is as it was
	rolledBack         // format 1: the mailbox is as it was
	finished           // format 2 to 5: the mailbox is the new one
	setAside           // another file's, or another state's: kept aside, the mailbox as it is
)

// journalVersionPrefix begins every journal; an unknown version after it
// is refused, never guessed at.
const journalVersionPrefix = "unixmail journal "

func recoverJournalOutcome(f *os.File, mailbox string, warn func(string, ...any)) (outcome, error) {
	path := JournalPath(mailbox)
	jf, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if errors.Is(err, os.ErrNotExist) {
		return noJournal, nil
	}
	if err != nil {
		return noJournal, fmt.Errorf("mailbox %s: journal %s: %w", mailbox, path, err)
	}
	defer jf.Close()
	drop := func(o outcome) (outcome, error) {
		return o, lock.WithGroup(func() error { return os.Remove(path) })
	}
	var st, jst unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return noJournal, fmt.Errorf("mailbox %s: %w", mailbox, err)
	}
	if err := unix.Fstat(int(jf.Fd()), &jst); err != nil {
		return noJournal, fmt.Errorf("mailbox %s: journal %s: %w", mailbox, path, err)
	}
	if jst.Mode&unix.S_IFMT != unix.S_IFREG || jst.Uid != st.Uid {
		return noJournal, fmt.Errorf("mailbox %s: journal %s is not a regular file of the mailbox's owner: %w", mailbox, path, ErrUnsafe)
	}
	first := make([]byte, 64)
	n, _ := jf.ReadAt(first, 0)
	line, _, whole := strings.Cut(string(first[:n]), "\n")
	switch {
	case whole && (line+"\n" == journalMagic2 || line+"\n" == journalMagic3 || line+"\n" == journalMagic4 || line+"\n" == journalMagic5):
		done, err := finishCompaction(f, jf, jst.Size, &st)
		if errors.Is(err, errUnmatched) {
			return setAside, setJournalAside(path, mailbox, err, warn)
		}
		if err != nil {
			return noJournal, fmt.Errorf("mailbox %s: finish an interrupted rewrite: %w", mailbox, err)
		}
		if done {
			return drop(finished)
		}
		return drop(dropped)
	case whole && line+"\n" != journalMagic && strings.HasPrefix(line, journalVersionPrefix):
		// Written by a later unixmail: applying it as another format
		// could garble the mailbox, and removing it could lose mail.
		return noJournal, fmt.Errorf("mailbox %s: journal %s is of an unknown format (%q): finish the rewrite with the program that wrote it", mailbox, path, line)
	}
	h, ok := readJournalHead(jf, jst.Size)
	if !ok {
		// Never complete, so never acted on.
		return drop(dropped)
	}
	if !sameInode(&st, h.dev, h.ino) {
		return setAside, setJournalAside(path, mailbox, fmt.Errorf("%w: it is for device %d inode %d", errUnmatched, h.dev, h.ino), warn)
	}
	if _, err := io.Copy(io.NewOffsetWriter(f, h.off), io.NewSectionReader(jf, h.data, h.n)); err != nil {
		return noJournal, fmt.Errorf("mailbox %s: roll back an interrupted rewrite: %w", mailbox, err)
	}
	if err := f.Truncate(h.size); err != nil {
		return noJournal, fmt.Errorf("mailbox %s: roll back an interrupted rewrite: %w", mailbox, err)
	}
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return noJournal, fmt.Errorf("mailbox %s: roll back an interrupted rewrite: %w", mailbox, err)
	}
	return drop(rolledBack)
}

type journalHead struct {
	dev, ino     uint64
	size, off, n int64
	data         int64
}

// readJournalHead reads and checks a journal of the given length: the
// header, the length of the saved bytes, and the checksum of it all.
func readJournalHead(jf *os.File, length int64) (journalHead, bool) {
	var h journalHead
	buf := make([]byte, 256)
	k, _ := jf.ReadAt(buf, 0)
	text := string(buf[:k])
	if !strings.HasPrefix(text, journalMagic) {
		return h, false
	}
	line, _, ok := strings.Cut(text[len(journalMagic):], "\n")
	if !ok {
		return h, false
	}
	fields := strings.Fields(line)
	if len(fields) != 5 {
		return h, false
	}
	var nums [5]uint64
	for i, s := range fields {
		v, err := strconv.ParseUint(s, 10, 63)
		if err != nil {
			return h, false
		}
		nums[i] = v
	}
	h = journalHead{dev: nums[0], ino: nums[1], size: int64(nums[2]), off: int64(nums[3]), n: int64(nums[4])}
	h.data = int64(len(journalMagic) + len(line) + 1)
	if length != h.data+h.n+9 {
		return h, false
	}
	crc := crc32.New(castagnoli())
	if _, err := io.Copy(crc, io.NewSectionReader(jf, 0, h.data+h.n)); err != nil {
		return h, false
	}
	sum := make([]byte, 9)
	if _, err := jf.ReadAt(sum, h.data+h.n); err != nil {
		return h, false
	}
	return h, string(sum) == fmt.Sprintf("%08x\n", crc.Sum32())
}
