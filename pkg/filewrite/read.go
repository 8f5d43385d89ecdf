package filewrite

import (
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Span is N bytes of a file at Off, to read.
type Span struct {
	Off int64
	N   int
}

// Reader reads many small spans of files (the headers of 50,000 messages, for FETCH 1:*
// ENVELOPE) through one ring it keeps from call to call: a call's reads go to the kernel as
// IORING_OP_READ requests, the ring's size at a time, in one io_uring_enter each, not one
// pread(2) each. Where the ring cannot be had, it reads with pread. A Reader is for one
// goroutine at a time; Close lets its ring go.
type Reader struct {
	ring *ring  // nil until a call has readRingMin spans, or when none can be had
	buf  []byte // the last call's bytes
	at   []int  // where each span's bytes start in buf
}

// readRingMin is the fewest spans worth setting up the ring for; once it is there, it is
// used for any number.
const readRingMin = 16

// readEntries is the size of a Reader's ring: how many reads one io_uring_enter takes.
const readEntries = 256

// held keeps the buffers of requests the kernel took and would not report (an
// io_uring_enter refused for good while it held them): it may still write into a read's
// buffer, or read a write's, so they are never let go, for the collector to give to
// anything else.
var held struct {
	sync.Mutex
	kept []any
}

// hold keeps what requests the kernel would not report still use (held).
func hold(v any) {
	held.Lock()
	held.kept = append(held.kept, v)
	held.Unlock()
}

// Read reads the spans of f and gives their bytes one after another (span i's N bytes
// follow span i-1's), good until the next call. A span that cannot be read whole (the file
// ends before it does, or the read fails) makes it return an error naming f, the bytes then
// not to be used. A span at a negative offset is refused before anything is read.
func (rd *Reader) Read(f *os.File, spans []Span) ([]byte, error) {
	rd.at = rd.at[:0]
	total := 0
	for _, s := range spans {
		if s.Off < 0 || s.N < 0 {
			return nil, &os.PathError{Op: "readat", Path: f.Name(), Err: errNegativeOffset}
		}
		rd.at = append(rd.at, total)
		total += s.N
	}
	if cap(rd.buf) < total {
		rd.buf = make([]byte, total+total/4)
	}
	buf := rd.buf[:total]
	if !forcePwrite && (rd.ring != nil || len(spans) >= readRingMin) {
		if done, err := rd.ringRead(f, spans, buf); done {
			return buf, err
		}
		buf = rd.buf[:total] // a new one, if the kernel kept the old
	}
	for i, s := range spans {
		if err := preadRest(f, s, buf[rd.at[i]:rd.at[i]+s.N], 0); err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// Close lets the Reader's ring go.
func (rd *Reader) Close() {
	if rd.ring != nil {
		rd.ring.close()
		rd.ring = nil
	}
}

// ringRead is Read through the Reader's ring, set up at the first call. It reports false
// when the ring cannot be had or the kernel takes no more requests: the caller then reads
// every span with pread.
func (rd *Reader) ringRead(f *os.File, spans []Span, buf []byte) (done bool, err error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return false, nil
	}
	// Control keeps f's descriptor open and unreused until the reads are done.
	cerr := rc.Control(func(fd uintptr) {
		// A read the kernel cannot do at once (pages not in the cache) is finished by
		// work it gives the thread that submitted it: that thread must be the one that
		// waits for it.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if rd.ring == nil {
			r, rerr := newRing(readEntries, setupReused)
			if rerr != nil {
				return
			}
			rd.ring = r
		}
		var kept bool
		done, kept, err = rd.ring.read(f, int(fd), spans, rd.at, buf)
		if done {
			return
		}
		if kept {
			hold(rd.buf)
			rd.buf = make([]byte, len(rd.buf))
		}
		rd.Close()
	})
	if cerr != nil {
		return false, nil
	}
	return done, err
}

// read queues a read request for each span (into buf at at[i]), the ring's size at a time,
// and waits in io_uring_enter for each round to be done: a read of cached pages is done
// during the call itself (never handed to io-wq's threads, whose wake-ups write avoids),
// one of pages not cached waits for the disk however it is read. The first error is the
// answer, after every request the kernel took is reaped.
//
// Should the kernel refuse to take requests, read reports false (and, refused for good,
// the process uses rings no more); kept says the kernel holds reads it will not report,
// into buf.
func (r *ring) read(f *os.File, fd int, spans []Span, at []int, buf []byte) (done, kept bool, failed error) {
	defer runtime.KeepAlive(buf)
	var (
		next   int                           // the next span to queue
		tail   = atomic.LoadUint32(r.sqTail) // every request of earlier calls is reaped
		reaped = tail
	)
	for {
		for next < len(spans) && tail-reaped < r.sqSize {
			if s := spans[next]; s.N > 0 {
				i := tail & r.sqMask
				r.sqes[i] = sqe{opcode: opRead, fd: int32(fd), off: uint64(s.Off),
					addr: address(uintptr(unsafe.Pointer(&buf[at[next]]))), len: uint32(min(s.N, maxLen)),
					userData: uint64(next)}
				r.array[i] = i
				tail++
			}
			next++
		}
		if tail == reaped {
			return true, false, failed
		}
		atomic.StoreUint32(r.sqTail, tail)
		head := atomic.LoadUint32(r.sqHead)
		err := enter(r.fd, tail-head, tail-reaped)
		progress := atomic.LoadUint32(r.sqHead) != head
		if n := r.reap(func(c cqe) {
			if i := int(c.userData); failed == nil {
				failed = finishRead(f, spans[i], buf[at[i]:at[i]+spans[i].N], c.res)
			}
		}); n > 0 {
			reaped, progress = reaped+n, true
		}
		head = atomic.LoadUint32(r.sqHead)
		if err == nil || progress || retryable(err) && head != reaped {
			continue
		}
		// The kernel takes no more (for good, or for now with nothing in its hands): what
		// it did not take is taken back from the queue.
		atomic.StoreUint32(r.sqTail, head)
		if !retryable(err) {
			setupTry.Store(int32(len(setupFlags)))
		}
		return false, head != reaped, nil
	}
}

// finishRead checks one completion: res is what read(2) would return, or minus its errno.
// A short read is finished with pread.
func finishRead(f *os.File, s Span, b []byte, res int32) error {
	if res < 0 {
		return &os.PathError{Op: "read", Path: f.Name(), Err: syscall.Errno(-res)}
	}
	return preadRest(f, s, b, int(res))
}

// preadRest reads b (span s) from its byte got on with pread; the file's end before b's is
// an error.
func preadRest(f *os.File, s Span, b []byte, got int) error {
	if got >= len(b) {
		return nil
	}
	n, err := f.ReadAt(b[got:], s.Off+int64(got))
	if got+n == len(b) {
		return nil
	}
	if err == io.EOF {
		err = &os.PathError{Op: "read", Path: f.Name(), Err: io.ErrUnexpectedEOF}
	}
	return err
}
