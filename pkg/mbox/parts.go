package mbox

import (
	"runtime"
	"sync"
)

// partsOf is how many parts work on n items is shared out in: one a
// processor, each of at least least items, and one at least. The big
// folder's work is 50,000 entries encoded or decoded, headers read for a
// STORE, From_ lines checked for an EXPUNGE.
func partsOf(n, least int) int {
	return max(1, min(runtime.GOMAXPROCS(0), n/least))
}

// inParts calls fn over [0, n) cut into parts (partsOf), numbered from 0,
// the parts at once.
func inParts(n, parts int, fn func(part, from, to int)) {
	if parts == 1 {
		fn(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	for p := range parts {
		wg.Go(func() { fn(p, p*n/parts, (p+1)*n/parts) })
	}
	wg.Wait()
}
