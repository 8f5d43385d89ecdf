package mbox_test

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"unixmail/pkg/mbox"
)

func TestAMappedIndexSummarizesWhatItsEntriesSay(t *testing.T) {
	p := generated(t, 300)
	idx := freshIndex(t, p)
	idx.Number(nil, time.Unix(1800000000, 0))
	for i := range idx.Entries {
		e := &idx.Entries[i]
		switch {
		case i < 7:
			e.Flags |= mbox.Seen | mbox.Old
		case i%3 == 0:
			e.Flags |= mbox.Old
		case i%7 == 0:
			e.Keywords = []string{"$Label1", "work"}
		case i%11 == 0:
			e.Flags |= mbox.Deleted
		}
		if i == 250 {
			e.ClientSize = -1 // a size the scan could not tell
		}
	}
	idx.RecentFrom = 200
	ip := mbox.IndexPath(p)
	if err := idx.Save(ip); err != nil {
		t.Fatal(err)
	}
	want := summaryOf(idx)
	if want.FirstUnseen != 7 || want.Recent == 0 || want.Recent == want.Messages || want.Deleted == 0 || want.ClientSize != -1 {
		t.Fatalf("the test's index is not what it meant: %+v", want)
	}
	m, err := mbox.MapIndex(ip)
	if err != nil || m == nil {
		t.Fatalf("MapIndex = %v, %v", m, err)
	}
	defer m.Close()
	if got := m.Summary(); !reflect.DeepEqual(got, want) {
		t.Fatalf("summary %+v, want %+v", got, want)
	}
	if got := idx.Summary(); !reflect.DeepEqual(got, want) {
		t.Fatalf("the index counts %+v, want %+v", got, want)
	}
	loaded, err := m.Index()
	if err != nil {
		t.Fatal(err)
	}
	sameEntries(t, loaded, idx)
	sameEntriesOne(t, m, idx)
}

func TestAMappedIndexIsExactOnlyForTheFileAsItWasScanned(t *testing.T) {
	p := generated(t, 20)
	idx := freshIndex(t, p)
	idx.Number(nil, time.Unix(1800000000, 0))
	idx.Save(mbox.IndexPath(p))
	m, _ := mbox.MapIndex(mbox.IndexPath(p))
	if m == nil {
		t.Fatal("no index mapped")
	}
	defer m.Close()
	f, _ := os.OpenFile(p, os.O_RDWR|os.O_APPEND, 0)
	defer f.Close()
	if ok, err := m.Exact(f); !ok || err != nil {
		t.Fatalf("Exact on the file scanned = %v, %v", ok, err)
	}
	f.WriteString("From a@example.org Mon Jan  1 00:00:00 2024\n\nmore\n\n")
	if ok, _ := m.Exact(f); ok {
		t.Fatal("Exact after mail was appended")
	}
}

func TestAnUnnumberedIndexIsNotExact(t *testing.T) {
	p := generated(t, 20)
	freshIndex(t, p).Save(mbox.IndexPath(p))
	if mbox.MappedExact(t, p) {
		t.Fatal("Exact for an index Number never ran on: its summary has no UIDs to tell")
	}
}

// A warm SELECT decodes its view from the mapped index: an APPEND after it
// must still add a record to that file, not write the whole index again.
func TestAnIndexDecodedFromItsMappingAppendsARecordWhenSavedAfterAnAppend(t *testing.T) {
	p := generated(t, 400)
	ip := mbox.IndexPath(p)
	numbered(t, p)
	m, err := mbox.MapIndex(ip)
	if err != nil || m == nil {
		t.Fatalf("MapIndex = %v, %v", m != nil, err)
	}
	defer m.Close()
	idx, err := m.Index()
	if err != nil {
		t.Fatal(err)
	}
	var before syscall.Stat_t
	if err := syscall.Stat(ip, &before); err != nil {
		t.Fatal(err)
	}
	appendMail(t, p, 1, 1, "")
	idx = caughtUp(t, p, idx)
	if err := idx.Save(ip); err != nil {
		t.Fatal(err)
	}
	var after syscall.Stat_t
	if err := syscall.Stat(ip, &after); err != nil {
		t.Fatal(err)
	}
	if after.Ino != before.Ino || after.Size-before.Size > 1024 {
		t.Fatalf("the index was written whole again (inode %d -> %d, %d -> %d bytes)", before.Ino, after.Ino, before.Size, after.Size)
	}
	sameState(t, loaded(t, ip), idx)
}

// summaryOf is what MapIndex should tell of idx, from its entries.
func summaryOf(idx *mbox.Index) mbox.IndexSummary {
	s := mbox.IndexSummary{Size: idx.Size, UIDValidity: idx.UIDValidity, LastUID: idx.LastUID, FirstUnseen: -1, RecentFrom: idx.RecentFrom}
	if idx.Base != nil {
		s.Keywords = idx.Base.Keywords
	}
	for i := range idx.Entries {
		e := &idx.Entries[i]
		if i == 0 && e.Pseudo {
			s.Pseudo = true
			continue
		}
		if e.Flags&mbox.Seen == 0 && s.FirstUnseen < 0 {
			s.FirstUnseen = s.Messages
		}
		if e.Flags&mbox.Old == 0 && e.UID >= idx.RecentFrom {
			s.Recent++
		}
		if e.Flags&mbox.Seen == 0 {
			s.Unseen++
		}
		if e.Flags&mbox.Deleted != 0 {
			s.Deleted++
		}
		if e.ClientSize < 0 || s.ClientSize < 0 {
			s.ClientSize = -1
		} else {
			s.ClientSize += e.ClientSize
		}
		s.Messages++
	}
	return s
}

func TestAMappedIndexSummarizesTheLastStateOfItsRecords(t *testing.T) {
	p := generated(t, 100)
	ip := mbox.IndexPath(p)
	idx, _ := numbered(t, p)
	for i := 1; i <= 3; i++ {
		appendMail(t, p, i, 2, strings.ReplaceAll(mbox.Padding(), "%", "%%"))
		idx = caughtUp(t, p, idx)
		if err := idx.Save(ip); err != nil {
			t.Fatal(err)
		}
	}
	// A record that keeps fewer entries than the state before it holds.
	last := len(idx.Entries) - 2
	st := idx.Entries[last].State
	st.Flags |= mbox.Seen | mbox.Old
	st.Keywords = []string{"$Work", "later"}
	idx = writeState(t, p, idx, last, st)
	if err := idx.Save(ip); err != nil {
		t.Fatal(err)
	}
	m, err := mbox.MapIndex(ip)
	if err != nil || m == nil {
		t.Fatalf("MapIndex = %v, %v", m, err)
	}
	defer m.Close()
	if got, want := m.Summary(), summaryOf(loaded(t, ip)); !reflect.DeepEqual(got, want) || got.ClientSize <= 0 {
		t.Fatalf("summary %+v, want %+v", got, want)
	}
	if got, want := m.Summary(), summaryOf(idx); !reflect.DeepEqual(got, want) {
		t.Fatalf("summary %+v, want the saved index's %+v", got, want)
	}
	sameEntriesOne(t, m, idx)
}

// sameEntriesOne asserts that m gives idx's entries one by one, and none
// past them.
func sameEntriesOne(t *testing.T, m *mbox.IndexMap, idx *mbox.Index) {
	t.Helper()
	one := &mbox.Index{Size: idx.Size, Base: idx.Base}
	for i := 0; ; i++ {
		e, ok := m.Entry(i)
		if !ok {
			break
		}
		one.Entries = append(one.Entries, e)
	}
	if _, ok := m.Entry(-1); ok {
		t.Fatal("an entry before the first")
	}
	sameEntries(t, one, idx)
}

// FuzzMapIndex: whatever the file holds, mapping it does not panic, it
// maps when and only when it loads (but a format 3 index, which only
// loads), and what it says (the summary, each
// entry decoded alone) is what the loaded index says (seeds: those of
// FuzzLoadIndex). The records' checksums are made right first, so that
// what is fuzzed is mostly the records, not the checksums refusing them.
func FuzzMapIndex(f *testing.F) {
	f.Add([]byte("unixmail mbox index 6\n"))
	f.Add([]byte("unixmail mbox index 4\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		data = summed(data)
		p := filepath.Join(t.TempDir(), "i")
		os.WriteFile(p, data, 0600)
		m, _ := mbox.MapIndex(p) // must not panic
		idx, _ := mbox.LoadIndex(p)
		if (m == nil) != (idx == nil) && !bytes.HasPrefix(data, []byte("unixmail mbox index 3\n")) {
			t.Fatalf("mapped %v but loaded %v", m != nil, idx != nil)
		}
		if m == nil || idx == nil {
			return
		}
		defer m.Close()
		if got, want := m.Summary(), summaryOf(idx); !reflect.DeepEqual(got, want) {
			// The counts a record ends with are not checked against its
			// entries when mapped (a session does, once it decodes them):
			// a file Save did not write may hold counts that lie. Those
			// Save writes of the same index do not.
			again := filepath.Join(t.TempDir(), "again")
			if err := idx.Save(again); err != nil {
				t.Fatal(err)
			}
			m2, _ := mbox.MapIndex(again)
			if m2 == nil {
				t.Fatal("the index saved again does not map")
			}
			defer m2.Close()
			if got := m2.Summary(); !reflect.DeepEqual(got, want) {
				t.Fatalf("summary of the index saved again %+v, the loaded index's %+v", got, want)
			}
		}
		if got, want := idx.Summary(), summaryOf(idx); !reflect.DeepEqual(got, want) {
			t.Fatalf("the loaded index counts %+v, want %+v", got, want)
		}
		sameEntriesOne(t, m, idx)
	})
}

// summed is an index file with each record's CRC-32C made right (its
// length and body, as Save frames them), as far as the lengths fit.
func summed(data []byte) []byte {
	data = slices.Clone(data)
	table := crc32.MakeTable(crc32.Castagnoli)
	pos := len("unixmail mbox index 4\n")
	for pos+8 <= len(data) {
		n := int(binary.LittleEndian.Uint32(data[pos:]))
		if n > len(data)-pos-8 {
			break
		}
		sum := crc32.Update(crc32.Checksum(data[pos:pos+4], table), table, data[pos+8:pos+8+n])
		binary.LittleEndian.PutUint32(data[pos+4:], sum)
		pos += 8 + n
	}
	return data
}

// An index whose records end with their keywords, as earlier versions
// wrote them without their counts, is summarized entry by entry, to the
// same summary; and whatever its RecentFrom, the counts give what the
// entries say.
func TestAnIndexWithOrWithoutCountsSummarizesTheSame(t *testing.T) {
	p := generated(t, 200)
	idx, _ := numbered(t, p)
	for i := range idx.Entries {
		if e := &idx.Entries[i]; i%4 == 0 {
			e.Flags |= mbox.Old
		} else if i%5 == 0 {
			e.Flags |= mbox.Seen | mbox.Deleted
		}
	}
	ip := mbox.IndexPath(p)
	for _, from := range []uint32{0, 1, 50, idx.Entries[len(idx.Entries)-1].UID, idx.Entries[len(idx.Entries)-1].UID + 1} {
		idx.RecentFrom = from
		os.Remove(ip)
		if err := idx.Save(ip); err != nil {
			t.Fatal(err)
		}
		want := summaryOf(idx)
		for _, counts := range []bool{true, false} {
			if !counts {
				withoutCounts(t, ip)
			}
			m, _ := mbox.MapIndex(ip)
			if m == nil {
				t.Fatalf("RecentFrom %d, counts %v: no index mapped", from, counts)
			}
			if got := m.Summary(); !reflect.DeepEqual(got, want) {
				t.Errorf("RecentFrom %d, counts %v: summary %+v, want %+v", from, counts, got, want)
			}
			m.Close()
		}
	}
}

// withoutCounts rewrites the index file at ip of one record without the
// counts it ends with (37 bytes), as earlier versions wrote it.
func withoutCounts(t *testing.T, ip string) {
	t.Helper()
	data, err := os.ReadFile(ip)
	if err != nil {
		t.Fatal(err)
	}
	const head, counts = len("unixmail mbox index 4\n"), 37
	n := int(binary.LittleEndian.Uint32(data[head:]))
	if head+8+n != len(data) {
		t.Fatalf("not one record: %d bytes of %d", n, len(data))
	}
	data = data[:len(data)-counts]
	binary.LittleEndian.PutUint32(data[head:], uint32(n-counts))
	os.WriteFile(ip, summed(data), 0o600)
}
