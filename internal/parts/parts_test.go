package parts

import (
	"runtime"
	"sync/atomic"
	"testing"
)

func TestOfGivesOnePartAProcessorOfAtLeastLeastItems(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	for _, tc := range []struct {
		name     string
		n, least int
		want     int
	}{
		{"no items make one part", 0, 10, 1},
		{"fewer items than least make one part", 9, 10, 1},
		{"many items make one part a processor", 1000 * procs, 10, procs},
		{"parts hold at least least items", 20, 10, min(2, procs)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Of(tc.n, tc.least); got != tc.want {
				t.Errorf("Of(%d, %d) = %d, want %d", tc.n, tc.least, got, tc.want)
			}
		})
	}
}

func TestInCoversEveryItemOnceInOrderedParts(t *testing.T) {
	for _, tc := range []struct {
		name     string
		n, parts int
	}{
		{"one part", 10, 1},
		{"even parts", 12, 4},
		{"uneven parts", 13, 3},
		{"more parts than items", 2, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen := make([]atomic.Int32, tc.n)
			ends := make([][2]int, tc.parts)
			In(tc.n, tc.parts, func(p, from, to int) {
				ends[p] = [2]int{from, to}
				for i := from; i < to; i++ {
					seen[i].Add(1)
				}
			})
			for i := range seen {
				if got := seen[i].Load(); got != 1 {
					t.Errorf("item %d seen %d times", i, got)
				}
			}
			for p := 1; p < tc.parts; p++ {
				if ends[p][0] != ends[p-1][1] {
					t.Errorf("part %d starts at %d, part %d ends at %d", p, ends[p][0], p-1, ends[p-1][1])
				}
			}
		})
	}
}
