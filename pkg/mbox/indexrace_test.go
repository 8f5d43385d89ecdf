package mbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Two sessions of a mailbox may save its index at once (a cache saved at
// close holds no mailbox lock): the one whose checks passed first must
// append before the other looks, or the other's record is written over,
// or lost behind garbage the readers stop at.
func TestASaveRacingAnotherBetweenItsCheckAndItsWriteLosesNeitherRecord(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "Mailbox")
	var b strings.Builder
	for i := range 5 {
		fmt.Fprintf(&b, "From a@example.org Mon May  6 07:08:09 2024\nMessage-ID: <%d@x>\n\nbody %d\n\n", i, i)
	}
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	idx := scannedIndex(t, p)
	idx.Number(nil, time.Unix(1800000000, 0))
	ip := IndexPath(p)
	if err := idx.Save(ip); err != nil {
		t.Fatal(err)
	}
	short, _ := LoadIndex(ip)
	long, _ := LoadIndex(ip)
	if short == nil || long == nil {
		t.Fatal("the index does not load")
	}
	short.RecentFrom = 3 // a record of the header alone
	long.RecentFrom = 4
	long.dirty(0) // a record of every entry

	// The long save runs at the short one's step if nothing holds the
	// index file then, else once the short one is done.
	defer func(f func()) { saveStep = f }(saveStep)
	later := false
	saveStep = func() {
		saveStep = func() {}
		probe, err := os.Open(ip)
		if err != nil {
			t.Fatal(err)
		}
		defer probe.Close()
		if unix.Flock(int(probe.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
			later = true
			return
		}
		unix.Flock(int(probe.Fd()), unix.LOCK_UN)
		if err := long.Save(ip); err != nil {
			t.Fatal(err)
		}
	}
	if err := short.Save(ip); err != nil {
		t.Fatal(err)
	}
	if later {
		if err := long.Save(ip); err != nil {
			t.Fatal(err)
		}
	}
	long.RecentFrom = 5
	if err := long.Save(ip); err != nil {
		t.Fatal(err)
	}
	back, _ := LoadIndex(ip)
	if back == nil || back.RecentFrom != 5 {
		t.Fatalf("the last save does not load: %v", back != nil && back.RecentFrom == 5)
	}
}
