// Package parts shares out work on many items between the processors:
// the scan's entries, a rewrite's checks, the keys a SORT reads.
package parts

import (
	"runtime"
	"sync"
)

// Of is how many parts work on n items is shared out in: one a
// processor, as long as each part gets least items or more; one at
// least.
func Of(n, least int) int {
	return max(1, min(runtime.GOMAXPROCS(0), n/least))
}

// In calls fn over [0, n) cut into parts (Of), numbered from 0, the parts
// at once.
func In(n, parts int, fn func(part, from, to int)) {
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
