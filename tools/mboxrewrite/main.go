// Command mboxrewrite times one in-place rewrite of an mbox, the way an
// IMAP or POP3 server makes it (the message offsets known from a scan, as
// its index holds them), for `make bench`:
//
//	mboxrewrite FILE seen|unseen|last|first|spread
//
// seen and unseen set or clear \Seen on the middle message; last and first
// expunge that message; spread expunges every tenth. It prints the
// seconds the rewrite took (open, locks, journal, writes, syncs) and the
// bytes it wrote, journal included: wchar of /proc/self/io (bytes handed
// to write calls) and write_bytes (pages it dirtied for the disk).
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"unixmail/pkg/mbox"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: mboxrewrite FILE seen|unseen|last|first|spread")
		os.Exit(64)
	}
	path, op := os.Args[1], os.Args[2]
	f, err := os.Open(path)
	if err != nil {
		fail(err)
	}
	fi, _ := f.Stat()
	type entry struct {
		off int64
		st  mbox.State
	}
	msgs, _, err := mbox.ScanFile(f, fi.Size(), 0, func(m *mbox.Message) entry {
		st := m.State
		st.Keywords = append([]string(nil), m.Keywords...)
		return entry{m.Offset, st}
	})
	f.Close()
	if err != nil {
		fail(err)
	}
	offsets := make([]int64, len(msgs))
	for i, m := range msgs {
		offsets[i] = m.off
	}
	changes := map[int]mbox.Change{}
	mid := len(msgs) / 2
	switch op {
	case "seen", "unseen":
		st := msgs[mid].st
		st.Flags |= mbox.Seen
		if op == "unseen" {
			st.Flags &^= mbox.Seen
		}
		changes[mid] = mbox.Change{State: &st}
	case "last":
		changes[len(msgs)-1] = mbox.Change{Drop: true}
	case "first":
		changes[0] = mbox.Change{Drop: true}
	case "spread":
		for i := 9; i < len(msgs); i += 10 {
			changes[i] = mbox.Change{Drop: true}
		}
	default:
		fmt.Fprintln(os.Stderr, "mboxrewrite: unknown operation", op)
		os.Exit(64)
	}
	c0, w0 := ioCounts()
	start := time.Now()
	mb, err := mbox.Open(path, mbox.OpenOptions{Owner: -1})
	if err != nil {
		fail(err)
	}
	if err := mbox.RewriteSome(mb, fi.Size(), offsets, changes); err != nil {
		fail(err)
	}
	mb.Close()
	el := time.Since(start)
	c1, w1 := ioCounts()
	fmt.Printf("%.4f %d %d\n", el.Seconds(), c1-c0, w1-w0)
}

// ioCounts is this process's wchar and write_bytes from /proc/self/io.
func ioCounts() (wchar, writeBytes int64) {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, _ := strings.Cut(s.Text(), ": ")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "wchar":
			wchar = n
		case "write_bytes":
			writeBytes = n
		}
	}
	return wchar, writeBytes
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mboxrewrite:", err)
	os.Exit(1)
}
