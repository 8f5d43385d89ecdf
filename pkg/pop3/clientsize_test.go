package pop3

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"unixmail/pkg/mbox"
)

// sentText is what RETR sends of a message stored as raw, before the
// dot-stuffing: what ClientSize counts and mbox.ClientContent gives.
func sentText(t *testing.T, raw io.Reader) []byte {
	t.Helper()
	var b bytes.Buffer
	w := bufio.NewWriterSize(&b, 64<<10)
	if err := writeText(w, bufio.NewReaderSize(raw, 64<<10), -1, true, false); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	return b.Bytes()
}

// checkClientSizes scans the mbox data as a file and as a stream read a
// byte at a time (every buffer boundary falls everywhere), and checks each
// message's ClientSize against what the send path makes of it. It returns
// how many messages had a known size.
func checkClientSizes(t *testing.T, data []byte) int {
	t.Helper()
	known := 0
	for _, r := range []io.Reader{bytes.NewReader(data), iotest.OneByteReader(bytes.NewReader(data))} {
		s := mbox.NewScanner(r)
		for k := 0; s.Next(); k++ {
			m := s.Message()
			want := sentText(t, m.Raw(bytes.NewReader(data)))
			if got, _ := io.ReadAll(m.ClientContent(bytes.NewReader(data))); !bytes.Equal(got, want) {
				t.Fatalf("message %d (%d..%d): ClientContent gives %q, RETR sends %q", k+1, m.HeaderOffset, m.End, got, want)
			}
			if m.ClientSize < 0 {
				continue
			}
			known++
			if m.ClientSize != int64(len(want)) {
				t.Fatalf("message %d (%d..%d): ClientSize %d, RETR sends %d", k+1, m.HeaderOffset, m.End, m.ClientSize, len(want))
			}
		}
	}
	return known
}

func TestClientSizeIsWhatRetrSendsForEveryFixtureOfTheRealPrograms(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "mbox", "testdata", "fixtures", "*", "*.mbox"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(filepath.Dir(file))+"/"+filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count("\n"+string(data), "\nFrom "); n > 0 && checkClientSizes(t, data) == 0 {
				t.Fatal("no message's size known")
			}
		})
	}
}

func TestClientSizeIsWhatRetrSendsAcrossBufferBoundariesAndLongLines(t *testing.T) {
	from := "From a@b Sat Jan  3 01:05:34 1996\n"
	long := strings.Repeat("x", 300<<10)
	cases := []struct {
		name, mbox string
		unknown    bool // left for the send path to count
	}{
		{"a quoting run longer than a read", from + "S: x\n\n" + strings.Repeat(">", 900) + "From me\nend\n", false},
		{"a quoting run past the scanner's first buffer", from + "S: x\n\n" + long + "\n" + strings.Repeat(">", 70) + "From me\n" + long + ">From x\n", false},
		{"a quoting run too long to be sure of", from + "S: x\n\n" + strings.Repeat(">", 70<<10) + "From me\n", true},
		{"a line longer than the buffer", from + "S: x\n\n" + long + long + "\r\n>From x\r\n", false},
		{"a CRLF mbox", strings.ReplaceAll(from+"Status: RO\nX-UID: 4\n folded\nS: x\n\n>From x\nb\n\n"+from+"S: y\n\nlast", "\n", "\r\n"), false},
		{"no line end at the end", from + "S: x\n\nbody\r", false},
		{"a header ending the file", from + "S: x\nX-Status: F", false},
		{"a header with no body before the next message", from + "S: x\n\n" + from + "S: y\n\n\n", false},
		{"a quoted From_ line in the header", from + ">From x\nS: y\n\n", false},
		{"From_ lines that do not separate", from + "S: x\n\nFrom here\n>From there\nFrom x\n", false},
		{"lone CRs", from + "S: \rx\n\n\r\r\n\r", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if known := checkClientSizes(t, []byte(c.mbox)); (known == 0) != c.unknown {
				t.Fatalf("%d sizes known", known)
			}
		})
	}
}
