package filewrite

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"syscall"
	"testing"
)

// spread returns n spans at random offsets of a file of size bytes, some empty, some
// overlapping, in random order.
func spread(rng *rand.Rand, n int, size int64) []Span {
	spans := make([]Span, n)
	for i := range spans {
		l := rng.IntN(300)
		if i%17 == 0 {
			l = 0
		}
		spans[i] = Span{Off: rng.Int64N(size - int64(l) + 1), N: l}
	}
	return spans
}

// checkRead reads spans of a file of random bytes with rd and compares what it gives with
// the file's bytes.
func checkRead(t *testing.T, rd *Reader, seed uint64, n int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed))
	content := randomBytes(rng, max(n*200, 4096))
	f := fileWith(t, t.TempDir(), "mbox", content, os.O_RDONLY)
	spans := spread(rng, n, int64(len(content)))
	got, err := rd.Read(f, spans)
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for _, s := range spans {
		want = append(want, content[s.Off:s.Off+int64(s.N)]...)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%d spans: the bytes read differ from the file's", n)
	}
}

func TestEverySpanIsReadFromItsOffset(t *testing.T) {
	for _, path := range paths {
		t.Run(path.name, func(t *testing.T) {
			withPath(t, path.force)
			for _, n := range []int{0, 1, readRingMin, readEntries + 1, 3*readEntries + 7} {
				var rd Reader
				checkRead(t, &rd, uint64(n), n)
				rd.Close()
			}
		})
	}
}

// TestTheRingIsUsedForReadsWhereTheKernelHasIt makes sure the reads through the ring are
// not through pread unawares, and that one ring serves call after call, on other files.
func TestTheRingIsUsedForReadsWhereTheKernelHasIt(t *testing.T) {
	needRing(t)
	var rd Reader
	defer rd.Close()
	checkRead(t, &rd, 1, 100)
	r := rd.ring
	if r == nil {
		t.Fatal("no ring after reading 100 spans")
	}
	for seed := range uint64(20) {
		checkRead(t, &rd, seed, 1+int(seed)*40)
	}
	if rd.ring != r {
		t.Error("a new ring was set up for a later call")
	}
}

func TestReadsCutShortAreFinished(t *testing.T) {
	needRing(t)
	old := maxLen
	maxLen = 7
	t.Cleanup(func() { maxLen = old })
	var rd Reader
	defer rd.Close()
	checkRead(t, &rd, 3, 500)
}

func TestASpanPastTheEndOfTheFileIsAnErrorNamingIt(t *testing.T) {
	for _, path := range paths {
		t.Run(path.name, func(t *testing.T) {
			withPath(t, path.force)
			f := fileWith(t, t.TempDir(), "short", bytes.Repeat([]byte("x"), 1000), os.O_RDONLY)
			spans := make([]Span, 50)
			for i := range spans {
				spans[i] = Span{Off: int64(i * 10), N: 10}
			}
			spans[30] = Span{Off: 995, N: 10}
			var rd Reader
			defer rd.Close()
			_, err := rd.Read(f, spans)
			if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(fmt.Sprint(err), f.Name()) {
				t.Fatalf("error %v, want the file's end before the span's, naming %s", err, f.Name())
			}
			// The Reader is good for the next call.
			if _, err := rd.Read(f, spans[:30]); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestASpanAtANegativeOffsetIsRefusedBeforeAnyRead(t *testing.T) {
	f := fileWith(t, t.TempDir(), "f", []byte("abc"), os.O_RDONLY)
	var rd Reader
	if _, err := rd.Read(f, []Span{{0, 1}, {-1, 1}}); !errors.Is(err, errNegativeOffset) {
		t.Fatalf("error %v, want a negative offset refused", err)
	}
}

// TestAKernelThatStopsTakingReadsLeavesThemToPread plays io_uring_enter refusing every call
// after the first: the call is read with pread, and a refusal for good ends the rings of the
// process.
func TestAKernelThatStopsTakingReadsLeavesThemToPread(t *testing.T) {
	for _, refusal := range []syscall.Errno{syscall.EAGAIN, syscall.EPERM} {
		t.Run(refusal.Error(), func(t *testing.T) {
			needRing(t)
			calls := refuseEnter(t, refusal, func(uint32) bool { return true })
			var rd Reader
			defer rd.Close()
			checkRead(t, &rd, 4, 3*readEntries)
			if *calls < 2 {
				t.Errorf("io_uring_enter called %d times, want the refusal seen", *calls)
			}
			if disabled := setupTry.Load() == int32(len(setupFlags)); disabled != (refusal == syscall.EPERM) {
				t.Errorf("rings disabled for the process: %v after %v", disabled, refusal)
			}
			checkRead(t, &rd, 5, 100)
		})
	}
}

// A ring kept from call to call is not bound to one thread: the setup flags that would
// bind it are not asked for, and a refusal of the others moves both kinds on.
func TestAReadersRingIsNotBoundToOneThread(t *testing.T) {
	if setupFlags[setupReused]&setupSingleIssuer != 0 {
		t.Fatal("a Reader's ring may be set up bound to its thread")
	}
	for _, fl := range setupFlags[:setupReused] {
		if fl&setupSingleIssuer == 0 {
			t.Fatal("flags before setupReused that do not bind the ring")
		}
	}
}

// BenchmarkReadHeaders reads 128 spans of 300 bytes 21 KB apart (the headers of a batch of
// FETCH 1:* ENVELOPE in a 1 GB mbox of 50,000 messages) through the ring and with pread.
func BenchmarkReadHeaders(b *testing.B) {
	f := benchFile(b)
	spans := make([]Span, 128)
	for i := range spans {
		spans[i] = Span{Off: int64(i)*21<<10 + 4096, N: 300}
	}
	for _, force := range []bool{false, true} {
		b.Run(map[bool]string{false: "ring", true: "pread"}[force], func(b *testing.B) {
			withPath(b, force)
			var rd Reader
			defer rd.Close()
			for b.Loop() {
				if _, err := rd.Read(f, spans); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(spans)), "ns/span")
		})
	}
}
