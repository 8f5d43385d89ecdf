package mbox

import (
	"encoding/binary"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"unixmail/internal/binrec"
)

// IndexMap is a saved index mapped and checked but not decoded: what
// opening a mailbox reports (how many messages, how many new, the first
// unseen) is read off it without building an Entry per message, and the
// entries are decoded only when something wants them. A big folder's
// index is megabytes, and its entries several times that in memory: a
// client that opens it only to look, or to wait for mail, then costs
// what the mapping costs.
type IndexMap struct {
	data   []byte
	path   string       // the index file mapped
	st     *unix.Stat_t // its stat when mapped
	head   *Index       // without its entries
	runs   []entryRun   // the entries of the last state
	sum    IndexSummary
	zones  map[int]*time.Location
	format int
}

// IndexSummary is what an index says of its mailbox as a whole, UW's
// pseudo-message left out.
type IndexSummary struct {
	Size                 int64  // bytes of the file the index covers
	UIDValidity, LastUID uint32 // as Index holds them: 0 when not numbered
	Keywords             []string
	Messages             int
	// Recent counts the messages new to the file (no Status: O) that no
	// read-write session has been shown (Index.RecentFrom).
	Recent int
	// FirstUnseen is the position of the first message without \Seen
	// among Messages; -1 when there is none.
	FirstUnseen int
	RecentFrom  uint32 // as Index holds it
	Pseudo      bool   // entry 0 is UW's pseudo-message
	// Unseen and Deleted count the messages without \Seen, with \Deleted.
	Unseen, Deleted int
	// ClientSize is the sum of the messages' (Entry.ClientSize), or -1
	// when the scan could not tell some message's.
	ClientSize int64
}

// MapIndex maps the index saved at path and reads its summary. A missing
// or damaged index is (nil, nil), as for LoadIndex. The caller must
// Close it.
func MapIndex(path string) (*IndexMap, error) {
	data, st, err := mapIndex(path, false)
	if data == nil {
		return nil, err
	}
	m := &IndexMap{data: data, path: path, st: st}
	if !m.summarize() {
		m.Close()
		return nil, nil
	}
	return m, nil
}

// entryRun is entries of one record of the index file that its last state
// holds: the record's first n, and the record's keywords.
type entryRun struct {
	entries  []byte
	n        int
	keywords []byte
	byEntry  map[int][]string // keywordsOf's, once read
	counts   *recordCounts    // its record's, while it is whole
}

// summarize reads the last state as decodeIndex does, with the same
// checks (so that an index summarized decodes) but one, and only the
// header and the counts of each record (or where it has none, the few
// bytes of each entry it counts by). The one: the first record's sum is
// not checked when the record has its counts, since its entries, most
// of the file, are then not read at all. That record was written whole
// to a new file renamed into place (saveWhole): a crash cannot have torn
// it. One damaged all the same is found when the entries are decoded
// (Index checks every sum), and its summary not trusted then.
func (m *IndexMap) summarize() bool {
	format := formatOf(m.data)
	if format == 0 {
		return false
	}
	m.format = format
	var runs []entryRun
	had := -1
	for pos := len(indexMagic); len(m.data)-pos >= recordHead; {
		n := int(binary.LittleEndian.Uint32(m.data[pos:]))
		if n > len(m.data)-pos-recordHead {
			break
		}
		body := m.data[pos+recordHead : pos+recordHead+n]
		r, err := splitRecord(body, format)
		unsummed := had < 0 && err == nil && r.counts != nil
		if !unsummed && binary.LittleEndian.Uint32(m.data[pos+4:]) != recordSum(m.data[pos:pos+4], body) {
			break // torn: the state is the last whole record's
		}
		if err != nil || !r.stands(had) {
			return false
		}
		runs = append(cut(runs, r.keep), entryRun{entries: r.entries, n: r.n, keywords: r.keywords, counts: r.counts})
		m.head, had = r.head, r.keep+r.n
		pos += recordHead + n
	}
	if m.head == nil {
		return false
	}
	m.runs = runs
	head := m.head
	s := IndexSummary{Size: head.Size, UIDValidity: head.UIDValidity, LastUID: head.LastUID, FirstUnseen: -1, RecentFrom: head.RecentFrom}
	if head.Base != nil {
		s.Keywords = head.Base.Keywords
	}
	first := true
	for k := range runs {
		p := &runs[k]
		if p.counts != nil {
			s.add(p.counts, p, head.RecentFrom)
			first = first && p.n == 0
			continue
		}
		for i := range p.n {
			// The client size, UID, flags and bits of decodeEntry's layout.
			e := p.entries[i*entrySize:]
			uid, flags, bits := binary.LittleEndian.Uint32(e[80:]), Flags(e[84]), e[85]
			size := int64(binary.LittleEndian.Uint64(e[48:]))
			if first && bits&1 != 0 {
				first, s.Pseudo = false, true
				continue
			}
			first = false
			if flags&Seen == 0 && s.FirstUnseen < 0 {
				s.FirstUnseen = s.Messages
			}
			if flags&Old == 0 && uid >= head.RecentFrom {
				s.Recent++
			}
			if flags&Seen == 0 {
				s.Unseen++
			}
			if flags&Deleted != 0 {
				s.Deleted++
			}
			if size < 0 || s.ClientSize < 0 {
				s.ClientSize = -1
			} else {
				s.ClientSize += size
			}
			s.Messages++
		}
	}
	m.sum = s
	return true
}

// cut is runs up to their first keep entries. A run cut short has no
// counts: they were its record's whole.
func cut(runs []entryRun, keep int) []entryRun {
	for i := range runs {
		if keep <= runs[i].n {
			if keep < runs[i].n {
				runs[i].counts = nil
			}
			runs[i].n = keep
			return runs[:i+1]
		}
		keep -= runs[i].n
	}
	return runs
}

// Entry is entry i of the index (UW's pseudo-message counts), decoded
// alone, as Index would give it.
func (m *IndexMap) Entry(i int) (Entry, bool) {
	for k := range m.runs {
		r := &m.runs[k]
		if i >= r.n {
			i -= r.n
			continue
		}
		if i < 0 {
			break
		}
		if m.zones == nil {
			m.zones = map[int]*time.Location{}
		}
		e := decodeEntry(r.entries[i*entrySize:], m.zones, m.format >= formatNow)
		e.Keywords = r.keywordsOf(i)
		return e, true
	}
	return Entry{}, false
}

// keywordsOf is the keywords of the run's entry i. The run's are read
// once, at the first asked for: every message may have some (Thunderbird
// marks each $NotJunk), and a FETCH of them all must not read them all
// for each.
func (r *entryRun) keywordsOf(i int) []string {
	if r.byEntry == nil {
		r.byEntry = map[int][]string{}
		d := &binrec.Reader{B: r.keywords}
		for k := int(d.U32()); k > 0; k-- {
			j := int(d.U32())
			r.byEntry[j] = words(d)
		}
	}
	return r.byEntry[i]
}

// Summary is what the index says of its mailbox as a whole.
func (m *IndexMap) Summary() IndexSummary { return m.sum }

// Exact reports whether the index is the scan of f as f is now (the same
// file, length and mtime): the one case where UpdateIndex reads nothing
// and Number changes nothing, so the summary is what they would give.
func (m *IndexMap) Exact(f *os.File) (bool, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false, fmt.Errorf("index %s: %w", f.Name(), err)
	}
	h := m.head
	return st.Dev == h.dev && st.Ino == h.ino && st.Size == h.Size && st.Mtim.Nano() == h.mtime && h.UIDValidity != 0 && !h.flagsLost(), nil
}

// Index decodes the whole index, as LoadIndex would have.
func (m *IndexMap) Index() (*Index, error) {
	// Mapped without its pages (summarize reads few): they are all read
	// now, mapped in one call rather than a fault each. Not done, it
	// costs only the faults.
	unix.Madvise(m.data, unix.MADV_POPULATE_READ)
	idx, err := decodeIndex(m.data)
	if err != nil {
		return nil, fmt.Errorf("load index: %w", err)
	}
	idx.loadedFrom(m.path, m.st)
	return idx, nil
}

// Close unmaps the index.
func (m *IndexMap) Close() {
	if m.data != nil {
		unix.Munmap(m.data)
		m.data = nil
	}
}
