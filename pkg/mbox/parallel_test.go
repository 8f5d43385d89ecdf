package mbox_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"unixmail/internal/mboxgen"
	"unixmail/pkg/mbox"
)

type seen struct {
	Offset, HeaderOffset, BodyOffset, End, Next int64
	Lines                                       int
	Sender                                      string
	Flags                                       mbox.Flags
}

func record(m *mbox.Message) seen {
	return seen{m.Offset, m.HeaderOffset, m.BodyOffset, m.End, m.Next, m.Lines, m.Sender, m.Flags}
}

func sequential(t *testing.T, data []byte) []seen {
	t.Helper()
	s := mbox.NewScanner(bytes.NewReader(data))
	var out []seen
	for s.Next() {
		out = append(out, record(s.Message()))
	}
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	return out
}

func TestScanFileInPartsGivesWhatOneScannerGives(t *testing.T) {
	var buf bytes.Buffer
	if _, err := mboxgen.Write(&buf, mboxgen.Options{Messages: 6000, AvgSize: 8000, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	want := sequential(t, data)
	for _, workers := range []int{1, 2, 3, 7} {
		got, _, err := mbox.ScanFile(bytes.NewReader(data), int64(len(data)), workers, record)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%d workers: %d messages, want %d", workers, len(got), len(want))
		}
	}
}

func TestScanFileFallsBackWhenAContentLengthSpansTheCut(t *testing.T) {
	// One huge mboxcl2 message whose body holds valid From_ lines, then a
	// normal one: only Content-Length keeps the body whole.
	var b strings.Builder
	body := strings.Repeat("From inside@body Wed Nov 25 17:24:14 2026\nline\n\n", 800000)
	b.WriteString("From a@b Wed Nov 25 17:24:14 2026\nContent-Length: ")
	b.WriteString(strconv.Itoa(len(body)) + "\n\n" + body + "\n")
	b.WriteString("From c@d Wed Nov 25 17:24:15 2026\nSubject: last\n\nbye\n")
	data := []byte(b.String())
	want := sequential(t, data)
	if len(want) != 2 {
		t.Fatalf("sequential scan found %d messages, want 2", len(want))
	}
	got, _, err := mbox.ScanFile(bytes.NewReader(data), int64(len(data)), 4, record)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("parts gave %d messages (%v), want 2", len(got), err)
	}
}

func TestScanFileReadsTheFixtures(t *testing.T) {
	files, _ := filepath.Glob("testdata/fixtures/*/*.mbox")
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, p := range files {
		data, _ := os.ReadFile(p)
		s := mbox.NewScanner(bytes.NewReader(data))
		n := 0
		for s.Next() {
			n++
		}
		got, _, err := mbox.ScanFile(bytes.NewReader(data), int64(len(data)), 2, record)
		if (err == nil) != (s.Err() == nil) || len(got) != n {
			t.Errorf("%s: %d messages (%v), want %d (%v)", p, len(got), err, n, s.Err())
		}
	}
}

func BenchmarkScanFileParallel(b *testing.B) {
	var buf bytes.Buffer
	mboxgen.Write(&buf, mboxgen.Options{Messages: 5000, AvgSize: 10000, Seed: 1})
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		mbox.ScanFile(bytes.NewReader(data), int64(len(data)), 0, func(m *mbox.Message) int64 { return m.Offset })
	}
}
