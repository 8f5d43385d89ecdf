package pop3

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

func text(t testing.TB, in string, lines int) string {
	t.Helper()
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	if err := writeText(w, bufio.NewReaderSize(strings.NewReader(in), 64<<10), lines, false, true); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	return b.String()
}

func TestWriteTextUndoesMboxrdQuotingWhenAsked(t *testing.T) {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	in := "A: b\n\n>From x\n>>From y\n>Fromage\n.>From z\nFrom w\n"
	writeText(w, bufio.NewReader(strings.NewReader(in)), -1, true, true)
	w.Flush()
	if want := "A: b\r\n\r\nFrom x\r\n>From y\r\n>Fromage\r\n..>From z\r\nFrom w\r\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

func TestWriteTextStuffsDotsEndsLinesInCRLFAndCutsTop(t *testing.T) {
	long := strings.Repeat("x", 200000)
	tests := []struct {
		name  string
		in    string
		lines int
		want  string
	}{
		{"LF lines become CRLF", "A: b\n\nbody\n", -1, "A: b\r\n\r\nbody\r\n"},
		{"CRLF lines stay", "A: b\r\n\r\nbody\r\n", -1, "A: b\r\n\r\nbody\r\n"},
		{"a leading dot is doubled", ".\n..x\n x.\n", -1, "..\r\n...x\r\n x.\r\n"},
		{"no final newline gets one", "A: b\n\nend", -1, "A: b\r\n\r\nend\r\n"},
		{"empty message", "", -1, ""},
		{"TOP 0 keeps the header and the blank line", "A: b\nC: d\n\none\ntwo\n", 0, "A: b\r\nC: d\r\n\r\n"},
		{"TOP 1", "A: b\n\none\ntwo\n", 1, "A: b\r\n\r\none\r\n"},
		{"TOP past the end", "A: b\n\none\n", 5, "A: b\r\n\r\none\r\n"},
		{"a long line goes out whole, stuffed once", "." + long + "\n.x\n", -1, ".." + long + "\r\n..x\r\n"},
		{"a bare CR inside a line is kept", "a\rb\n", -1, "a\rb\r\n"},
		{"a CR at a buffer boundary before LF", strings.Repeat("y", 65535) + "\r\nz\n", -1, strings.Repeat("y", 65535) + "\r\nz\r\n"},
	}
	for _, tt := range tests {
		if got := text(t, tt.in, tt.lines); got != tt.want {
			g, w := got, tt.want
			if len(g) > 80 {
				g, w = g[len(g)-40:], w[max(len(w)-40, 0):]
			}
			t.Errorf("%s: got ...%q, want ...%q", tt.name, g, w)
		}
	}
}

// FuzzWriteText checks what any text becomes: CRLF lines only, no line
// that a client would take for the end, and the original back after
// undoing the stuffing (line ends aside).
func FuzzWriteText(f *testing.F) {
	f.Add("A: b\n\n.\n..\nx")
	f.Add("\r\r\n\n.\r")
	f.Fuzz(func(t *testing.T, in string) {
		out := text(t, in, -1)
		if out != "" && !strings.HasSuffix(out, "\r\n") {
			t.Fatalf("does not end in CRLF: %q", out)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n")
		var back []string
		for _, l := range lines {
			if l == "." {
				t.Fatalf("a lone dot line in %q", out)
			}
			if strings.HasPrefix(l, ".") {
				l = l[1:]
			}
			back = append(back, l)
		}
		want := strings.ReplaceAll(in, "\r\n", "\n")
		want = strings.TrimSuffix(want, "\n")
		if out != "" && strings.Join(back, "\n") != want {
			t.Fatalf("round trip: %q -> %q", in, out)
		}
	})
}

// The mbox's bookkeeping stays in the mbox: RETR and TOP of mbox text
// leave out the state header fields, folded lines included, and nothing
// in the body.
func TestWriteTextOfMboxTextHidesTheStateHeaders(t *testing.T) {
	long := "X-Keywords: " + strings.Repeat("k", 100000) + "\n"
	tests := []struct {
		name, in string
		lines    int
		want     string
	}{
		{"every state header", "Status: RO\nX-Status: F\nSubject: s\nX-Keywords: a\nX-UID: 7\nX-IMAPbase: 1 9\nX-IMAP: 1 9\ncontent-length: 5\n\nbody\n", -1, "Subject: s\r\n\r\nbody\r\n"},
		{"a folded state header, continuation and all", "X-Keywords: a\n b\n\tc\nTo: t\n folded\n\nbody\n", -1, "To: t\r\n folded\r\n\r\nbody\r\n"},
		{"a state header longer than the buffer", long + "A: b\n\nx\n", -1, "A: b\r\n\r\nx\r\n"},
		{"CRLF lines", "Status: O\r\nA: b\r\n\r\nx\r\n", -1, "A: b\r\n\r\nx\r\n"},
		{"TOP 0", "A: b\nX-UID: 3\n\nbody\n", 0, "A: b\r\n\r\n"},
		{"the same lines in the body stay", "A: b\n\nStatus: RO\nX-UID: 1\n", -1, "A: b\r\n\r\nStatus: RO\r\nX-UID: 1\r\n"},
		{"a last state header without its line end", "A: b\nStatus: RO", -1, "A: b\r\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		w := bufio.NewWriter(&b)
		if err := writeText(w, bufio.NewReaderSize(strings.NewReader(tt.in), 64<<10), tt.lines, true, true); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		if b.String() != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, b.String(), tt.want)
		}
	}
}

// FuzzSizeIsWhatRetrSends checks that the size LIST counts (the text
// without its dots doubled) is RETR's text with the stuffing undone, for
// any mbox text: quoted From lines, state headers, CRs anywhere; and that
// the mbox scanner's ClientSize of the text stored as mbox messages is
// that count too.
func FuzzSizeIsWhatRetrSends(f *testing.F) {
	f.Add("Status: RO\nX-UID: 1\n folded\nA: b\n\n>From x\n.y\r\nend")
	f.Add(">>From \r\n\r\n.\r")
	f.Add("S: x\r\n\r\n>>From y\r\n\r\nFrom a@b Sat Jan  3 01:05:34 1996\r\nX-UID: 3\r\n\r\nz")
	f.Fuzz(func(t *testing.T, in string) {
		render := func(stuff bool) string {
			var b bytes.Buffer
			w := bufio.NewWriterSize(&b, 16)
			if err := writeText(w, bufio.NewReaderSize(strings.NewReader(in), 16), -1, true, stuff); err != nil {
				t.Fatal(err)
			}
			w.Flush()
			return b.String()
		}
		sent, counted := render(true), render(false)
		lines := strings.Split(sent, "\r\n")
		for k, l := range lines {
			lines[k] = strings.TrimPrefix(l, ".")
		}
		if unstuffed := strings.Join(lines, "\r\n"); unstuffed != counted {
			t.Fatalf("sent %q, unstuffed %q, counted %q", sent, unstuffed, counted)
		}
		checkClientSizes(t, []byte("From a@b Sat Jan  3 01:05:34 1996\n"+in))
	})
}
