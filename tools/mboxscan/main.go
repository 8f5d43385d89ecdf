// Command mboxscan scans an mbox with pkg/mbox and reports messages, MB/s
// and peak RSS, for `make bench`.
package main

import (
	"fmt"
	"os"
	"syscall"
	"time"

	"unixmail/pkg/mbox"
)

func main() {
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(66)
	}
	fi, _ := f.Stat()
	start := time.Now()
	offsets, _, err := mbox.ScanFile(f, fi.Size(), 0, func(m *mbox.Message) int64 { return m.Offset })
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(65)
	}
	n := len(offsets)
	el := time.Since(start)
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Printf("scan: %d messages, %.0f MB in %.3f s = %.0f MB/s, peak RSS %.1f MiB\n",
		n, float64(fi.Size())/1e6, el.Seconds(), float64(fi.Size())/1e6/el.Seconds(), float64(ru.Maxrss)/1024)
}
