package mbox_test

import (
	"bytes"
	"io"
	"testing"

	"unixmail/pkg/mbox"
)

// scanned is one message as a test sees it: the Scanner's record with the
// header copied out (the Scanner reuses its buffer) and the content read
// back through Message.Content.
type scanned struct {
	mbox.Message
	content string
}

// scanAll reads every message of data. The reader is a *bytes.Reader, so
// the Scanner can check Content-Length headers as it does on a file.
func scanAll(t testing.TB, data []byte) ([]scanned, *mbox.Base, error) {
	t.Helper()
	return scanFrom(t, bytes.NewReader(data), bytes.NewReader(data))
}

func scanFrom(t testing.TB, r io.Reader, ra io.ReaderAt) ([]scanned, *mbox.Base, error) {
	t.Helper()
	s := mbox.NewScanner(r)
	var out []scanned
	for s.Next() {
		m := *s.Message()
		m.Header = append([]byte(nil), m.Header...)
		m.Keywords = append([]string(nil), m.Keywords...)
		c, err := io.ReadAll(m.Content(ra))
		if err != nil {
			t.Fatalf("read content of message %d: %v", len(out)+1, err)
		}
		out = append(out, scanned{Message: m, content: string(c)})
	}
	return out, s.Base(), s.Err()
}

// mustScan is scanAll for input that must be a valid mbox.
func mustScan(t testing.TB, data []byte) []scanned {
	t.Helper()
	msgs, _, err := scanAll(t, data)
	if err != nil {
		t.Fatalf("scan: %v\ninput:\n%q", err, data)
	}
	return msgs
}

// checkLayout asserts what must hold for every scan of every input: the
// messages tile the file from the first From_ line to its end, each begins
// with "From ", and its offsets are in order.
func checkLayout(t testing.TB, data []byte, msgs []scanned) {
	t.Helper()
	for i, m := range msgs {
		if !(m.Offset < m.HeaderOffset && m.HeaderOffset <= m.BodyOffset && m.BodyOffset <= m.End && m.End <= m.Next) {
			t.Fatalf("message %d: offsets out of order: %d %d %d %d %d\ninput: %q", i+1, m.Offset, m.HeaderOffset, m.BodyOffset, m.End, m.Next, data)
		}
		if m.Next > int64(len(data)) {
			t.Fatalf("message %d ends at %d, past the end of the file (%d)", i+1, m.Next, len(data))
		}
		if !bytes.HasPrefix(data[m.Offset:], []byte("From ")) {
			t.Fatalf("message %d at %d does not begin with \"From \"\ninput: %q", i+1, m.Offset, data)
		}
		if i > 0 && msgs[i-1].Next != m.Offset {
			t.Fatalf("message %d begins at %d, but message %d ended at %d", i+1, m.Offset, i, msgs[i-1].Next)
		}
		if got, want := m.Lines, countLines(data[m.HeaderOffset:m.End]); got != want {
			t.Fatalf("message %d: Lines = %d, its content has %d\ninput: %q", i+1, got, want, data)
		}
		if !bytes.Equal(m.Header, data[m.HeaderOffset:m.BodyOffset]) {
			t.Fatalf("message %d: Header = %q, file has %q there", i+1, m.Header, data[m.HeaderOffset:m.BodyOffset])
		}
	}
	if len(msgs) > 0 && msgs[len(msgs)-1].Next != int64(len(data)) {
		t.Fatalf("last message ends at %d, the file at %d", msgs[len(msgs)-1].Next, len(data))
	}
}

// countLines counts lines the way a reader does: a last line without its
// line end is still a line.
func countLines(b []byte) int {
	n := bytes.Count(b, []byte("\n"))
	if len(b) > 0 && b[len(b)-1] != '\n' {
		n++
	}
	return n
}
