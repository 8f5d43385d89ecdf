package mailx

import (
	"bytes"
	"testing"
)

// TestHeadersReadTogetherAreThoseReadOneByOne checks that grouping
// neighbouring header blocks into one read gives each message exactly its
// own From_ line and header block, in list order, whatever the list.
func TestHeadersReadTogetherAreThoseReadOneByOne(t *testing.T) {
	f := testFolder(t)
	for _, list := range [][]int{{0, 1, 2, 3}, {3, 1}, {1, 3}, {2}, {0, 0, 3}} {
		var buf []byte
		var got []int
		f.headers(list, &buf, func(k int, hdr []byte) {
			got = append(got, k)
			want, err := f.header(list[k])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(hdr, want) {
				t.Errorf("list %v, message %d: got %q, want %q", list, list[k]+1, hdr, want)
			}
		})
		if len(got) != len(list) {
			t.Errorf("list %v: fn called for %v", list, got)
		}
	}
}

// TestInOrderKeepsOrderAndStops runs more items than one chunk holds.
func TestInOrderKeepsOrderAndStops(t *testing.T) {
	n := 5*listChunk + 7
	next := 0
	inOrder(n, func(lo, hi int) []int {
		v := make([]int, hi-lo)
		for k := range v {
			v[k] = lo + k
		}
		return v
	}, func(k, v int) bool {
		if k != next || v != k {
			t.Fatalf("item %d gave %d, want item %d", k, v, next)
		}
		next++
		return k < 2*listChunk
	})
	if next != 2*listChunk+1 {
		t.Errorf("stopped after %d items, want %d", next, 2*listChunk+1)
	}
}
