package mbox_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"unixmail/pkg/mbox"
)

// generateMbox writes a mailbox of about size bytes, the same for the same
// seed: messages of a few hundred bytes to tens of kilobytes with the
// headers a delivered message has, state headers on some, and body lines
// that need quoting on others.
func generateMbox(tb testing.TB, path string, size int64, seed uint64) int {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	words := strings.Fields("the quick brown fox jumps over lazy dog mail box message From from reply thanks regards meeting tomorrow report attached see below")
	when := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var written int64
	n := 0
	for written < size {
		n++
		var m strings.Builder
		fmt.Fprintf(&m, "Return-Path: <user%d@example.org>\n", rng.IntN(1000))
		fmt.Fprintf(&m, "Received: from mx%d.example.org by mail.example.net; %s\n", rng.IntN(10), when.Format(time.RFC1123Z))
		fmt.Fprintf(&m, "From: User %d <user%d@example.org>\nTo: you@example.net\n", n, n)
		fmt.Fprintf(&m, "Subject: message %d about %s\nDate: %s\nMessage-ID: <%d.%d@example.org>\n", n, words[rng.IntN(len(words))], when.Format(time.RFC1123Z), n, rng.Uint32())
		if rng.IntN(2) == 0 {
			fmt.Fprintf(&m, "Status: RO\nX-Status: F\nX-Keywords: $Work\nX-UID: %d\n", n)
		}
		m.WriteString("\n")
		lines := 5 + rng.IntN(200)
		if rng.IntN(20) == 0 {
			lines *= 20
		}
		for i := 0; i < lines; i++ {
			if rng.IntN(50) == 0 {
				m.WriteString("From the archive, a line to quote\n")
				continue
			}
			for k := rng.IntN(14); k > 0; k-- {
				m.WriteString(words[rng.IntN(len(words))])
				m.WriteByte(' ')
			}
			m.WriteString("end\n")
		}
		k, err := mbox.WriteMessage(w, mbox.FromLine(fmt.Sprintf("user%d@example.org", n), when), strings.NewReader(m.String()))
		if err != nil {
			tb.Fatal(err)
		}
		written += k
		when = when.Add(time.Duration(rng.IntN(3600)) * time.Second)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return n
}

func TestGeneratedMboxScansToTheMessagesWritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gen")
	n := generateMbox(t, path, 2<<20, 1)
	if got := countMessages(t, path); got != n {
		t.Errorf("scanned %d messages, generated %d", got, n)
	}
}

// BenchmarkScan scans a generated 50 MB mailbox from the page cache; the
// MB/s column is the scan speed, peak-RSS-MB the process's high-water mark.
func BenchmarkScan(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.mbox")
	want := generateMbox(b, path, 50<<20, 42)
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		s := mbox.NewScanner(f)
		n := 0
		for s.Next() {
			n++
		}
		f.Close()
		if s.Err() != nil || n != want {
			b.Fatalf("scanned %d messages (%v), want %d", n, s.Err(), want)
		}
	}
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB")
	}
}

// BenchmarkWriteStatesOfEveryMessage changes a flag of every message of a
// 90 MB mailbox whose messages all have room (STORE 1:* +FLAGS \Seen and
// back, in place, not synced): the reads of the headers and the writes,
// each message's fields in a page of their own, as in a big mailbox.
func BenchmarkWriteStatesOfEveryMessage(b *testing.B) {
	const n = 20000
	path := filepath.Join(b.TempDir(), "Mailbox")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	body := strings.Repeat("a line of the body of the message, as long as most are.....\n", 75)
	for i := range n {
		fmt.Fprintf(w, "From a@example.org Mon May  6 07:08:09 2024\nFrom: a@example.org\nSubject: m%d\nMessage-ID: <%d@example.org>\n%s\n%s\n", i, i, mbox.Padding(), body)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	mb, err := mbox.Open(path, mbox.OpenOptions{Owner: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer mb.Close()
	idx, err := mbox.UpdateIndex(nil, mb.File)
	if err != nil {
		b.Fatal(err)
	}
	flags := []mbox.Flags{mbox.Seen | mbox.Old, mbox.Old}
	i := 0
	for b.Loop() {
		states := make([]mbox.NumberedState, len(idx.Entries))
		for j := range states {
			states[j] = mbox.NumberedState{I: j, State: mbox.State{Flags: flags[i%2]}}
		}
		out, ok, err := mbox.WriteStates(mb, idx, states, false)
		if err != nil || !ok {
			b.Fatalf("ok %v, err %v", ok, err)
		}
		idx = out
		i++
	}
}
