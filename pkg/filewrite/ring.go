package filewrite

import (
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// From linux/io_uring.h.
const (
	setupCoopTaskrun  = 1 << 8
	setupSingleIssuer = 1 << 12
	setupDeferTaskrun = 1 << 13

	// featSingleMmap came in 5.4, featRWCurPos with IORING_OP_WRITE in 5.6: a kernel
	// without both is too old for the ring written here.
	featSingleMmap = 1 << 0
	featRWCurPos   = 1 << 3

	opRead         = 22
	opWrite        = 23
	enterGetEvents = 1
	offSQRing      = 0
	offSQEs        = 0x10000000
)

// ringEntries is the most requests in one ring: 1,024 writes per io_uring_enter already
// make the system call's cost vanish beside the writes.
const ringEntries = 1024

// setupFlags are what io_uring_setup is asked for, best first: one thread submits and
// completions run only when it waits (6.1), the same without the single thread (5.19),
// plain. setupTry indexes the first one not refused with EINVAL, and is len(setupFlags)
// once the ring proved unusable in this process, so later calls do not ask again.
var (
	setupFlags = [...]uint32{setupSingleIssuer | setupDeferTaskrun, setupCoopTaskrun, 0}
	setupTry   atomic.Int32
)

// setupReused is the first of setupFlags for a ring kept from call to call, whose calls
// may each run on another thread: not bound to one (setupSingleIssuer).
const setupReused = 1

// maxLen is the longest write one request carries (its length field is 32 bits); longer
// pieces come back short and are finished with pwrite. Tests lower it.
var maxLen = 1 << 30

// enter is io_uring_enter(2); tests replace it to play a kernel that refuses work.
var enter = func(fd int, toSubmit, minComplete uint32) error {
	_, _, e := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(fd), uintptr(toSubmit),
		uintptr(minComplete), enterGetEvents, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// params is struct io_uring_params; sqOff and cqOff are struct io_sqring_offsets and
// io_cqring_offsets, indexed by the constants below.
type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  [10]uint32
	cqOff                                                                  [10]uint32
}

const (
	offHead, offTail, offMask = 0, 1, 2
	sqArray                   = 6
	cqCQEs                    = 5
)

// sqe is struct io_uring_sqe as a read or a write uses it.
type sqe struct {
	opcode, flags uint8
	ioprio        uint16
	fd            int32
	off, addr     uint64
	len, rwFlags  uint32
	userData      uint64
	_             [3]uint64
}

// cqe is struct io_uring_cqe.
type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

// ring is one io_uring, mapped. Head and tail words are shared with the kernel: read and
// written with sync/atomic.
type ring struct {
	fd                     int
	mem, sqeMem            []byte
	sqHead, sqTail         *uint32
	cqHead, cqTail         *uint32
	sqMask, cqMask, sqSize uint32
	cqSize                 uint32
	array                  []uint32
	sqes                   []sqe
	cqes                   []cqe
}

// newRing sets up a ring of at least entries requests, trying setupFlags in turn from
// first (setupReused for a ring used from more than one thread). The caller of a ring set
// up with setupSingleIssuer holds its OS thread locked for the ring's life.
func newRing(entries int, first int32) (*ring, error) {
	for {
		try := max(setupTry.Load(), first)
		if int(try) >= len(setupFlags) {
			return nil, syscall.ENOSYS
		}
		p := params{flags: setupFlags[try]}
		fd, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
		if e == unix.EINVAL && int(try)+1 < len(setupFlags) {
			// Flags before these, newer, are refused too: the next call of either kind
			// starts after them.
			for cur := setupTry.Load(); cur <= try && !setupTry.CompareAndSwap(cur, try+1); cur = setupTry.Load() {
			}
			continue
		}
		if e != 0 {
			setupTry.Store(int32(len(setupFlags)))
			return nil, e
		}
		r, err := mapRing(int(fd), &p)
		if err != nil {
			unix.Close(int(fd))
			setupTry.Store(int32(len(setupFlags)))
			return nil, err
		}
		return r, nil
	}
}

func mapRing(fd int, p *params) (*ring, error) {
	if p.features&(featSingleMmap|featRWCurPos) != featSingleMmap|featRWCurPos {
		return nil, syscall.ENOSYS
	}
	size := max(p.sqOff[sqArray]+p.sqEntries*4, p.cqOff[cqCQEs]+p.cqEntries*uint32(unsafe.Sizeof(cqe{})))
	mem, err := unix.Mmap(fd, offSQRing, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, err
	}
	sqeMem, err := unix.Mmap(fd, offSQEs, int(p.sqEntries)*int(unsafe.Sizeof(sqe{})), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		unix.Munmap(mem)
		return nil, err
	}
	word := func(off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }
	return &ring{
		fd: fd, mem: mem, sqeMem: sqeMem,
		sqHead: word(p.sqOff[offHead]), sqTail: word(p.sqOff[offTail]),
		cqHead: word(p.cqOff[offHead]), cqTail: word(p.cqOff[offTail]),
		sqMask: *word(p.sqOff[offMask]), cqMask: *word(p.cqOff[offMask]),
		sqSize: p.sqEntries, cqSize: p.cqEntries,
		array: unsafe.Slice(word(p.sqOff[sqArray]), p.sqEntries),
		sqes:  unsafe.Slice((*sqe)(unsafe.Pointer(&sqeMem[0])), p.sqEntries),
		cqes:  unsafe.Slice((*cqe)(unsafe.Pointer(&mem[p.cqOff[cqCQEs]])), p.cqEntries),
	}, nil
}

// close unmaps the ring and closes it; requests still queued and not submitted die with it.
func (r *ring) close() {
	unix.Munmap(r.sqeMem)
	unix.Munmap(r.mem)
	unix.Close(r.fd)
}

// ringWrite is WriteAt through a ring. It reports false, having written nothing, when the
// ring cannot be had (or f is opened O_APPEND, where pwrite(2) would append): the caller
// then writes with pwrite.
func ringWrite(f *os.File, pieces []Piece) (done bool, err error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return false, nil
	}
	// Control keeps f's descriptor open and unreused until the ring is done with it.
	cerr := rc.Control(func(fd uintptr) {
		if fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0); err != nil || fl&unix.O_APPEND != 0 {
			return
		}
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		r, rerr := newRing(min(len(pieces), ringEntries), 0)
		if rerr != nil {
			return
		}
		defer r.close()
		done, err = true, r.write(f, int(fd), pieces)
	})
	if cerr != nil {
		return false, nil
	}
	return done, err
}

// write queues the pieces as write requests, never more at once than the completion queue
// holds, and checks every completion: the first error is the answer, after the kernel has
// finished every request it took. Should the kernel take no more while holding none, the
// rest is written with pwrite.
//
// It waits for completions asleep (pacer), not in io_uring_enter: the kernel hands a
// buffered write to a worker thread (io-wq), and each write the worker finishes wakes a
// thread waiting in io_uring_enter, however many completions it asked to wait for (io-wq's
// completions are not the lazy kind). For 50,000 writes that was about 14,000 wake-ups of
// the submitting thread, competing for the processors with the worker it waits for; asleep
// outside the kernel's wait, it is woken by nothing, and finds the completions done when it
// looks.
func (r *ring) write(f *os.File, fd int, pieces []Piece) error {
	defer runtime.KeepAlive(pieces)
	var (
		next   int    // the next piece to queue
		tail   uint32 // requests queued (the ring starts at 0)
		reaped uint32 // completions seen
		failed error
		pace   pacer
	)
	for {
		for next < len(pieces) && failed == nil && tail-reaped < r.cqSize && tail-atomic.LoadUint32(r.sqHead) < r.sqSize {
			p := &pieces[next]
			if len(p.B) > 0 {
				i := tail & r.sqMask
				r.sqes[i] = sqe{opcode: opWrite, fd: int32(fd), off: uint64(p.Off),
					addr: address(uintptr(unsafe.Pointer(&p.B[0]))), len: uint32(min(len(p.B), maxLen)),
					userData: uint64(next)}
				r.array[i] = i
				tail++
			}
			next++
		}
		atomic.StoreUint32(r.sqTail, tail)
		if tail == reaped {
			return failed
		}
		head := atomic.LoadUint32(r.sqHead)
		err := enter(r.fd, tail-head, 0)
		full := next == len(pieces) || failed != nil || tail-reaped >= r.cqSize || tail-atomic.LoadUint32(r.sqHead) >= r.sqSize
		if (err != nil || full) && atomic.LoadUint32(r.sqHead) != reaped && atomic.LoadUint32(r.cqHead) == atomic.LoadUint32(r.cqTail) {
			// Nothing more to queue (or the kernel took no more) and nothing done yet:
			// wait, then look (which has the kernel post what is done).
			pace.sleep(tail - reaped)
			look := enter(r.fd, 0, 0)
			if look != nil && !retryable(look) {
				// The kernel holds writes it will never report: write every piece
				// (again: the same bytes at the same places), and keep the bytes,
				// which its writes may still read.
				hold(pieces)
				setupTry.Store(int32(len(setupFlags)))
				if failed != nil {
					return failed
				}
				return pwriteAll(f, pieces)
			}
			if err == nil {
				err = look
			}
			pace.saw(atomic.LoadUint32(r.cqTail)-atomic.LoadUint32(r.cqHead), tail-reaped)
		}
		progress := atomic.LoadUint32(r.sqHead) != head
		if n := r.reap(func(c cqe) {
			if failed == nil {
				failed = finish(f, &pieces[c.userData], c.res)
			}
		}); n > 0 {
			reaped, progress = reaped+n, true
		}
		// EINTR, EAGAIN and EBUSY ask for a retry once completions are reaped. A refusal with
		// nothing in the kernel's hands and nothing moved is the kernel taking no more work.
		head = atomic.LoadUint32(r.sqHead)
		if err == nil || progress || head != reaped {
			continue
		}
		if !retryable(err) {
			setupTry.Store(int32(len(setupFlags)))
		}
		if failed != nil {
			return failed
		}
		rest := pieces[next:]
		if head != tail {
			rest = pieces[r.sqes[head&r.sqMask].userData:]
		}
		return pwriteAll(f, rest)
	}
}

// reap hands each completion posted to each, in order, and says how many there were.
func (r *ring) reap(each func(cqe)) uint32 {
	n := uint32(0)
	for h := atomic.LoadUint32(r.cqHead); h != atomic.LoadUint32(r.cqTail); h++ {
		c := r.cqes[h&r.cqMask]
		atomic.StoreUint32(r.cqHead, h+1)
		n++
		each(c)
	}
	return n
}

// retryable reports whether io_uring_enter's refusal asks for a retry once completions are
// reaped.
func retryable(err error) bool { return err == unix.EINTR || err == unix.EAGAIN || err == unix.EBUSY }

// pacer is how long write sleeps for completions: half the time the kernel would take to
// finish the requests it holds, at the pace it has kept so far, so that its worker is given
// more before it runs out. The pace starts at a microsecond a write (a buffered write of a
// few bytes into a cached page).
type pacer struct {
	perWrite time.Duration
	slept    time.Time
}

// Sleeps are kept between these: shorter ones cost more than the writes they wait for,
// longer ones leave the worker idle once it is done.
const (
	minSleep = 20 * time.Microsecond
	maxSleep = 2 * time.Millisecond
)

func (p *pacer) sleep(held uint32) {
	if p.perWrite == 0 {
		p.perWrite = time.Microsecond
	}
	d := min(max(time.Duration(held)*p.perWrite/2, minSleep), maxSleep)
	p.slept = time.Now()
	ts := unix.NsecToTimespec(d.Nanoseconds())
	unix.Nanosleep(&ts, nil) // cut short by a signal, it only looks sooner
}

// saw learns the pace from the completions found after a sleep: none (sleep longer), all
// the kernel held (it may have finished well before: sleep shorter), or some.
func (p *pacer) saw(done, held uint32) {
	took := time.Since(p.slept)
	switch {
	case done == 0:
		p.perWrite = min(2*p.perWrite, maxSleep)
	case done >= held:
		p.perWrite = max(took/time.Duration(done)/2, time.Nanosecond)
	default:
		p.perWrite = max(took/time.Duration(done), time.Nanosecond)
	}
}

// finish checks one completion: res is what write(2) would return, or minus its errno.
// A short write is finished with pwrite.
func finish(f *os.File, p *Piece, res int32) error {
	if res < 0 {
		return &os.PathError{Op: "write", Path: f.Name(), Err: syscall.Errno(-res)}
	}
	if int(res) < len(p.B) {
		_, err := f.WriteAt(p.B[res:], p.Off+int64(res))
		return err
	}
	return nil
}

// address is the address of a buffer for the kernel. uintptrescapes makes the compiler put
// the buffer on the heap in every caller of WriteAt (where Go never moves memory), never on
// a goroutine stack, which moves when it grows.
//
//go:uintptrescapes
//go:noinline
func address(p uintptr) uint64 { return uint64(p) }
