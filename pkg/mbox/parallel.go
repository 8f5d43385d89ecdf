package mbox

import (
	"bytes"
	"io"
	"runtime"
	"sync"
)

// parallelMin is the size below which a file is not worth splitting.
const parallelMin = 32 << 20

// ScanFile reads every message of the mbox in f (size bytes long) in file
// order, handing each to fn and returning what fn returned, with the
// mailbox's Base. A big file is cut at From_ lines into parts that are read
// at once, one per CPU up to workers (0 = every CPU): listing a gigabyte
// mailbox then costs a fraction of a second on two cores. fn is called
// concurrently for different parts and must not keep m or m.Header.
//
// The parts give exactly what one Scanner over the whole file gives. Where
// they could not (a part ending inside a message whose Content-Length runs
// on past the cut, or a file that is one message), the file is read again
// from the start by one Scanner.
func ScanFile[T any](f io.ReaderAt, size int64, workers int, fn func(m *Message) T) ([]T, *Base, error) {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	cuts := []int64{0}
	if workers > 1 && size >= parallelMin {
		for k := 1; k < workers; k++ {
			at, ok := nextFromLine(f, int64(k)*size/int64(workers), size)
			if ok && at > cuts[len(cuts)-1] {
				cuts = append(cuts, at)
			}
		}
	}
	cuts = append(cuts, size)
	if len(cuts) == 2 {
		return scanPart(f, 0, size, fn)
	}

	type result struct {
		vals   []T
		base   *Base
		err    error
		unsure bool
	}
	parts := make([]result, len(cuts)-1)
	var wg sync.WaitGroup
	for i := range parts {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s := newPartScanner(f, cuts[i], cuts[i+1])
			r := &parts[i]
			for s.Next() {
				m := s.Message()
				r.vals = append(r.vals, fn(m))
				// A Content-Length that reaches past the cut may have
				// hidden the From_ line we cut at.
				r.unsure = m.ContentLength >= 0 && m.BodyOffset+m.ContentLength > m.Next
			}
			r.err, r.base = s.Err(), s.Base()
			r.unsure = r.unsure || s.whole
		}(i)
	}
	wg.Wait()
	var all []T
	for i, p := range parts {
		if p.err != nil {
			return nil, nil, p.err
		}
		if p.unsure && i < len(parts)-1 {
			return scanPart(f, 0, size, fn)
		}
		all = append(all, p.vals...)
	}
	return all, parts[0].base, nil
}

func scanPart[T any](f io.ReaderAt, start, end int64, fn func(m *Message) T) ([]T, *Base, error) {
	s := newPartScanner(f, start, end)
	var vals []T
	for s.Next() {
		vals = append(vals, fn(s.Message()))
	}
	return vals, s.Base(), s.Err()
}

// newPartScanner reads the messages of f that start in [start, end);
// start is 0 or the start of a From_ line.
func newPartScanner(f io.ReaderAt, start, end int64) *Scanner {
	// A part as small as an appended message gets a buffer its size, not
	// the 256 KiB of a whole file's scan, zeroed for each APPEND.
	s := newScannerSize(io.NewSectionReader(f, start, end-start), int(min(end-start+keepBehind, initialBuf)))
	s.ra = f
	s.off = start
	s.atFileStart = start == 0
	return s
}

// nextFromLine finds the first valid From_ line that starts after a line
// end at or after from.
func nextFromLine(f io.ReaderAt, from, size int64) (int64, bool) {
	buf := make([]byte, 256<<10)
	sep := []byte("\nFrom ")
	for at := from - 1; at < size; {
		n, err := f.ReadAt(buf, at)
		chunk := buf[:n]
		for i := 0; ; {
			j := bytes.Index(chunk[i:], sep)
			if j < 0 {
				break
			}
			line := chunk[i+j+1:]
			if k := bytes.IndexByte(line, '\n'); k >= 0 {
				line = line[:k]
			} else if err == nil {
				break // read on: the line is cut by the buffer
			}
			if _, _, ok := ParseFromLine(line); ok {
				return at + int64(i+j+1), true
			}
			i += j + 1
		}
		if err != nil || n < len(sep) {
			return 0, false
		}
		at += int64(n - len(sep) - 1024) // overlap: a From_ line cut at the end is read again
		if n <= len(sep)+1024 {
			return 0, false
		}
	}
	return 0, false
}
