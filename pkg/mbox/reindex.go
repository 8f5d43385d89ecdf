package mbox

import (
	"fmt"
	"io"
	"os"
	"sort"

	"golang.org/x/sys/unix"
)

// Reindex brings idx up to date with the mailbox f after a change that
// left every byte before from as it was: an in-place rewrite starting
// there, or an append (from = the old size). Entries that end before from
// are kept and the rest is scanned, so a writer that knows what it changed
// need not read the whole file again. The base is read again from the
// first message, which a rewrite may have changed in place.
func Reindex(idx *Index, f *os.File, from int64) (*Index, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, fmt.Errorf("index %s: %w", f.Name(), err)
	}
	keep := sort.Search(len(idx.Entries), func(i int) bool {
		return idx.Entries[i].Next > from || idx.Entries[i].Next >= st.Size
	})
	// The file's last message may have grown (its blank line, when an
	// append followed): read it again with what comes after.
	if keep > 0 && keep == len(idx.Entries) {
		keep--
	}
	start := int64(0)
	if keep > 0 {
		start = idx.Entries[keep].Offset
	}
	return idx.reindexed(f, &st, keep, nil, start, nil)
}

// reindexed is the index of the file f (st its status) made of idx's
// first keep entries, then more, then what a scan from start (where more
// ends) finds. reread is what messages the scan reads again were worked
// out to be.
func (idx *Index) reindexed(f *os.File, st *unix.Stat_t, keep int, more []Entry, start int64, reread []Entry) (*Index, error) {
	out := &Index{dev: st.Dev, ino: st.Ino, mtime: st.Mtim.Nano(), Size: st.Size,
		UIDValidity: idx.UIDValidity, LastUID: idx.LastUID, RecentFrom: idx.RecentFrom, seenValidity: idx.seenValidity,
		roomGen: idx.roomGen}
	out.carryUnsynced(idx)
	entries, base, err := ScanFile(sectionFrom{f, start}, st.Size-start, 0, entryOf)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", f.Name(), err)
	}
	for i := range entries {
		shift(&entries[i], start)
		entries[i].Pseudo = entries[i].Pseudo && start == 0
		// Read just after our own write (settled): see ReindexRewritten.
		entries[i].Room.Gen = out.roomGen
	}
	for i := range entries {
		// The same message, moved: the UID the index gave it stands,
		// found without Number matching every message by fingerprint.
		for _, e := range reread {
			if g := &entries[i]; g.UID == 0 && e.Lazy && g.Offset == e.Offset && g.Sum == e.Sum {
				g.UID, g.Lazy = e.UID, true
			}
		}
	}
	if len(more) > 0 {
		entries = append(more, entries...)
	}
	keep, entries = idx.rescanned(keep, entries)
	if keep == 0 {
		// None of idx's entries stands (a rewrite from the first message
		// on: an expunge of it): the new ones are the index's as they
		// are, not copied into an array of their own. Those of 50,000
		// messages are 8 MB of fresh memory, which the GC reads and the
		// copy writes a page fault at a time (two, then, under a VM).
		n := len(entries)
		out.Entries, out.handed = entries, &n
	} else {
		out.Entries, out.handed = idx.grown(keep, entries)
	}
	out.inheritDisk(idx, keep)
	out.Base = base
	if start > 0 {
		out.Base = firstBase(f, st.Size, &out.Entries[0])
	}
	if out.tail, err = tailHash(f, st.Size); err != nil {
		return nil, fmt.Errorf("index %s: %w", f.Name(), err)
	}
	return out, nil
}

// firstBase reads the mailbox's base from its first message again: a
// rewrite in place (the last UID raised, same length) changes it without
// moving anything, so an index that kept its entries may not keep it.
// Only that message's header is read, which first (kept, so where it was)
// tells the end of: an APPEND to a big folder reads a few KiB for it.
func firstBase(f io.ReaderAt, size int64, first *Entry) *Base {
	if first.BodyOffset > 0 && first.BodyOffset < size {
		size = first.BodyOffset
	}
	s := newScannerSize(io.NewSectionReader(f, 0, size), int(min(size, initialBuf)))
	s.Next()
	return s.Base()
}
