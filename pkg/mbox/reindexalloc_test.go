package mbox

import (
	"runtime"
	"testing"
	"unsafe"
)

func TestAnIndexRewrittenFromItsFirstMessageOnMakesItsEntriesOnce(t *testing.T) {
	mb, idx := openScanned(t, compactInput(20000))
	offsets := make([]int64, len(idx.Entries))
	changes := map[int]Change{}
	for i := range idx.Entries {
		offsets[i] = idx.Entries[i].Offset
		if i%10 == 0 {
			changes[i] = Change{Drop: true} // the first too: nothing before it stands
		}
	}
	if err := RewriteSome(mb, idx.Size, offsets, changes); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, err := ReindexRewritten(idx, mb, 0)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	// Made once, they are the bulk of what it allocates; copied once
	// more, twice that.
	once := uint64(len(got.Entries)) * uint64(unsafe.Sizeof(Entry{}))
	if made := after.TotalAlloc - before.TotalAlloc; made > once*3/2 {
		t.Errorf("reindexing %d entries (%d bytes) allocated %d bytes", len(got.Entries), once, made)
	}
	want, err := Reindex(idx, mb.File, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != len(want.Entries) {
		t.Fatalf("%d entries, want %d", len(got.Entries), len(want.Entries))
	}
	for i := range want.Entries {
		if g, w := &got.Entries[i], &want.Entries[i]; !sameEntry(g, w) || g.Sum != w.Sum {
			t.Fatalf("entry %d:\n%+v\nwant\n%+v", i, *g, *w)
		}
	}
}
