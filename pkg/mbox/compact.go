package mbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"unixmail/pkg/lock"
)

// A compaction is a rewrite that moves no byte of the old file to a later
// offset: messages dropped, the rest moved toward the start, state fields
// changed in their padding. Saving every byte it overwrites, as the undo
// journal (format 1) does, would write the tail of the file twice. A
// compaction is written forward instead, in windows of the new file, and
// its journal (format 2) says how to finish it rather than how to undo it:
//
//	unixmail journal 2
//	DEV INO OLDSIZE NEWSIZE FROM TO PLANLEN
//	PLANLEN bytes of plan: the new bytes [FROM, TO) as a list of
//	  "o OFF LEN\n" (old bytes [OFF, OFF+LEN)) and
//	  "l LEN\n" followed by LEN new bytes
//	CRC32C of all the above, 8 hex digits, newline
//
// then, before each window [A, B) of the new file is written, a record
//
//	w A B X N
//	N bytes: the old bytes [X, X+N)
//	CRC32C of the record, 8 hex digits, newline
//
// fdatasync'ed, after the mailbox's previous window was. The old bytes a
// window overwrites are either sources of windows already done, or
// sources of this window itself: those (and only those) are saved in its
// record. A window no later source falls in (the bytes removed before it
// at least as long as it is) saves nothing. Whoever takes the locks next
// and finds such a journal writes the last recorded window again (reading
// what it overwrote from the record, the rest from the mailbox, which no
// window after it has touched), then every window after it, recording
// each as above, cuts the file to NEWSIZE, and removes the journal:
// killed during that too, the next one does the same. A journal whose plan
// does not check out, or that has no record, was made before the first
// byte of the mailbox changed: it is only removed.
//
// An expansion is the mirror image: a rewrite that moves no byte of the
// old file to an earlier offset (state fields padded, the rest moved
// toward the end). Its journal (format 3, "unixmail journal 3") is the
// same but for its windows, which go from the end of the new bytes down
// to their start: a window overwrites old bytes that only it and the
// windows after it (done already) read, and saves those it reads itself;
// one whose sources all lie before it (at least minShift bytes were
// inserted before it) saves nothing. Before its first record the file is
// made as long as the new one (the bytes added read as zeros), so that
// mail another program appends after a kill lands past everything the
// expansion writes; the recovery of a journal with no record but a file
// grown so (a zero byte at the old end) writes it all.
const (
	journalMagic2 = "unixmail journal 2\n"
	journalMagic3 = "unixmail journal 3\n"
)

// Window sizes. A window that saves nothing costs two fdatasyncs, one that
// saves costs its bytes written twice: a window saves nothing when at
// least minShift bytes were removed before it, else it runs to the first
// message where that is so (at most maxWindow). Tests make them small,
// and so does RewriteDelayEnv, so that kills fall in many windows.
var (
	minShift  int64 = 1 << 20
	maxWindow int64 = 128 << 20
)

// windowSizes are minShift and maxWindow, or small ones when rewrites
// are slowed down for a test.
func windowSizes() (shift, most int64) {
	if _, paced := slowWriter(nil).(*pacedWriter); paced {
		return 1 << 10, 8 << 10
	}
	return minShift, maxWindow
}

// killPoint is called before each write, truncation and sync of a
// compaction; tests stop the process there, as SIGKILL would.
var killPoint = func() {}

// leftward reports whether every old byte the layout places at or after
// from comes from the same or a later offset: then it is a compaction.
func (l *layout) leftward(from int64) bool { return l.oneWay(from, false) }

// rightward reports whether every old byte the layout places at or after
// from comes from the same or an earlier offset: then it is an expansion.
func (l *layout) rightward(from int64) bool { return l.oneWay(from, true) }

func (l *layout) oneWay(from int64, right bool) bool {
	pos := int64(0)
	for i := range l.pieces {
		p := &l.pieces[i]
		if p.lit == nil && pos+p.n > from && (p.off < pos) != right && p.off != pos {
			return false
		}
		pos += p.len()
	}
	return true
}

// compaction is a compaction (or, back, an expansion) under way: the
// layout, the new bytes [from, to) it writes, and the journal.
type compaction struct {
	mb       *os.File
	l        *layout
	back     bool // an expansion, written from the end
	from, to int64
	oldSize  int64
	j        *os.File
	jpath    string
	end      int64 // where the next record goes in the journal
	zeroTo   int64 // the zeros past it end here (see room)
	starts   []int64
	minShift int64
	most     int64 // the longest window
	buf      []byte
	checked  bool    // format 4 or 5: checks say what the file holds
	checks   []check // read back from the journal
	dev, ino uint64  // the file the journal read back is for
	rbuf     []byte
}

// window is one window of the new file: [a, b), and the old bytes
// [x, x+n) it overwrites that it still needs.
type window struct{ a, b, x, n int64 }

func (c *compaction) index() {
	c.minShift, c.most = windowSizes()
	c.starts = make([]int64, len(c.l.pieces)+1)
	for i := range c.l.pieces {
		c.starts[i+1] = c.starts[i] + c.l.pieces[i].len()
	}
}

// firstPiece is the first piece that ends after pos.
func (c *compaction) firstPiece(pos int64) int {
	return sort.Search(len(c.l.pieces), func(i int) bool { return c.starts[i+1] > pos })
}

// inPlace reports whether piece i is old bytes that stay where they are:
// a window neither writes them nor overwrites them (no other piece lands
// on them, and none reads them), so they need no saving either. A flag
// change in the padding of 5,000 messages writes only their state fields.
func (c *compaction) inPlace(i int) bool {
	return c.l.pieces[i].lit == nil && c.l.pieces[i].off == c.starts[i]
}

// window chooses the next window: of a compaction, the one that starts
// at pos; of an expansion, the one that ends there.
func (c *compaction) window(pos int64) window {
	if c.back {
		return c.windowBelow(pos)
	}
	return c.windowFrom(pos)
}

// windowBelow chooses an expansion's window that ends at b.
func (c *compaction) windowBelow(b int64) window {
	// top is one past the last old byte read for a byte before b:
	// sources only grow along the new file.
	top := int64(-1)
	i := sort.Search(len(c.l.pieces), func(i int) bool { return c.starts[i] >= b }) - 1
	for ; i >= 0; i-- {
		p := &c.l.pieces[i]
		if p.lit != nil || c.inPlace(i) {
			continue
		}
		top = p.off + min(b, c.starts[i+1]) - c.starts[i]
		break
	}
	a := max(c.from, b-c.most)
	if top < 0 || b-top >= c.minShift {
		a = max(a, top)
		return window{a: a, b: b, x: a}
	}
	// Save, down to the end of the first piece before which enough was
	// inserted.
	for ; i >= 0 && c.starts[i+1] > a; i-- {
		p := &c.l.pieces[i]
		if c.starts[i+1] < b && p.lit == nil && !c.inPlace(i) && c.starts[i]-p.off >= c.minShift {
			a = c.starts[i+1]
			break
		}
	}
	return window{a: a, b: b, x: a, n: max(0, min(top, c.oldSize)-a)}
}

// windowFrom chooses a compaction's window that starts at a.
func (c *compaction) windowFrom(a int64) window {
	// src is the first old offset read for a byte at or after a: sources
	// only grow along the new file.
	src, i := int64(-1), 0
	for ; i < len(c.l.pieces); i++ {
		p := &c.l.pieces[i]
		if c.starts[i+1] <= a || p.lit != nil || c.inPlace(i) {
			continue
		}
		src = p.off + max(0, a-c.starts[i])
		break
	}
	b := min(c.to, a+c.most)
	if src < 0 {
		return window{a: a, b: b, x: b}
	}
	if src-a >= c.minShift {
		b = min(b, src)
		return window{a: a, b: b, x: b}
	}
	// Save, up to the first piece from which enough was removed before.
	for ; i < len(c.l.pieces) && c.starts[i] < b; i++ {
		p := &c.l.pieces[i]
		if c.starts[i] > a && p.lit == nil && p.off-c.starts[i] >= c.minShift {
			b = c.starts[i]
			break
		}
	}
	x := min(max(a, src), b)
	return window{a: a, b: b, x: x, n: max(0, min(b, c.oldSize)-x)}
}

// compact makes the mailbox (now size bytes long) what l says by a
// compaction of the new bytes [from, to), or by an expansion when back.
func (mb *Mailbox) compact(l *layout, from, to, size int64, back bool) error {
	c := &compaction{mb: mb.File, l: l, back: back, from: from, to: to, oldSize: size, jpath: JournalPath(mb.Path)}
	c.index()
	if err := c.writePlan(filepath.Dir(mb.Path)); err != nil {
		return fmt.Errorf("rewrite %s: journal: %w", mb.Path, err)
	}
	err := c.grow()
	if err == nil {
		err = c.run(c.start(), nil)
	}
	if err != nil {
		// Finish from the journal now; failing that, the next Open will.
		c.j.Close()
		done, rerr := recoverJournalOutcome(mb.File, mb.Path, mb.warn)
		switch {
		case rerr != nil:
			return fmt.Errorf("rewrite %s: %w; and finishing it from the journal: %v", mb.Path, err, rerr)
		case done != finished:
			return fmt.Errorf("rewrite %s: %w", mb.Path, err)
		}
		return nil
	}
	c.j.Close()
	if err := lock.WithGroup(func() error { return os.Remove(c.jpath) }); err != nil {
		return fmt.Errorf("rewrite %s: remove journal: %w", mb.Path, err)
	}
	return nil
}

// writePlan creates the journal and makes its plan durable. The plan is
// written as it is made, not held whole (a plan padding 50,000 headers is
// megabytes).
func (c *compaction) writePlan(dir string) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(c.mb.Fd()), &st); err != nil {
		return err
	}
	planLen := int64(0)
	c.eachPlanLine(func(line, lit []byte) error {
		planLen += int64(len(line) + len(lit))
		return nil
	})
	magic := journalMagic4
	if c.back {
		magic = journalMagic5
	}
	checks, err := c.makeChecks()
	if err != nil {
		return err
	}
	head := fmt.Sprintf("%s%d %d %d %d %d %d %d %d\n", magic, st.Dev, st.Ino, c.oldSize, c.l.n, c.from, c.to, planLen, len(checks))
	killPoint()
	err = lock.WithGroup(func() error {
		var err error
		c.j, err = os.OpenFile(c.jpath, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0600)
		return err
	})
	if err != nil {
		return err
	}
	crc := crc32.New(castagnoli())
	w := bufio.NewWriterSize(io.MultiWriter(c.j, crc), 1<<20)
	w.WriteString(head)
	err = c.eachPlanLine(func(line, lit []byte) error {
		w.Write(line)
		_, err := w.Write(lit)
		return err
	})
	w.Write(checks)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		_, err = fmt.Fprintf(c.j, "%08x\n", crc.Sum32())
	}
	c.end = int64(len(head)) + planLen + int64(len(checks)) + 9
	if err == nil {
		err = c.room()
	}
	if err == nil {
		killPoint()
		err = unix.Fdatasync(int(c.j.Fd()))
	}
	if err == nil {
		syncDir(dir)
		return nil
	}
	c.j.Close()
	lock.WithGroup(func() error { return os.Remove(c.jpath) })
	return err
}

// eachPlanLine calls fn with each line of the plan of the new bytes
// [from, to), and, after an "l" line, the new bytes it announces.
func (c *compaction) eachPlanLine(fn func(line, lit []byte) error) error {
	var line []byte
	for i := range c.l.pieces {
		p := &c.l.pieces[i]
		s, e := max(c.starts[i], c.from), min(c.starts[i+1], c.to)
		if s >= e {
			continue
		}
		var lit []byte
		if p.lit != nil {
			line = strconv.AppendInt(append(line[:0], "l "...), e-s, 10)
			lit = p.lit[s-c.starts[i] : e-c.starts[i]]
		} else {
			line = strconv.AppendInt(append(line[:0], "o "...), p.off+s-c.starts[i], 10)
			line = strconv.AppendInt(append(line, ' '), e-s, 10)
		}
		if err := fn(append(line, '\n'), lit); err != nil {
			return err
		}
	}
	return nil
}

// grow makes the file of an expansion as long as the new one, durably.
func (c *compaction) grow() error {
	if !c.back || c.l.n <= c.oldSize {
		return nil
	}
	killPoint()
	if err := c.mb.Truncate(c.l.n); err != nil {
		return err
	}
	killPoint()
	return unix.Fdatasync(int(c.mb.Fd()))
}

// grown reports whether the file of an expansion was made longer, with
// nothing written in it yet: a zero byte at the old end, where mail
// another program appended would begin with "From " or a newline.
func (c *compaction) grown() bool {
	var b [1]byte
	_, err := c.mb.ReadAt(b[:], c.oldSize)
	return c.back && c.l.n > c.oldSize && err == nil && b[0] == 0
}

// start is where the first window begins (a compaction) or ends (an
// expansion).
func (c *compaction) start() int64 {
	if c.back {
		return c.to
	}
	return c.from
}

// more reports whether windows are left to write from pos on (a
// compaction) or below it (an expansion).
func (c *compaction) more(pos int64) bool {
	if c.back {
		return pos > c.from
	}
	return pos < c.to
}

// run writes the windows from pos on (below it, in an expansion), each
// after its record; redo, when not nil, is the window at pos, recorded
// already (its saved bytes at offset at of the journal), which is
// written again.
func (c *compaction) run(pos int64, redo *savedWindow) error {
	for c.more(pos) || redo != nil {
		var src io.ReaderAt = c.mb
		var w window
		if redo != nil {
			w = redo.window
			src = oldBytes{c.mb, &journal{f: c.j, data: redo.at, off: w.x, n: w.n}}
			redo = nil
		} else {
			w = c.window(pos)
			if err := c.record(w); err != nil {
				return err
			}
		}
		if err := c.write(w, src); err != nil {
			return err
		}
		pos = w.b
		if c.back {
			pos = w.a
		}
	}
	if c.l.n < c.oldSize {
		if late, err := c.lateMail(); err != nil || late {
			return err
		}
		killPoint()
		if err := c.mb.Truncate(c.l.n); err != nil {
			return err
		}
		killPoint()
		return unix.Fdatasync(int(c.mb.Fd()))
	}
	return nil
}

// record appends w's record to the journal, durably.
func (c *compaction) record(w window) error {
	head := fmt.Sprintf("w %d %d %d %d\n", w.a, w.b, w.x, w.n)
	crc := crc32.New(castagnoli())
	jw := io.MultiWriter(io.NewOffsetWriter(c.j, c.end), crc)
	killPoint()
	if _, err := jw.Write([]byte(head)); err != nil {
		return err
	}
	if _, err := io.CopyBuffer(jw, io.NewSectionReader(c.mb, w.x, w.n), c.buffer()); err != nil {
		return err
	}
	sum := fmt.Sprintf("%08x\n", crc.Sum32())
	if _, err := c.j.WriteAt([]byte(sum), c.end+int64(len(head))+w.n); err != nil {
		return err
	}
	c.end += int64(len(head)) + w.n + 9
	if err := c.room(); err != nil {
		return err
	}
	killPoint()
	return unix.Fdatasync(int(c.j.Fd()))
}

// recordRoom is how many zero bytes the journal keeps past its last
// record, made durable with it: a record written over them leaves the
// journal's length as it was, so its fdatasync writes that record alone,
// not the inode too (a rewrite of 1 GB records some 400 windows). A
// reader stops at them as at any record that does not check out.
const recordRoom = 64 << 10

// room writes zeros past the last record, unless enough are there.
func (c *compaction) room() error {
	if c.zeroTo-c.end >= 4<<10 {
		return nil
	}
	_, err := c.j.WriteAt(make([]byte, recordRoom), c.end)
	c.zeroTo = c.end + recordRoom
	return err
}

// write writes the window's new bytes, reading old ones through src, and
// makes them durable. Old bytes are read before the new ones that
// overwrite them are written (every source of a compaction lies at or
// after the byte it becomes, and of an expansion, written from its end,
// at or before), so the mailbox itself serves as src for all it has not
// saved.
func (c *compaction) write(w window, src io.ReaderAt) error {
	killPoint()
	if err := c.copyInFile(w); err != nil && c.back {
		if err := c.writeBack(w, src); err != nil {
			return err
		}
	} else if err != nil {
		buf := c.buffer()
		for i := range c.l.pieces {
			p := &c.l.pieces[i]
			s, e := max(c.starts[i], w.a), min(c.starts[i+1], w.b)
			if s >= e || c.inPlace(i) {
				continue
			}
			out := slowWriter(killingWriter{io.NewOffsetWriter(c.mb, s)})
			var err error
			if p.lit != nil {
				_, err = out.Write(p.lit[s-c.starts[i] : e-c.starts[i]])
			} else {
				_, err = io.CopyBuffer(out, io.NewSectionReader(src, p.off+s-c.starts[i], e-s), buf)
			}
			if err != nil {
				return err
			}
		}
	}
	killPoint()
	return unix.Fdatasync(int(c.mb.Fd()))
}

// writeBack writes an expansion's window from its end to its start, in
// chunks of a buffer made whole before it is written: a chunk's old bytes
// all lie before its end (every source of an expansion lies at or before
// the byte it becomes), which no chunk written before it has touched.
func (c *compaction) writeBack(w window, src io.ReaderAt) error {
	buf := c.buffer()
	wb := writeback{fd: int(c.mb.Fd()), from: -1}
	for e := w.b; e > w.a; {
		k := max(w.a, e-int64(len(buf)))
		if err := c.fill(buf[:e-k], k, src); err != nil {
			return err
		}
		if _, err := slowWriter(killingWriter{io.NewOffsetWriter(c.mb, k)}).Write(buf[:e-k]); err != nil {
			return err
		}
		wb.wroteBelow(k, e)
		e = k
	}
	return nil
}

// readGap is the most old bytes fill reads and throws away between two
// pieces (the state fields a header had) to read both at once.
const readGap = 4 << 10

// fill puts the new bytes [k, k+len(b)) in b, reading old ones through
// src: runs of old pieces whose sources lie close together in one read.
func (c *compaction) fill(b []byte, k int64, src io.ReaderAt) error {
	e := k + int64(len(b))
	rb := c.readBuffer()
	// The run of old bytes [lo, hi) read next, for the pieces first..i.
	lo, hi, first := int64(-1), int64(-1), 0
	flush := func(last int) error {
		if lo < 0 {
			return nil
		}
		if _, err := src.ReadAt(rb[:hi-lo], lo); err != nil {
			return err
		}
		for j := first; j <= last; j++ {
			p := &c.l.pieces[j]
			if p.lit != nil {
				continue
			}
			s, t := max(c.starts[j], k), min(c.starts[j+1], e)
			from := p.off + s - c.starts[j]
			copy(b[s-k:t-k], rb[from-lo:from-lo+t-s])
		}
		lo = -1
		return nil
	}
	i := c.firstPiece(k)
	for ; i < len(c.l.pieces) && c.starts[i] < e; i++ {
		p := &c.l.pieces[i]
		s, t := max(c.starts[i], k), min(c.starts[i+1], e)
		if p.lit != nil {
			copy(b[s-k:t-k], p.lit[s-c.starts[i]:t-c.starts[i]])
			continue
		}
		from, to := p.off+s-c.starts[i], p.off+t-c.starts[i]
		if lo >= 0 && (from < hi || from-hi > readGap || to-lo > int64(len(rb))) {
			if err := flush(i - 1); err != nil {
				return err
			}
		}
		if lo < 0 {
			lo, first = from, i
		}
		hi = to
	}
	return flush(i - 1)
}

// readBuffer is fill's buffer for old bytes: a chunk and the gaps in
// its sources.
func (c *compaction) readBuffer() []byte {
	if c.rbuf == nil {
		c.rbuf = make([]byte, len(c.buffer())+64<<10)
	}
	return c.rbuf
}

// buffer is the compaction's one buffer for copying, made on first use:
// most windows are copied by the kernel.
func (c *compaction) buffer() []byte {
	if c.buf == nil {
		c.buf = make([]byte, 1<<20)
	}
	return c.buf
}

// errNoCopy says a window is not copied inside the file by the kernel.
var errNoCopy = errors.New("not copied in the file")

// copyInFile writes a window that saves nothing with copy_file_range(2),
// which copies inside one file (its sources all lie after it, or before it
// in an expansion, so no range overlaps the one it is copied to, which the
// kernel refuses) without the bytes coming up to us. It fails with nothing written, or with only
// what emit would write again, when the kernel cannot.
func (c *compaction) copyInFile(w window) error {
	if w.n > 0 || w.x < w.b && !c.back {
		return errNoCopy
	}
	if _, paced := slowWriter(nil).(*pacedWriter); paced {
		return errNoCopy
	}
	fd := int(c.mb.Fd())
	wb := writeback{fd: fd, from: -1}
	for i := c.firstPiece(w.a); i < len(c.l.pieces) && c.starts[i] < w.b; i++ {
		p := &c.l.pieces[i]
		s, e := max(c.starts[i], w.a), min(c.starts[i+1], w.b)
		if s >= e || c.inPlace(i) {
			continue
		}
		killPoint()
		if p.lit != nil {
			if _, err := c.mb.WriteAt(p.lit[s-c.starts[i]:e-c.starts[i]], s); err != nil {
				return err
			}
			wb.wrote(s, e)
			continue
		}
		roff, woff := p.off+s-c.starts[i], s
		for woff < e {
			n, err := unix.CopyFileRange(fd, &roff, fd, &woff, int(e-woff), 0)
			if err != nil {
				return err
			}
			if n == 0 {
				return errNoCopy
			}
		}
		wb.wrote(s, e)
	}
	return nil
}

// A window asks the kernel to start writing what it copied first after
// writebackFirst bytes, then every writebackEvery. It begins with the disk
// idle (the fdatasync that ended the window before drained it): a first
// hint only after 8 MiB left the disk idle that long in each of the 46
// windows of a 10% expunge of 1 GB, and the windows shorter than that,
// its first two dozen, had copy and disk take turns throughout.
const (
	writebackFirst = 512 << 10
	writebackEvery = 4 << 20
)

// syncFileRange is unix.SyncFileRange; tests see the hints through it.
var syncFileRange = unix.SyncFileRange

// writeback starts the disk writing the bytes of a window while the rest
// of it is copied: left to the fdatasync at its end, the copy and the
// disk would take turns, each idle while the other works.
type writeback struct {
	fd       int
	from, to int64 // written and not yet started on; from < 0: none
	hinted   bool  // the window's first hint was given
}

// wrote notes that the bytes [s, e) were written (after those before s).
func (wb *writeback) wrote(s, e int64) {
	if wb.from < 0 || s < wb.to {
		wb.from = s
	}
	wb.to = e
	wb.hintIfDue()
}

// wroteBelow notes that the bytes [s, e) were written (before those from
// e on), for an expansion's window written from its end.
func (wb *writeback) wroteBelow(s, e int64) {
	if wb.from < 0 || e != wb.from {
		wb.to = e
	}
	wb.from = s
	wb.hintIfDue()
}

// hintIfDue asks the kernel to start writing the bytes noted since the
// last hint, when they are enough.
func (wb *writeback) hintIfDue() {
	due := int64(writebackEvery)
	if !wb.hinted {
		due = writebackFirst
	}
	if wb.to-wb.from >= due {
		// Only a hint: the fdatasync that ends the window is what
		// makes it durable, whatever this does.
		syncFileRange(wb.fd, wb.from, wb.to-wb.from, unix.SYNC_FILE_RANGE_WRITE)
		wb.from, wb.hinted = -1, true
	}
}

// killingWriter passes each write on after a killPoint.
type killingWriter struct{ w io.Writer }

func (k killingWriter) Write(b []byte) (int, error) {
	killPoint()
	return k.w.Write(b)
}

// savedWindow is a window read back from its record, whose saved bytes
// start at offset at of the journal.
type savedWindow struct {
	window
	at int64
}

// finishCompaction completes a compaction a dead rewrite left, from its
// journal jf (of length length, format 2 to 5), for recoverJournal. It
// reports false when the journal was never acted on, and errUnmatched
// when it is another file's, or its checks fail.
func finishCompaction(f, jf *os.File, length int64, st *unix.Stat_t) (bool, error) {
	c, last, ok := readCompaction(f, jf, length)
	if ok && !sameInode(st, c.dev, c.ino) {
		return false, fmt.Errorf("%w: it is for device %d inode %d", errUnmatched, c.dev, c.ino)
	}
	switch {
	case ok && last == nil && c.grown():
		if !c.matches(nil, false) {
			return false, errUnmatched
		}
		return true, c.run(c.start(), nil)
	case !ok || last == nil:
		return false, nil
	}
	if c.cutAlready(last) {
		if !c.matches(last, true) {
			return false, errUnmatched
		}
		// Done but for the sync. What lies past the cut is mail another
		// program appended since, not knowing the journal, and stays.
		killPoint()
		return true, unix.Fdatasync(int(f.Fd()))
	}
	if !c.matches(last, false) {
		return false, errUnmatched
	}
	if err := c.run(last.a, last); err != nil {
		return true, err
	}
	return true, nil
}

// readCompaction reads and checks a journal of format 2 to 5: its plan
// (and checks), then its records up to the first that does not check out
// (one being written when the rewrite died). last is the last record that
// does, or nil.
func readCompaction(f, jf *os.File, length int64) (*compaction, *savedWindow, bool) {
	r := bufio.NewReaderSize(io.NewSectionReader(jf, 0, length), 1<<16)
	crc := crc32.New(castagnoli())
	tr := io.TeeReader(r, crc)
	line := func(rd io.Reader) (string, bool) {
		var b []byte
		var one [1]byte
		for len(b) < 256 {
			if _, err := io.ReadFull(rd, one[:]); err != nil {
				return "", false
			}
			if one[0] == '\n' {
				return string(b), true
			}
			b = append(b, one[0])
		}
		return "", false
	}
	m, ok := line(tr)
	m += "\n"
	checked := m == journalMagic4 || m == journalMagic5
	if !ok || m != journalMagic2 && m != journalMagic3 && !checked {
		return nil, nil, false
	}
	hl, ok := line(tr)
	count := 7
	if checked {
		count = 8
	}
	nums, ok2 := parseNums(hl, count)
	if !ok || !ok2 {
		return nil, nil, false
	}
	c := &compaction{mb: f, j: jf, jpath: jf.Name(), back: m == journalMagic3 || m == journalMagic5, checked: checked, dev: uint64(nums[0]), ino: uint64(nums[1]),
		oldSize: nums[2], from: nums[4], to: nums[5], l: &layout{n: nums[3]}}
	checkLen := int64(0)
	if checked {
		checkLen = nums[7]
	}
	if c.from > c.to || c.to > c.l.n || nums[6] > length || checkLen > length {
		return nil, nil, false
	}
	plan := make([]byte, nums[6])
	if _, err := io.ReadFull(tr, plan); err != nil {
		return nil, nil, false
	}
	checks := make([]byte, checkLen)
	if _, err := io.ReadFull(tr, checks); err != nil {
		return nil, nil, false
	}
	sum := fmt.Sprintf("%08x", crc.Sum32())
	if s, ok := line(r); !ok || s != sum {
		return nil, nil, false
	}
	if !c.parsePlan(plan) || !c.parseChecks(checks) {
		return nil, nil, false
	}
	c.index()
	at := int64(len(m)+len(hl)+1) + nums[6] + checkLen + 9
	var last *savedWindow
	for next := c.start(); ; {
		crc.Reset()
		rl, ok := line(tr)
		v, ok2 := parseNums(strings.TrimPrefix(rl, "w "), 4)
		if !ok || !ok2 || !strings.HasPrefix(rl, "w ") || v[1] <= v[0] || v[0] < c.from || v[1] > c.to ||
			!c.back && v[0] != next || c.back && v[1] != next ||
			v[2] < v[0] || v[3] > v[1]-v[2] || v[3] > length { // v[1]-v[2]: a sum of two 63-bit numbers may wrap
			break
		}
		if _, err := io.CopyN(io.Discard, tr, v[3]); err != nil {
			break
		}
		if s, ok := line(r); !ok || s != fmt.Sprintf("%08x", crc.Sum32()) {
			break
		}
		data := at + int64(len(rl)) + 1
		last = &savedWindow{window{v[0], v[1], v[2], v[3]}, data}
		at = data + v[3] + 9
		next = v[1]
		if c.back {
			next = v[0]
		}
	}
	c.end = at // where the next record goes
	return c, last, true
}

// parsePlan reads the plan of new bytes [from, to) into the layout,
// behind a piece standing for the unchanged bytes before from, checking
// that it is a compaction (or an expansion) of the old file.
func (c *compaction) parsePlan(plan []byte) bool {
	c.l.pieces = []piece{{off: 0, n: c.from}}
	pos, read := c.from, int64(0) // read: the end of the last source
	wrongWay := func(off int64) bool {
		if c.back {
			return off > pos || off < read
		}
		return off < pos
	}
	for len(plan) > 0 {
		hl, rest, ok := bytes.Cut(plan, []byte("\n"))
		if !ok {
			return false
		}
		s := string(hl)
		switch {
		case strings.HasPrefix(s, "o "):
			v, ok := parseNums(s[2:], 2)
			if !ok || v[1] == 0 || wrongWay(v[0]) || v[0]+v[1] > c.oldSize {
				return false
			}
			c.l.pieces = append(c.l.pieces, piece{off: v[0], n: v[1]})
			pos += v[1]
			read = v[0] + v[1]
		case strings.HasPrefix(s, "l "):
			v, ok := parseNums(s[2:], 1)
			if !ok || v[0] == 0 || v[0] > int64(len(rest)) {
				return false
			}
			c.l.pieces = append(c.l.pieces, piece{lit: rest[:v[0]]})
			pos += v[0]
			rest = rest[v[0]:]
		default:
			return false
		}
		plan = rest
	}
	return pos == c.to
}

// parseNums parses n space-separated non-negative decimal numbers.
func parseNums(s string, n int) ([]int64, bool) {
	fields := strings.Fields(s)
	if len(fields) != n {
		return nil, false
	}
	v := make([]int64, n)
	for i, f := range fields {
		u, err := strconv.ParseUint(f, 10, 63)
		if err != nil {
			return nil, false
		}
		v[i] = int64(u)
	}
	return v, true
}
