package mbox

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"unixmail/pkg/lock"
)

// A journal of format 4 or 5 is one of format 2 or 3 (a compaction or an
// expansion) that also says what the mailbox must hold when it is
// recovered: between a kill and our next Open another program (Dovecot
// syncing its headers, mutt, mail) may have rewritten the file, and
// finishing the plan would then write old bytes over its work. Its header
// line has an eighth number, CHECKLEN, and CHECKLEN bytes of checks follow
// the plan, under the same checksum: one line for the start of each piece
// of the plan, or of as many as maxChecks spread over them,
//
//	c NEW OLD LEN SUM
//
// the new bytes [NEW, NEW+LEN), which are the old bytes [OLD, OLD+LEN) or
// ("-") bytes the rewrite makes, and their CRC32C, 8 hex digits. A
// rewrite that cuts the file short also checks the old bytes at the new
// length, which hold until the cut (NEW "-"). A rewrite
// that changes lengths moves every byte after the change, so the start of
// a piece (a From_ line, state fields) then holds other bytes. The
// recovery checks each that lies where the file must hold it: new bytes
// the windows before the last recorded one wrote, old bytes no window has
// written yet; and the file's length. A journal that fails, or that
// belongs to another file (its device and inode), is set aside
// (.NAME.journal.unmatched-TIME, logged), never replayed or removed, and
// the mailbox left as it is.
const (
	journalMagic4 = "unixmail journal 4\n"
	journalMagic5 = "unixmail journal 5\n"
)

// maxChecks bounds the checks of a plan; checkLen is the most bytes one
// covers.
const (
	maxChecks = 1024
	checkLen  = 64
)

// check is one line of a journal's checks; old < 0 for bytes the rewrite
// makes.
type check struct {
	new, old, n int64
	sum         uint32
}

// errUnmatched is a journal that does not describe the file beside it.
var errUnmatched = errors.New("the journal does not match the mailbox")

// makeChecks reads the checks of the plan [from, to) from the mailbox
// before the rewrite changes it.
func (c *compaction) makeChecks() ([]byte, error) {
	var idx []int
	for i := range c.l.pieces {
		if max(c.starts[i], c.from) < min(c.starts[i+1], c.to) {
			idx = append(idx, i)
		}
	}
	step := (len(idx) + maxChecks - 1) / maxChecks
	var out bytes.Buffer
	buf := make([]byte, checkLen)
	for k, i := range idx {
		if k%step != 0 && k != len(idx)-1 {
			continue
		}
		p := &c.l.pieces[i]
		s := max(c.starts[i], c.from)
		n := min(checkLen, min(c.starts[i+1], c.to)-s)
		old, b := "-", buf[:n]
		if p.lit != nil {
			b = p.lit[s-c.starts[i]:][:n]
		} else {
			o := p.off + s - c.starts[i]
			if _, err := c.mb.ReadAt(b, o); err != nil {
				return nil, err
			}
			old = strconv.FormatInt(o, 10)
		}
		fmt.Fprintf(&out, "c %d %s %d %08x\n", s, old, n, crc32.Checksum(b, castagnoli()))
	}
	if c.l.n < c.oldSize {
		b := buf[:min(checkLen, c.oldSize-c.l.n)]
		if _, err := c.mb.ReadAt(b, c.l.n); err != nil {
			return nil, err
		}
		fmt.Fprintf(&out, "c - %d %d %08x\n", c.l.n, len(b), crc32.Checksum(b, castagnoli()))
	}
	return out.Bytes(), nil
}

// parseChecks reads a journal's checks, each inside the plan.
func (c *compaction) parseChecks(b []byte) bool {
	// at parses a field of offset: -1 for "-".
	at := func(f string) (int64, bool) {
		if f == "-" {
			return -1, true
		}
		v, ok := parseNums(f, 1)
		if !ok {
			return 0, false
		}
		return v[0], true
	}
	for len(b) > 0 {
		line, rest, ok := bytes.Cut(b, []byte("\n"))
		f := strings.Fields(string(line))
		if !ok || len(f) != 5 || f[0] != "c" || len(f[4]) != 8 {
			return false
		}
		newAt, ok1 := at(f[1])
		oldAt, ok2 := at(f[2])
		n, ok3 := parseNums(f[3], 1)
		sum, err := strconv.ParseUint(f[4], 16, 32)
		if !ok1 || !ok2 || !ok3 || err != nil || n[0] == 0 || n[0] > checkLen || newAt < 0 && oldAt < 0 ||
			newAt >= 0 && (newAt < c.from || newAt > c.to-n[0]) || oldAt > c.oldSize-n[0] {
			return false
		}
		c.checks = append(c.checks, check{new: newAt, old: oldAt, n: n[0], sum: uint32(sum)})
		b = rest
	}
	return true
}

// matches reports whether the mailbox holds what the journal's checks
// say it must once the windows before last were written (last nil: none;
// cut: all, and the file cut to its new length), and is as long as it
// must be. A journal without checks (formats 2 and 3) matches.
func (c *compaction) matches(last *savedWindow, cut bool) bool {
	if !c.checked {
		return true
	}
	fi, err := c.mb.Stat()
	if err != nil {
		return false
	}
	// newDone: new bytes written for good; oldKept: old bytes no window
	// has written over.
	var newLo, newHi, oldLo, oldHi int64
	switch {
	case cut:
		newLo, newHi = c.from, c.to
	case c.back:
		if fi.Size() < c.l.n {
			return false // grown before anything else
		}
		oldHi = c.oldSize
		if last != nil {
			newLo, newHi, oldHi = last.b, c.to, last.a
		}
	default:
		if fi.Size() < c.oldSize {
			return false // never shorter until the cut
		}
		oldLo, oldHi = 0, c.oldSize
		if last != nil {
			newLo, newHi, oldLo = c.from, last.a, last.b
		}
	}
	buf := make([]byte, checkLen)
	holds := func(at, n int64, sum uint32) bool {
		_, err := c.mb.ReadAt(buf[:n], at)
		return err == nil && crc32.Checksum(buf[:n], castagnoli()) == sum
	}
	for _, k := range c.checks {
		if k.new < 0 {
			if !cut && !holds(k.old, k.n, k.sum) {
				return false
			}
			continue
		}
		if k.old >= 0 && k.old >= oldLo && k.old+k.n <= oldHi && !holds(k.old, k.n, k.sum) {
			return false
		}
		if k.new >= newLo && k.new+k.n <= newHi && !holds(k.new, k.n, k.sum) {
			return false
		}
	}
	return true
}

// cutAlready reports whether a rewrite that cuts the file short was done
// but for the sync, its last window last: every window written and the
// file cut (until the cut it is never shorter than it was), maybe with
// mail another program appended since. A file longer than the old one
// was cut and then appended to when the old bytes at the new length are
// gone (a journal with checks tells) and the new bytes all there.
func (c *compaction) cutAlready(last *savedWindow) bool {
	fi, err := c.mb.Stat()
	if err != nil || c.l.n >= c.oldSize || fi.Size() < c.l.n {
		return false
	}
	if fi.Size() < c.oldSize {
		return true
	}
	final := !c.back && last.b == c.to || c.back && last.a == c.from
	return c.checked && final && !c.matches(last, false) && c.matches(last, true)
}

// setAside renames a journal that does not match its mailbox out of the
// way, for a person to look at, and says so: it is not replayed (that
// would write over what another program made of the file), and not
// removed (it may hold the only copy of bytes a dead rewrite was moving).
func setJournalAside(path, mailbox string, why error, warn func(string, ...any)) error {
	aside := path + ".unmatched-" + time.Now().UTC().Format("20060102T150405.000000000")
	if err := lock.WithGroup(func() error { return os.Rename(path, aside) }); err != nil {
		return fmt.Errorf("mailbox %s: %v; and setting the journal aside: %w", mailbox, why, err)
	}
	syncDir(filepath.Dir(path))
	if warn != nil {
		warn("mailbox %s: %v (another program rewrote it after a rewrite of ours was killed?): the journal is kept as %s and not replayed; the mailbox is left as it is", mailbox, why, aside)
	}
	return nil
}

// sameInode reports whether st is the file of device dev and inode ino.
func sameInode(st *unix.Stat_t, dev, ino uint64) bool {
	return uint64(st.Dev) == dev && st.Ino == ino
}
