package filewrite

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// paths are the two ways WriteAt writes, each test run through both.
var paths = []struct {
	name  string
	force bool
}{{"through the ring", false}, {"through pwrite", true}}

func withPath(t testing.TB, force bool) {
	old := forcePwrite
	forcePwrite = force
	t.Cleanup(func() { forcePwrite = old })
}

// scatter returns n pieces in random order at random offsets no two overlapping, a slot of
// 64 bytes each over a span a fifth longer than size, so that some extend the file.
func scatter(rng *rand.Rand, n int, size int64) []Piece {
	slot := max(size*6/5/int64(max(n, 1)), 2)
	pieces := make([]Piece, n)
	for i := range pieces {
		l := 1 + rng.Int64N(min(slot-1, 40))
		b := make([]byte, l)
		for j := range b {
			b[j] = byte('a' + rng.IntN(26))
		}
		pieces[i] = Piece{Off: int64(i)*slot + rng.Int64N(slot-l+1), B: b}
	}
	rng.Shuffle(n, func(i, j int) { pieces[i], pieces[j] = pieces[j], pieces[i] })
	return pieces
}

// fileWith writes content to a new file in dir and opens it with flag.
func fileWith(t testing.TB, dir, name string, content []byte, flag int) *os.File {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func randomBytes(rng *rand.Rand, n int) []byte {
	var seed [32]byte
	for i := range seed {
		seed[i] = byte(rng.Uint32())
	}
	b := make([]byte, n)
	rand.NewChaCha8(seed).Read(b)
	return b
}

// checkLanded writes pieces into a copy of original with one pwrite each and compares it
// with f.
func checkLanded(t *testing.T, f *os.File, original []byte, pieces []Piece) {
	t.Helper()
	want := fileWith(t, t.TempDir(), "want", original, os.O_RDWR)
	for _, p := range pieces {
		if _, err := want.WriteAt(p.B, p.Off); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	wantB, err := os.ReadFile(want.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, wantB) {
		i := 0
		for i < min(len(got), len(wantB)) && got[i] == wantB[i] {
			i++
		}
		t.Fatalf("file differs from the pwrite-built copy at byte %d (lengths %d and %d)", i, len(got), len(wantB))
	}
}

// writeScattered writes n scattered pieces (seed picks them, edit may change them) with
// WriteAt into a file of random bytes, and checks that they all landed.
func writeScattered(t *testing.T, seed uint64, n int, edit func([]Piece)) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed))
	original := randomBytes(rng, max(n*64, 4096))
	f := fileWith(t, t.TempDir(), "mbox", original, os.O_RDWR)
	pieces := scatter(rng, n, int64(len(original)))
	if edit != nil {
		edit(pieces)
	}
	if err := WriteAt(f, pieces); err != nil {
		t.Fatal(err)
	}
	checkLanded(t, f, original, pieces)
}

func TestEveryPieceLandsAtItsOffset(t *testing.T) {
	for _, path := range paths {
		for _, n := range []int{0, 1, 63, 64, 5000, 100000} {
			t.Run(fmt.Sprintf("%d pieces %s", n, path.name), func(t *testing.T) {
				withPath(t, path.force)
				writeScattered(t, 10+uint64(n), n, nil)
			})
		}
	}
}

func TestTheKernelStructsHaveTheSizesOfLinuxIOUringH(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"io_uring_params", unsafe.Sizeof(params{}), 120},
		{"io_uring_sqe", unsafe.Sizeof(sqe{}), 64},
		{"io_uring_cqe", unsafe.Sizeof(cqe{}), 16},
	} {
		if c.got != c.want {
			t.Errorf("%s is %d bytes, want %d", c.name, c.got, c.want)
		}
	}
}

// needRing skips a test of the ring itself where the kernel refuses one (seccomp, an old
// kernel): WriteAt then writes with pwrite, which the other tests cover.
func needRing(t *testing.T) {
	t.Helper()
	f := fileWith(t, t.TempDir(), "probe", nil, os.O_RDWR)
	if done, err := ringWrite(f, []Piece{{0, []byte("x")}}); !done {
		t.Skip("io_uring refused here")
	} else if err != nil {
		t.Fatal(err)
	}
}

// TestTheRingIsUsedWhereTheKernelHasIt makes sure the tests through the ring are not
// through pwrite unawares.
func TestTheRingIsUsedWhereTheKernelHasIt(t *testing.T) {
	needRing(t)
	rng := rand.New(rand.NewPCG(8, 8))
	original := randomBytes(rng, 64*100)
	f := fileWith(t, t.TempDir(), "mbox", original, os.O_RDWR)
	pieces := scatter(rng, 100, int64(len(original)))
	if done, err := ringWrite(f, pieces); !done || err != nil {
		t.Fatalf("ring write: done %v, error %v", done, err)
	}
	checkLanded(t, f, original, pieces)
}

func TestEmptyPiecesAreSkipped(t *testing.T) {
	for _, path := range paths {
		t.Run(path.name, func(t *testing.T) {
			withPath(t, path.force)
			writeScattered(t, 2, 200, func(pieces []Piece) {
				for i := 0; i < len(pieces); i += 3 {
					pieces[i].B = pieces[i].B[:0]
				}
			})
		})
	}
}

func TestWritesCutShortAreFinished(t *testing.T) {
	old := maxLen
	maxLen = 7
	t.Cleanup(func() { maxLen = old })
	writeScattered(t, 3, 500, nil)
}

// refuseEnter plays a kernel whose io_uring_enter refuses with refusal every call after the
// first for which refuses says so, until the test ends; it counts the calls.
func refuseEnter(t *testing.T, refusal syscall.Errno, refuses func(toSubmit uint32) bool) *int {
	oldEnter, oldTry := enter, setupTry.Load()
	calls := 0
	enter = func(fd int, toSubmit, minComplete uint32) error {
		calls++
		if calls > 1 && refuses(toSubmit) {
			return refusal
		}
		return oldEnter(fd, toSubmit, minComplete)
	}
	t.Cleanup(func() { enter = oldEnter; setupTry.Store(oldTry) })
	return &calls
}

// TestAKernelThatStopsTakingWorkLeavesTheRestToPwrite plays io_uring_enter refusing every
// call that submits after the first (it still finishes the work it took): the pieces it
// never took are pwritten.
func TestAKernelThatStopsTakingWorkLeavesTheRestToPwrite(t *testing.T) {
	for _, refusal := range []syscall.Errno{syscall.EAGAIN, syscall.EPERM} {
		t.Run(refusal.Error(), func(t *testing.T) {
			needRing(t)
			calls := refuseEnter(t, refusal, func(toSubmit uint32) bool { return toSubmit > 0 })
			writeScattered(t, 4, 5000, nil)
			if *calls < 2 {
				t.Errorf("io_uring_enter called %d times, want the refusal seen", *calls)
			}
			if disabled := setupTry.Load() == int32(len(setupFlags)); disabled != (refusal == syscall.EPERM) {
				t.Errorf("ring disabled for the process: %v after %v", disabled, refusal)
			}
		})
	}
}

// TestAKernelThatNoLongerAnswersHasEveryPieceWrittenAgain plays io_uring_enter refusing for
// good every call after the first, which left writes in flight: they cannot be reaped, so
// every piece is pwritten (the same bytes again where the kernel wrote them), their bytes
// are kept for the writes still in the kernel, and the ring is not used again by the
// process.
func TestAKernelThatNoLongerAnswersHasEveryPieceWrittenAgain(t *testing.T) {
	needRing(t)
	refuseEnter(t, syscall.EPERM, func(uint32) bool { return true })
	kept := func() int { held.Lock(); defer held.Unlock(); return len(held.kept) }
	before := kept()
	writeScattered(t, 4, 5000, nil)
	if setupTry.Load() != int32(len(setupFlags)) {
		t.Error("the ring is still used after the kernel stopped answering")
	}
	if kept() != before+1 {
		t.Error("the bytes of the writes the kernel still holds are not kept from the collector")
	}
}

func TestErrorsAreReportedWithTheFileName(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	original := randomBytes(rng, 64*100)
	cases := []struct {
		name   string
		flag   int
		pieces func([]Piece) []Piece
		is     error
	}{
		{"a read-only file", os.O_RDONLY, func(p []Piece) []Piece { return p }, syscall.EBADF},
		{"a piece at a negative offset", os.O_RDWR, func(p []Piece) []Piece {
			p[len(p)/2].Off = -5
			return p
		}, errNegativeOffset},
	}
	for _, path := range paths {
		for _, c := range cases {
			for _, n := range []int{1, 100} {
				t.Run(fmt.Sprintf("%s, %d pieces %s", c.name, n, path.name), func(t *testing.T) {
					withPath(t, path.force)
					f := fileWith(t, t.TempDir(), "mbox", original, c.flag)
					err := WriteAt(f, c.pieces(scatter(rng, n, int64(len(original)))))
					if !errors.Is(err, c.is) {
						t.Fatalf("error %v, want %v", err, c.is)
					}
					if !bytes.Contains([]byte(err.Error()), []byte(f.Name())) {
						t.Errorf("error %q does not name %s", err, f.Name())
					}
					if got, _ := os.ReadFile(f.Name()); !bytes.Equal(got, original) {
						t.Error("the file changed")
					}
				})
			}
		}
	}
}

func TestAFileOpenedForAppendIsRefusedNotAppendedTo(t *testing.T) {
	for _, path := range paths {
		t.Run(path.name, func(t *testing.T) {
			withPath(t, path.force)
			rng := rand.New(rand.NewPCG(6, 6))
			original := randomBytes(rng, 64*100)
			f := fileWith(t, t.TempDir(), "mbox", original, os.O_RDWR|os.O_APPEND)
			if err := WriteAt(f, scatter(rng, 100, int64(len(original)))); err == nil {
				t.Fatal("no error")
			}
			if got, _ := os.ReadFile(f.Name()); !bytes.Equal(got, original) {
				t.Error("the file changed")
			}
		})
	}
}

func TestCallsInParallelEachWriteTheirOwnFile(t *testing.T) {
	var wg sync.WaitGroup
	dir := t.TempDir()
	for g := range 4 {
		rng := rand.New(rand.NewPCG(7, uint64(g)))
		original := randomBytes(rng, 64*3000)
		f := fileWith(t, dir, fmt.Sprint("mbox", g), original, os.O_RDWR)
		pieces := scatter(rng, 3000, int64(len(original)))
		wg.Go(func() {
			if err := WriteAt(f, pieces); err != nil {
				t.Error(err)
			}
		})
		t.Cleanup(func() { checkLanded(t, f, original, pieces) })
	}
	wg.Wait()
}

const benchSize = 256 << 20

// benchFile is a 256 MB file written once and left in the page cache, as a big mbox is
// after imapd read it.
func benchFile(b *testing.B) *os.File {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "mbox"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	chunk := bytes.Repeat([]byte("From a@b Sat Dec  5 09:00:00 2026\nStatus: O\n\nbody\n"), 1<<15)
	for off := int64(0); off < benchSize; off += int64(len(chunk)) {
		if _, err := f.WriteAt(chunk, off); err != nil {
			b.Fatal(err)
		}
	}
	// Written back, its blocks allocated, as an mbox is but for what imapd just changed.
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	return f
}

// benchWrite writes n pieces of 25 bytes step bytes apart in f, b.N times, through a ring
// whatever n and with pwrite.
func benchWrite(b *testing.B, f *os.File, n int, step int64) {
	pieces := make([]Piece, n)
	for i := range pieces {
		pieces[i] = Piece{Off: int64(i) * step, B: []byte("Status: RO\nX-Status: AF\n\n")}
	}
	ways := []struct {
		name  string
		write func(*os.File, []Piece) error
	}{
		{"ring", func(f *os.File, p []Piece) error {
			if done, err := ringWrite(f, p); !done {
				b.Skip("no io_uring here")
			} else if err != nil {
				return err
			}
			return nil
		}},
		{"pwrite", pwriteAll},
	}
	for _, way := range ways {
		b.Run(way.name, func(b *testing.B) {
			for b.Loop() {
				if err := way.write(f, pieces); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/piece")
		})
	}
}

func BenchmarkWriteAt50kPieces(b *testing.B) {
	benchWrite(b, benchFile(b), 50000, benchSize/50000)
}

// BenchmarkWriteAtFewPieces finds where a ring starts to pay for its set-up (ringMin), on
// messages 21 KB apart as in a 1 GB mbox of 50,000.
func BenchmarkWriteAtFewPieces(b *testing.B) {
	f := benchFile(b)
	for _, n := range []int{8, 16, 32, 64, 128, 256} {
		b.Run(fmt.Sprint(n), func(b *testing.B) { benchWrite(b, f, n, 21<<10) })
	}
}

func TestThePaceFollowsTheCompletionsFoundAfterASleep(t *testing.T) {
	for _, tc := range []struct {
		name       string
		done, held uint32
		longer     bool
	}{
		{"none done: sleep longer", 0, 1000, true},
		{"all done: sleep shorter", 1000, 1000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := pacer{perWrite: time.Microsecond, slept: time.Now().Add(-time.Duration(tc.held) * time.Microsecond)}
			p.saw(tc.done, tc.held)
			if longer := p.perWrite > time.Microsecond; longer != tc.longer {
				t.Errorf("pace %v after %d of %d done in %d µs", p.perWrite, tc.done, tc.held, tc.held)
			}
		})
	}
	p := pacer{perWrite: time.Microsecond, slept: time.Now().Add(-3 * time.Millisecond)}
	p.saw(1000, 2000)
	if p.perWrite < 3*time.Microsecond {
		t.Errorf("pace %v after 1000 of 2000 done in 3 ms, want about 3 µs a write", p.perWrite)
	}
}
