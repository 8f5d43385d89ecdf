package mbox_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"unixmail/internal/sandbox"
	"unixmail/pkg/mbox"
)

// stored is what a message's content must read back as: line ends LF
// (any CRs before an LF dropped), and a final line end added if missing.
func stored(content string) string {
	if content != "" && !strings.HasSuffix(content, "\n") {
		content += "\n"
	}
	return crsBeforeLF.ReplaceAllString(content, "\n")
}

var crsBeforeLF = regexp.MustCompile(`\r+\n`)

var roundTripContents = []struct{ name, content string }{
	{"plain", "Subject: plain\n\nHello.\n"},
	{"From lines", "Subject: q\n\nFrom here\n>From there\n>>From everywhere\n>>>From x\nFrom\nFromage\n >From y\n"},
	{"a From_ line with a valid date in the body", "S: 1\n\n" + from2 + "\n" + from3},
	{"CRLF", "Subject: crlf\r\n\r\nline one\r\nFrom two\r\n>From three\r\n"},
	{"no final newline", "Subject: x\n\nlast line"},
	{"no final newline after a From line", "Subject: x\n\nFrom the end"},
	{"header only", "Subject: x\n"},
	{"header and blank line only", "Subject: x\n\n"},
	{"empty", ""},
	{"trailing blank lines", "Subject: x\n\nbody\n\n\n"},
	{"a long line", "Subject: long\n\n" + strings.Repeat("x", 200<<10) + "\nend\n"},
	{"a long From line", "Subject: long\n\n>>From " + strings.Repeat("y", 100<<10) + "\n"},
	{"a CRLF across the writer's buffer", "S: 1\n\n" + strings.Repeat("z", 64<<10-1) + "\r\nnext\n"},
	{"NUL bytes", "Subject: nul\n\na\x00b\n\x00\nFrom \x00\n"},
	{"a bare CR", "Subject: cr\n\na\rb\n\r\nc\r"},
	{"CRs before LF", "S: 1\n\na\r\r\nb\r\r\r\n"},
	{"a run of CRs longer than the writer's buffer", "S: 1\n\nx" + strings.Repeat("\r", 150<<10) + "\ny" + strings.Repeat("\r", 70<<10) + "z\n"},
}

func TestWriteMessageRoundTripsThroughTheScanner(t *testing.T) {
	var file bytes.Buffer
	when := time.Date(2026, 11, 25, 17, 24, 14, 0, time.UTC)
	for _, c := range roundTripContents {
		before := file.Len()
		n, err := mbox.WriteMessage(&file, mbox.FromLine("sender@example.org", when), strings.NewReader(c.content))
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(file.Len()-before) {
			t.Fatalf("%s: WriteMessage reported %d bytes, wrote %d", c.name, n, file.Len()-before)
		}
	}
	msgs := mustScan(t, file.Bytes())
	checkLayout(t, file.Bytes(), msgs)
	if len(msgs) != len(roundTripContents) {
		t.Fatalf("got %d messages, wrote %d", len(msgs), len(roundTripContents))
	}
	for i, c := range roundTripContents {
		if want := stored(c.content); msgs[i].content != want {
			t.Errorf("%s: read back %.200q, want %.200q", c.name, msgs[i].content, want)
		}
		if msgs[i].Sender != "sender@example.org" || !msgs[i].Date.Equal(when) {
			t.Errorf("%s: From_ line read as %q %v", c.name, msgs[i].Sender, msgs[i].Date)
		}
	}
}

func TestWriteMessageQuotesTheMboxrdWay(t *testing.T) {
	var b bytes.Buffer
	mbox.WriteMessage(&b, "From a Wed Nov 25 17:24:14 2026", strings.NewReader("S: 1\n\nFrom x\n>From y\n>Fromage\nFrom\n"))
	want := "From a Wed Nov 25 17:24:14 2026\nS: 1\n\n>From x\n>>From y\n>Fromage\nFrom\n\n"
	if b.String() != want {
		t.Errorf("wrote %q, want %q", b.String(), want)
	}
}

func TestFromLineReadsBack(t *testing.T) {
	tests := []struct {
		sender, want string
	}{
		{"a@b", "a@b"},
		{"", "MAILER-DAEMON"},
		{"with space@x", "with_space@x"},
		{"tab\tand\nnl", "tab_and_nl"},
	}
	when := time.Date(2026, 1, 5, 7, 8, 9, 0, time.UTC)
	for _, tt := range tests {
		line := mbox.FromLine(tt.sender, when)
		sender, date, ok := mbox.ParseFromLine([]byte(line))
		if !ok || sender != tt.want || !date.Equal(when) {
			t.Errorf("FromLine(%q) = %q, read back %q %v %v", tt.sender, line, sender, date, ok)
		}
	}
}

// TestPythonReadsWhatWeWrite hands a mailbox we wrote to Python's
// mailbox.mbox, which splits on every "From " line and does not unquote:
// the script undoes one '>' of ^>+From  lines itself.
func TestPythonReadsWhatWeWrite(t *testing.T) {
	py := sandbox.NeedPeer(t, "python3")
	path := filepath.Join(t.TempDir(), "mbox")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range roundTripContents {
		if _, err := mbox.WriteMessage(f, mbox.FromLine("a@b", time.Now()), strings.NewReader(c.content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	const script = `
import base64, json, mailbox, re, sys
box = mailbox.mbox(sys.argv[1], create=False)
out = []
for key in box.iterkeys():
    b = box.get_bytes(key)
    b = re.sub(rb'(?m)^>(>*From )', rb'\1', b)
    out.append(base64.b64encode(b).decode())
print(json.dumps(out))
`
	out, err := exec.Command(py, "-c", script, path).Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	var got [][]byte
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("python3 output %q: %v", out, err)
	}
	if len(got) != len(roundTripContents) {
		t.Fatalf("python3 read %d messages, we wrote %d", len(got), len(roundTripContents))
	}
	for i, c := range roundTripContents {
		if want := stored(c.content); string(got[i]) != want {
			t.Errorf("%s: python3 read %.200q, want %.200q", c.name, got[i], want)
		}
	}
}
