package mbox

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"unixmail/internal/binrec"
	"unixmail/internal/parts"
)

// The index file (format 6) is the magic line, then records, each a
// state of the index: the whole header (what the mailbox looked like, its
// base and UID state), how many entries of the state before stand, and
// the entries that follow them. The first record holds every entry;
// each later one is what an append (or a flag change near the end)
// changed, so that saving after an APPEND costs what was appended, not a
// rewrite of every entry. A record is framed by its length and a CRC-32C
// of both: a record cut short, or garbage after the last one (a write
// torn by a crash), ends the file there, and its state is the last whole
// record's.
//
// A file is only ever appended to, or replaced whole by a rename: bytes a
// reader has mapped never change. Once the records after the first grow
// past a quarter of it (64 KiB for a small one), Save writes the index
// whole again.
//
// Each entry is entrySize bytes, so a reader can find entry i without
// decoding those before; the few keywords follow the entries of their
// record.
//
// Versions: 2 added ClientSize; 3 the UIDs the index gives (Number) and
// the fingerprints; 4 the records, the CRC and the fixed-size entries; 5
// the boot of flag writes not synced (Index.unsynced) in the header; 6
// the rooms (Entry.Room) in the entries' last spare bytes and bits, and
// their generation (Index.roomGen) in the header.
// Formats 3 to 5 are still read (indexfile3.go for 3): they may hold
// UIDs nothing else does; their entries have no room. A format 4 or 5
// file is saved whole again, as format 6, never appended to.
const indexMagic = "unixmail mbox index 6\n"

// indexMagic5 and indexMagic4 begin an index of format 5 (6 without the
// rooms) and 4 (5 without the boot).
const (
	indexMagic5 = "unixmail mbox index 5\n"
	indexMagic4 = "unixmail mbox index 4\n"
)

// entrySize is the bytes of one entry in an index file: seven offsets and
// sizes, the date, the fingerprint, the zone, the lines, the UID, the
// flags, the bits (Pseudo, Lazy, Room's CRLF, Blank and high 3 bits of
// Gen), Room's Len and low 4 bits of Gen (two spare bytes before format
// 6).
const entrySize = 9*8 + 3*4 + 4

// recordHead is the bytes of a record's frame: length, then CRC.
const recordHead = 8

// onDisk is what the index file at path holds, as this process last wrote
// or read it: an index whose first clean entries are the file's may then
// append only the rest.
type onDisk struct {
	path     string
	dev, ino uint64   // of the index file: a rename over it is another file
	size     int64    // bytes of whole records: where the next one goes
	baseLen  int64    // bytes up to the end of the first record
	n        int      // entries the file's last state holds
	format   int      // of the file: records are appended to formatNow's only
	unsynced [16]byte // the mark of the file's last state (Index.unsynced)
}

// dirty notes that entry i may differ from what the index file holds.
func (idx *Index) dirty(i int) {
	if i < idx.clean {
		idx.clean = i
	}
}

// inheritDisk takes what from knows of the index file, for an index
// that keeps from's first keep entries.
func (idx *Index) inheritDisk(from *Index, keep int) {
	idx.disk, idx.clean = from.disk, min(from.clean, keep)
}

// Save writes the index to path so that the UIDs it gave last: durably
// (synced) before it returns, and never half written for a reader. When
// the file there is the one this index was loaded from or last saved to,
// only what changed since is appended; otherwise the whole index goes to
// a temporary file renamed into place.
//
// A record that only changes flags written in place and not synced
// (WriteStates) is not synced either: lost, it costs the scan that its
// mark would have caused anyway after a power cut. The UIDs the index
// holds are durable before: it gave none since its last save (pending).
func (idx *Index) Save(path string) error {
	return idx.save(path, idx.savedSynced())
}

// savedSynced reports whether a save of idx is synced: it gave UIDs since
// its last save, or holds no flags written in place and not synced.
func (idx *Index) savedSynced() bool { return idx.pending || !idx.Unsynced() }

// save is Save, its appended record synced or not.
func (idx *Index) save(path string, sync bool) error {
	f, ok, err := idx.appendRecord(path, nil, sync)
	if f != nil {
		f.Close()
	}
	if ok || err != nil {
		return err
	}
	return idx.saveWhole(path, sync)
}

// SaveUnsynced is Save that leaves the sync of an appended record to the
// caller: it returns the index file, written but not synced, which the
// caller must sync (SyncIndex) before it reports the UIDs saved, or nil
// when the index went whole to a new file, synced. open is what the
// caller's last SaveUnsynced of this index (or of one it was made from)
// returned, if it has not synced it yet: the record goes to it again when
// it is still the file at path; if it is not, it is synced and closed
// here (what it holds may be all there is of some UIDs).
func (idx *Index) SaveUnsynced(path string, open *os.File) (*os.File, error) {
	if open != nil && !idx.disk.holds(open) {
		if err := SyncIndex(open); err != nil {
			return nil, err
		}
		open = nil
	}
	f, ok, err := idx.appendRecord(path, open, false)
	if ok || err != nil {
		return f, err
	}
	if open != nil {
		// Records of the caller's are in it: they last, in case the
		// whole save below fails too.
		SyncIndex(open)
	} else if f != nil {
		f.Close()
	}
	return nil, idx.saveWhole(path, true)
}

// SyncIndex syncs and closes an index file SaveUnsynced returned.
func SyncIndex(f *os.File) error {
	err := unix.Fdatasync(int(f.Fd()))
	f.Close()
	if err != nil {
		return fmt.Errorf("sync index %s: %w", f.Name(), err)
	}
	return nil
}

// holds reports whether f is the index file d describes.
func (d *onDisk) holds(f *os.File) bool {
	var st unix.Stat_t
	return d.size > 0 && unix.Fstat(int(f.Fd()), &st) == nil && st.Dev == d.dev && st.Ino == d.ino
}

// appendRecord appends what changed since the index file was written, if
// that file is still as this index last knew it and the log stays small:
// to open, when given (the file at path, kept open by the caller), and
// synced when sync is set, else left for the caller to sync with the file
// it returns. It reports whether it did, and an error only once nothing is
// left to try.
func (idx *Index) appendRecord(path string, open *os.File, sync bool) (*os.File, bool, error) {
	d := idx.disk
	keep := min(idx.clean, d.n)
	if !idx.appends(path, keep) {
		return nil, false, nil
	}
	rec := idx.record(nil, keep)
	if d.size+int64(len(rec)) > d.limit() {
		return nil, false, nil // compact instead
	}
	f := open
	if f == nil {
		var err error
		if f, err = os.OpenFile(path, os.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err != nil {
			return nil, false, nil
		}
	}
	// Sessions of a mailbox may save at once (a cache saved at close
	// holds no mailbox lock): checks and write are made under the file's
	// lock, so that no record is written over another, or after one
	// renamed away (saveWhole takes the lock too). A file kept open for
	// the next record lets the lock go at once.
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return f, false, nil
	}
	if !sync {
		defer unix.Flock(int(f.Fd()), unix.LOCK_UN)
	}
	var st, now unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil || st.Dev != d.dev || st.Ino != d.ino || st.Size != d.size {
		return f, false, nil // replaced, or written by another since
	}
	if err := unix.Stat(path, &now); err != nil || now.Dev != st.Dev || now.Ino != st.Ino {
		return f, false, nil // replaced since it was opened
	}
	saveStep()
	if _, err := f.WriteAt(rec, d.size); err != nil {
		// What was written is garbage after the last record: readers
		// stop before it, and the next save replaces the file.
		idx.disk = onDisk{}
		return f, false, nil
	}
	if sync {
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			idx.disk = onDisk{}
			return f, false, nil
		}
	}
	idx.disk.size += int64(len(rec))
	idx.disk.n = len(idx.Entries)
	idx.disk.unsynced = idx.unsynced
	idx.clean = len(idx.Entries)
	idx.pending = false
	return f, true, nil
}

// appends reports whether a save of idx to path that keeps its first keep
// entries may append a record to the index file there rather than write
// it whole: it is the file idx knows, and the entries after keep do not
// make it too long, which is then compacted instead.
func (idx *Index) appends(path string, keep int) bool {
	d := &idx.disk
	return d.path == path && d.size > 0 && d.size+int64(len(idx.Entries)-keep)*entrySize <= d.limit()
}

// limit is how long the file may grow by records before it is written
// whole again.
func (d *onDisk) limit() int64 { return d.baseLen + max(d.baseLen/4, 64<<10) }

// saveStep is called between a record's checks and its write; tests race
// another save there.
var saveStep = func() {}

// staleIndexTemp is how old a temporary index file whose lock is free
// must be to be taken as left by a killed save.
const staleIndexTemp = time.Minute

// saveWhole writes the index as a new file of one record, synced, renamed
// over path, and the directory synced when syncDir is set, so the rename
// lasts too (without, a power cut may leave the file it replaced, whole).
func (idx *Index) saveWhole(path string, syncDir bool) error {
	w, err := createWhole(path)
	if err != nil {
		return err
	}
	defer w.discard()
	b := append(make([]byte, 0, len(indexMagic)+recordHead+1024+len(idx.Entries)*entrySize), indexMagic...)
	if err := w.write(idx.record(b, 0)); err != nil {
		return err
	}
	return w.commit(idx, true, syncDir)
}

// wholeIndex is an index file written whole under a temporary name beside
// path, then renamed over it. It is locked (flock) until then, so that
// another save, which removes the ones killed saves left, leaves it alone.
type wholeIndex struct {
	path    string
	tmp     *os.File
	size    int64 // bytes written
	baseLen int64 // bytes up to the end of the first record
}

func createWhole(path string) (*wholeIndex, error) {
	RemoveStale(path+".tmp-", staleIndexTemp)
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-")
	if err != nil {
		return nil, fmt.Errorf("save index: %w", err)
	}
	unix.Flock(int(tmp.Fd()), unix.LOCK_EX) // not had, it costs only the race it guards against
	return &wholeIndex{path: path, tmp: tmp}, nil
}

// write appends b: the magic line and the first record, or a record
// after it.
func (w *wholeIndex) write(b []byte) error {
	if _, err := w.tmp.WriteAt(b, w.size); err != nil {
		return fmt.Errorf("save index: %w", err)
	}
	if w.size += int64(len(b)); w.baseLen == 0 {
		w.baseLen = w.size
	}
	return nil
}

// commit syncs the file when sync is set and renames it over the path,
// then syncs the directory when syncDir is set; idx, which its last record
// holds, then knows the file as its own.
func (w *wholeIndex) commit(idx *Index, sync, syncDir bool) error {
	fd := int(w.tmp.Fd())
	var st unix.Stat_t
	var err error
	if sync {
		err = unix.Fdatasync(fd)
	}
	if err == nil {
		err = unix.Fstat(fd, &st)
	}
	if err == nil {
		err = renameLocked(w.tmp.Name(), w.path)
	}
	if err != nil {
		return fmt.Errorf("save index: %w", err)
	}
	if syncDir {
		if dir, err := os.Open(filepath.Dir(w.path)); err == nil {
			err = dir.Sync()
			dir.Close()
			if err != nil {
				return fmt.Errorf("save index: %w", err)
			}
		}
	}
	idx.disk = onDisk{path: w.path, dev: st.Dev, ino: st.Ino, size: w.size, baseLen: w.baseLen, n: len(idx.Entries), format: formatNow, unsynced: idx.unsynced}
	idx.clean = len(idx.Entries)
	idx.pending = false
	return nil
}

// discard closes the file and removes it, unless committed.
func (w *wholeIndex) discard() {
	w.tmp.Close()
	os.Remove(w.tmp.Name())
}

// renameLocked renames tmp over path while holding the lock of the file
// there, if any, so that no record is appended to it (appendRecord) once
// it is gone from path.
func renameLocked(tmp, path string) error {
	if old, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err == nil {
		defer old.Close()
		// Not had, it costs only the race it guards against: the rename
		// goes ahead.
		unix.Flock(int(old.Fd()), unix.LOCK_EX)
	}
	return os.Rename(tmp, path)
}

// record appends to b the framed record of idx's state: its header, the
// first keep entries standing, and the rest.
func (idx *Index) record(b []byte, keep int) []byte {
	start := len(b)
	b = append(b, make([]byte, recordHead)...)
	b = binary.LittleEndian.AppendUint64(b, idx.dev)
	b = binary.LittleEndian.AppendUint64(b, idx.ino)
	b = binary.LittleEndian.AppendUint64(b, uint64(idx.Size))
	b = binary.LittleEndian.AppendUint64(b, uint64(idx.mtime))
	b = append(b, idx.tail[:]...)
	if idx.Base != nil {
		b = append(b, 1)
		b = binary.LittleEndian.AppendUint32(b, idx.Base.UIDValidity)
		b = binary.LittleEndian.AppendUint32(b, idx.Base.LastUID)
		b = appendString(b, strings.Join(idx.Base.Keywords, " "))
	} else {
		b = append(b, 0)
	}
	for _, v := range []uint32{idx.UIDValidity, idx.LastUID, idx.RecentFrom, idx.seenValidity} {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	b = append(b, idx.unsynced[:]...)
	b = append(b, idx.roomGen)
	b = binary.LittleEndian.AppendUint32(b, uint32(keep))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(idx.Entries)-keep))
	more := idx.Entries[keep:]
	at := len(b)
	b = slices.Grow(b, len(more)*entrySize)[:at+len(more)*entrySize]
	parts.In(len(more), parts.Of(len(more), entriesPart), func(_, from, to int) {
		for i := from; i < to; i++ {
			encodeEntry(b[at+i*entrySize:], &more[i])
		}
	})
	keyworded := 0
	for i := range more {
		if len(more[i].Keywords) > 0 {
			keyworded++
		}
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(keyworded))
	for i := range more {
		if e := &more[i]; len(e.Keywords) > 0 {
			b = binary.LittleEndian.AppendUint32(b, uint32(i))
			b = appendString(b, strings.Join(e.Keywords, " "))
		}
	}
	b = appendCounts(b, countsOf(more, keep == 0))
	n := uint32(len(b) - start - recordHead)
	binary.LittleEndian.PutUint32(b[start:], n)
	binary.LittleEndian.PutUint32(b[start+4:], recordSum(b[start:start+4], b[start+recordHead:]))
	return b
}

// recordSum is the CRC-32C of a record's length and body: a length torn
// or garbled fails it as the body does.
func recordSum(length, body []byte) uint32 {
	return crc32.Update(crc32.Checksum(length, castagnoli()), castagnoli(), body)
}

func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

var errBadIndex = errors.New("bad index file")

// LoadIndex reads an index saved by Save. A missing or damaged index is
// (nil, nil): the caller scans.
func LoadIndex(path string) (*Index, error) {
	data, st, err := mapIndex(path, true)
	if data == nil {
		return nil, err
	}
	defer unix.Munmap(data)
	if bytes.HasPrefix(data, []byte(indexMagic3)) {
		// Save writes it again whole, in the current format.
		idx, err := decodeIndex3(data)
		if err != nil {
			return nil, nil
		}
		return idx, nil
	}
	idx, err := decodeIndex(data)
	if err != nil {
		return nil, nil
	}
	idx.loadedFrom(path, st)
	return idx, nil
}

// loadedFrom notes that idx was decoded from the index file at path, of
// stat st, so that Save appends to that file what changed since (when it
// is of the current format: records of another would not read).
func (idx *Index) loadedFrom(path string, st *unix.Stat_t) {
	idx.disk.path, idx.disk.dev, idx.disk.ino = path, st.Dev, st.Ino
	if idx.disk.format != formatNow {
		idx.disk.size = 0
	}
}

// mapIndex maps the index file at path: nil when there is none, or it
// cannot be one.
func mapIndex(path string, populate bool) ([]byte, *unix.Stat_t, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("load index: %w", err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, nil, fmt.Errorf("load index: %w", err)
	}
	if st.Size < int64(len(indexMagic)) || st.Size > 1<<40 {
		return nil, nil, nil
	}
	// Mapped rather than read into the heap: a big folder's index is
	// megabytes, loaded at every SELECT, and decoding copies what it
	// keeps. (The file is only appended to or replaced: a mapping is
	// never cut.) Populated at once when it is to be decoded (populate):
	// the decode reads every page, and one call maps them all where a
	// fault per page costs more (much more in a VM).
	flags := unix.MAP_SHARED
	if populate {
		flags |= unix.MAP_POPULATE
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(st.Size), unix.PROT_READ, flags)
	if err != nil {
		return nil, nil, fmt.Errorf("load index: %w", err)
	}
	return data, &st, nil
}

// words takes a string of space-separated words.
func words(d *binrec.Reader) []string {
	s := d.String()
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

// decodeIndex applies the file's whole records in order. A damaged first
// record is a damaged index; a damaged later one ends the file.
func decodeIndex(data []byte) (*Index, error) {
	var idx *Index
	zones := map[int]*time.Location{}
	format := formatOf(data)
	end, err := eachRecord(data, func(body []byte, end int) error {
		next, err := applyRecord(idx, body, format, zones)
		if err != nil {
			return err
		}
		idx = next
		if idx.disk.baseLen == 0 {
			idx.disk.baseLen = int64(end)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if idx == nil {
		return nil, errBadIndex
	}
	idx.disk.size, idx.disk.n, idx.clean = int64(end), len(idx.Entries), len(idx.Entries)
	idx.disk.format, idx.disk.unsynced = format, idx.unsynced
	return idx, nil
}

// The formats eachRecord reads.
const (
	formatNow = 6
	format5   = 5
	format4   = 4
)

// formatOf is the format of index file data: formatNow, format5 or format4, 0
// for neither.
func formatOf(data []byte) int {
	switch {
	case bytes.HasPrefix(data, []byte(indexMagic)):
		return formatNow
	case bytes.HasPrefix(data, []byte(indexMagic5)):
		return format5
	case bytes.HasPrefix(data, []byte(indexMagic4)):
		return format4
	}
	return 0
}

// eachRecord gives f the body of each whole record of an index file in
// order, and the offset where it ends; it returns where the last whole
// one ends. Whole, yet not what Save writes (f's error), is not a torn
// write but another writer's file: nothing in it can be trusted.
func eachRecord(data []byte, f func(body []byte, end int) error) (int, error) {
	if formatOf(data) == 0 {
		return 0, errBadIndex
	}
	pos := len(indexMagic) // both magics are as long
	for len(data)-pos >= recordHead {
		n := int(binary.LittleEndian.Uint32(data[pos:]))
		if n > len(data)-pos-recordHead {
			break
		}
		body := data[pos+recordHead : pos+recordHead+n]
		if binary.LittleEndian.Uint32(data[pos+4:]) != recordSum(data[pos:pos+4], body) {
			break
		}
		if err := f(body, pos+recordHead+n); err != nil {
			return 0, err
		}
		pos += recordHead + n
	}
	return pos, nil
}

// record is one record of an index file, split and checked to be what
// Save writes: the state's header (an Index without entries), how many
// entries of the state before stand, and the n entries that follow them
// (entrySize bytes each), then their keywords.
type record struct {
	head     *Index
	keep, n  int
	entries  []byte
	keywords []byte
	counts   *recordCounts // nil in a record written before they were
}

func splitRecord(body []byte, format int) (record, error) {
	d := &binrec.Reader{B: body}
	r := record{head: readHead(d, format), keep: int(d.U32()), n: int(d.U32())}
	if d.Bad || r.n > len(d.B)/entrySize {
		return record{}, errBadIndex
	}
	r.entries = d.Bytes(r.n * entrySize)
	r.keywords = d.B
	for k := int(d.U32()); k > 0 && !d.Bad; k-- {
		if int(d.U32()) >= r.n {
			return record{}, errBadIndex
		}
		d.Bytes(int(d.U32())) // the words
	}
	if !d.Bad && len(d.B) == countsSize {
		c, ok := readCounts(d, r.n)
		if !ok {
			return record{}, errBadIndex
		}
		r.counts = &c
	}
	if d.Bad || len(d.B) != 0 {
		return record{}, errBadIndex
	}
	return r, nil
}

// readHead reads the header of an index state (an Index without
// entries), as the format (3 to 6) writes it.
func readHead(d *binrec.Reader, format int) *Index {
	idx := &Index{dev: d.U64(), ino: d.U64(), Size: int64(d.U64()), mtime: int64(d.U64())}
	copy(idx.tail[:], d.Bytes(32))
	if hasBase := d.Bytes(1); len(hasBase) == 1 && hasBase[0] == 1 {
		idx.Base = &Base{UIDValidity: d.U32(), LastUID: d.U32()}
		idx.Base.Keywords = words(d)
	}
	idx.UIDValidity, idx.LastUID, idx.RecentFrom, idx.seenValidity = d.U32(), d.U32(), d.U32(), d.U32()
	if format >= format5 {
		copy(idx.unsynced[:], d.Bytes(len(idx.unsynced)))
	}
	if format >= formatNow {
		if g := d.Bytes(1); len(g) == 1 {
			idx.roomGen = g[0] % roomGens
		}
	}
	return idx
}

// stands reports whether the record can follow a state of had entries
// (-1: it is the first).
func (r *record) stands(had int) bool {
	return had < 0 && r.keep == 0 || had >= 0 && r.keep <= had
}

// applyRecord is the state a record gives after prev's (nil before the
// first record).
func applyRecord(prev *Index, body []byte, format int, zones map[int]*time.Location) (*Index, error) {
	r, err := splitRecord(body, format)
	if err != nil {
		return nil, err
	}
	had := -1
	if prev != nil {
		had = len(prev.Entries)
	}
	if !r.stands(had) {
		return nil, errBadIndex
	}
	idx := r.head
	var entries []Entry
	if prev == nil {
		entries = make([]Entry, 0, r.n)
	} else {
		entries = prev.Entries[:r.keep]
		idx.disk = prev.disk
	}
	first := len(entries)
	entries = slices.Grow(entries, r.n)[:first+r.n]
	parts.In(r.n, parts.Of(r.n, entriesPart), func(_, from, to int) {
		// A map of zones a part: each is written to.
		zones := zones
		if from > 0 {
			zones = map[int]*time.Location{}
		}
		for i := from; i < to; i++ {
			entries[first+i] = decodeEntry(r.entries[i*entrySize:], zones, format >= formatNow)
		}
	})
	d := &binrec.Reader{B: r.keywords}
	for k := int(d.U32()); k > 0; k-- {
		i := int(d.U32())
		entries[first+i].Keywords = words(d)
	}
	idx.Entries = entries
	return idx, nil
}

// encodeEntry writes e in the entrySize bytes of b, as decodeEntry reads
// them.
func encodeEntry(b []byte, e *Entry) {
	for k, v := range [...]int64{e.Offset, e.HeaderOffset, e.BodyOffset, e.End, e.Next, e.ContentLength, e.ClientSize, e.Date.Unix(), int64(e.Sum)} {
		binary.LittleEndian.PutUint64(b[8*k:], uint64(v))
	}
	_, zone := e.Date.Zone()
	binary.LittleEndian.PutUint32(b[9*8:], uint32(int32(zone)))
	binary.LittleEndian.PutUint32(b[9*8+4:], uint32(e.Lines))
	binary.LittleEndian.PutUint32(b[9*8+8:], e.UID)
	bits := byte(0)
	if e.Pseudo {
		bits |= 1
	}
	if e.Lazy {
		bits |= 2
	}
	r := e.Room
	if r.CRLF {
		bits |= 4
	}
	bits |= r.Blank<<3 | r.Gen>>4<<5
	b[9*8+3*4], b[9*8+3*4+1] = byte(e.Flags), bits
	binary.LittleEndian.PutUint16(b[9*8+3*4+2:], r.Len|uint16(r.Gen&15)<<12)
}

// entriesPart is the fewest entries encoded or decoded a part
// (inParts).
const entriesPart = 8192

// decodeEntry reads one entry of entrySize bytes, its room where the
// file's format has rooms.
func decodeEntry(b []byte, zones map[int]*time.Location, rooms bool) Entry {
	u64 := func(i int) int64 { return int64(binary.LittleEndian.Uint64(b[8*i:])) }
	u32 := func(i int) uint32 { return binary.LittleEndian.Uint32(b[9*8+4*i:]) }
	e := Entry{Offset: u64(0), HeaderOffset: u64(1), BodyOffset: u64(2), End: u64(3), Next: u64(4),
		ContentLength: u64(5), ClientSize: u64(6), Sum: uint64(u64(8))}
	zone := int(int32(u32(0)))
	loc, ok := zones[zone]
	if !ok {
		loc = time.FixedZone("", zone)
		zones[zone] = loc
	}
	if unix := u64(7); unix != (time.Time{}).Unix() {
		e.Date = time.Unix(unix, 0).In(loc)
	}
	e.Lines, e.UID = int(u32(1)), u32(2)
	fl, bits := b[9*8+3*4], b[9*8+3*4+1]
	e.Flags, e.Pseudo, e.Lazy = Flags(fl), bits&1 != 0, bits&2 != 0
	if rooms {
		lo := binary.LittleEndian.Uint16(b[9*8+3*4+2:])
		e.Room = Room{Len: lo & maxRoom, Blank: bits >> 3 & 3, CRLF: bits&4 != 0, Gen: bits>>5<<4 | uint8(lo>>12)}
	}
	return e
}
