package mbox

import (
	"fmt"
	"os"
	"path/filepath"

	"unixmail/pkg/lock"
)

// Between a killed rewrite and our next Open, a program that does not
// know the journal (dovecot-lda, procmail) may append mail to the file.
// A rewrite that cuts the file short finds it past the old end once its
// windows are written, where the cut would take it: instead the mail is
// moved down to the new end by a compaction of its own, and the file cut
// after it. That compaction's journal takes the place of the first one
// (renamed over it) with its first window recorded already, so that a
// kill at any point leaves one journal to finish: the first, whose last
// window is written again and the mail found again, or the second.

// lateMail moves mail appended past the old end of the file, if any, to
// the new end and cuts the file there, and reports whether it did.
func (c *compaction) lateMail() (bool, error) {
	fi, err := c.mb.Stat()
	if err != nil || fi.Size() <= c.oldSize {
		return false, err
	}
	late := fi.Size() - c.oldSize
	t := &compaction{mb: c.mb, from: c.l.n, to: c.l.n + late, oldSize: fi.Size(), jpath: c.jpath + ".next",
		l: &layout{pieces: []piece{{off: 0, n: c.l.n}, {off: c.oldSize, n: late}}, n: c.l.n + late}}
	t.index()
	dir := filepath.Dir(c.jpath)
	// One a move killed before its rename left.
	lock.WithGroup(func() error { return os.Remove(t.jpath) })
	if err := t.writePlan(dir); err != nil {
		return true, fmt.Errorf("journal: %w", err)
	}
	defer t.j.Close()
	w := t.window(t.start())
	if err := t.record(w); err != nil {
		return true, fmt.Errorf("journal: %w", err)
	}
	killPoint()
	if err := lock.WithGroup(func() error { return os.Rename(t.jpath, c.jpath) }); err != nil {
		return true, fmt.Errorf("journal: %w", err)
	}
	syncDir(dir)
	t.jpath = c.jpath
	if err := t.write(w, t.mb); err != nil {
		return true, err
	}
	return true, t.run(w.b, nil)
}
