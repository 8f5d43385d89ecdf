package mbox_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"unixmail/pkg/mbox"
)

const (
	from1 = "From alice@example.org  Wed Nov 25 17:24:14 2026\n"
	from2 = "From bob@example.net Thu Nov 26 08:00:00 2026\n"
	from3 = "From carol@example.org Fri Nov 27 09:30:00 2026\n"
)

func TestScannerFindsExactOffsets(t *testing.T) {
	// Two messages; the offsets below are counted by hand.
	data := from1 + // 0..49
		"Subject: one\n" + // 49..62
		"\n" + // 62..63
		"body one\n" + // 63..72
		"\n" + // 72..73, separator
		from2 + // 73..119
		"Subject: two\n" + // 119..132
		"\n" + // 132..133
		"body two\n" + // 133..142
		"\n" // 142..143, separator
	msgs := mustScan(t, []byte(data))
	type offs struct{ Offset, HeaderOffset, BodyOffset, End, Next int64 }
	want := []offs{{0, 49, 63, 72, 73}, {73, 119, 133, 142, 143}}
	if len(msgs) != len(want) {
		t.Fatalf("got %d messages, want %d", len(msgs), len(want))
	}
	for i, m := range msgs {
		got := offs{m.Offset, m.HeaderOffset, m.BodyOffset, m.End, m.Next}
		if got != want[i] {
			t.Errorf("message %d: offsets %+v, want %+v", i+1, got, want[i])
		}
		if m.Size() != want[i].End-want[i].HeaderOffset {
			t.Errorf("message %d: Size %d", i+1, m.Size())
		}
	}
	if msgs[0].Sender != "alice@example.org" || msgs[1].Sender != "bob@example.net" {
		t.Errorf("senders %q, %q", msgs[0].Sender, msgs[1].Sender)
	}
	if want := time.Date(2026, 11, 25, 17, 24, 14, 0, time.Local); !msgs[0].Date.Equal(want) {
		t.Errorf("date %v, want %v", msgs[0].Date, want)
	}
	checkLayout(t, []byte(data), msgs)
}

func TestScannerReadsHandMadeMailboxes(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string // each message's content, as Content gives it
	}{
		{"an empty file has no messages", "", nil},
		{"blank lines alone have no messages", "\n\n", nil},
		{"one message with the trailing blank line",
			from1 + "A: 1\n\nbody\n\n",
			[]string{"A: 1\n\nbody\n"}},
		{"one message without the trailing blank line",
			from1 + "A: 1\n\nbody\n",
			[]string{"A: 1\n\nbody\n"}},
		{"one message without a final newline",
			from1 + "A: 1\n\nbody",
			[]string{"A: 1\n\nbody"}},
		{"an empty body",
			from1 + "A: 1\n\n\n" + from2 + "B: 2\n\nb\n",
			[]string{"A: 1\n\n", "B: 2\n\nb\n"}},
		{"a header with no body and no blank line",
			from1 + "A: 1\n" + from2 + "B: 2\n",
			[]string{"A: 1\n", "B: 2\n"}},
		{"a header ended by the separator alone",
			from1 + "A: 1\n\n" + from2 + "B: 2\n\n",
			[]string{"A: 1\n", "B: 2\n"}},
		{"an empty message",
			from1 + "\n" + from2 + "B: 2\n\nb\n",
			[]string{"", "B: 2\n\nb\n"}},
		{"a From_ line with nothing after it",
			from1,
			[]string{""}},
		{"blank lines before the first From_ line are skipped",
			"\n\n" + from1 + "A: 1\n\nx\n",
			[]string{"A: 1\n\nx\n"}},
		{"a body line with an invalid date does not split",
			from1 + "A: 1\n\nFrom here on it is quoted\nFrom me to you\n\nFrom a 2024-01-01T10:00:00Z\n\nFrom a Mon, 01 Jan 2024 10:00:00 +0000\n\n" + from2 + "B: 2\n\nb\n",
			[]string{"A: 1\n\nFrom here on it is quoted\nFrom me to you\n\nFrom a 2024-01-01T10:00:00Z\n\nFrom a Mon, 01 Jan 2024 10:00:00 +0000\n", "B: 2\n\nb\n"}},
		{"a body line that is a valid From_ line splits (mboxo)",
			from1 + "A: 1\n\nx\n" + from2 + "y\n",
			[]string{"A: 1\n\nx\n", "y\n"}},
		{"a separator needs no blank line before it",
			from1 + "A: 1\n\nx\n" + from2 + "B: 2\n\ny\n",
			[]string{"A: 1\n\nx\n", "B: 2\n\ny\n"}},
		{"mboxrd quoting is undone",
			from1 + "A: 1\n\n>From a\n>>From b\n>>>From c\n>Fromage\n> From d\n\n",
			[]string{"A: 1\n\nFrom a\n>From b\n>>From c\n>Fromage\n> From d\n"}},
		{"folded headers stay in the header",
			from1 + "Subject: a\n very\n\tlong\nX-Status: F\n\nbody\n\n",
			[]string{"Subject: a\n very\n\tlong\nX-Status: F\n\nbody\n"}},
		{"CRLF line ends are read as LF",
			strings.ReplaceAll(from1+"A: 1\n\nx\n\n"+from2+"B: 2\n\ny\n\n", "\n", "\r\n"),
			[]string{"A: 1\n\nx\n", "B: 2\n\ny\n"}},
		{"three messages",
			from1 + "A: 1\n\na\n\n" + from2 + "B: 2\n\nb\n\n" + from3 + "C: 3\n\nc\n\n",
			[]string{"A: 1\n\na\n", "B: 2\n\nb\n", "C: 3\n\nc\n"}},
		{"a first line that is no From_ line makes the file one message",
			"From somebody with no date\nA: 1\n\nx\n" + from2 + "y\n",
			[]string{"A: 1\n\nx\n" + from2 + "y\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs := mustScan(t, []byte(tt.input))
			checkLayout(t, []byte(tt.input), msgs)
			var got []string
			for _, m := range msgs {
				got = append(got, m.content)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("contents\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestScannerRefusesAFileThatIsNotAnMbox(t *testing.T) {
	for _, input := range []string{
		"Subject: hi\n\nbody\n",
		"Return-Path: <a@b>\n" + from1,
		"From",
		">From a Wed Nov 25 17:24:14 2026\n",
	} {
		msgs, _, err := scanAll(t, []byte(input))
		if !errors.Is(err, mbox.ErrNotMbox) || len(msgs) != 0 {
			t.Errorf("%q: %d messages, error %v; want ErrNotMbox", input, len(msgs), err)
		}
	}
}

func TestScannerGivesTheSameResultWhateverTheReadSizes(t *testing.T) {
	data := []byte("\n" + from1 + "A: 1\n\nx\n\n" + from2 + "B: 2\n\n" + from3 + "\n" + from1 + "C: 3\n\nFrom a b\n\n")
	want := mustScan(t, data)
	for name, r := range map[string]io.Reader{
		"one byte at a time": iotest.OneByteReader(bytes.NewReader(data)),
		"half reads":         iotest.HalfReader(bytes.NewReader(data)),
		"data with EOF":      iotest.DataErrReader(bytes.NewReader(data)),
	} {
		t.Run(name, func(t *testing.T) {
			got, _, err := scanFrom(t, r, bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d messages, want %d", len(got), len(want))
			}
			for i := range got {
				if got[i].Offset != want[i].Offset || got[i].End != want[i].End || got[i].content != want[i].content {
					t.Errorf("message %d: %d..%d %q, want %d..%d %q", i+1, got[i].Offset, got[i].End, got[i].content, want[i].Offset, want[i].End, want[i].content)
				}
			}
		})
	}
}

func TestScannerHonoursContentLengthOnlyWhenRight(t *testing.T) {
	body := "line\n" + from2 + "still the body\n" // 5 + 46 + 15 = 66 bytes
	tests := []struct {
		name  string
		cl    string
		count int
	}{
		{"right", "66", 2},
		{"too short", "10", 3},
		{"too long", "68", 3},
		{"one short", "65", 3},
		{"past the end of the file", "100000", 3},
		{"not a number", "x66", 3},
		{"negative", "-5", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := from1 + "Content-Length: " + tt.cl + "\n\n" + body + "\n" + from3 + "C: 3\n\nc\n"
			msgs := mustScan(t, []byte(data))
			checkLayout(t, []byte(data), msgs)
			if len(msgs) != tt.count {
				t.Fatalf("got %d messages, want %d", len(msgs), tt.count)
			}
			if tt.count == 2 && msgs[0].content != "Content-Length: 66\n\n"+body {
				t.Errorf("content %q", msgs[0].content)
			}
		})
	}
}

func TestScannerHonoursContentLengthAtTheEndOfTheFile(t *testing.T) {
	body := "x\n" + from2 + "y\n"
	data := fmt.Sprintf("%sContent-Length: %d\n\n%s", from1, len(body), body)
	if msgs := mustScan(t, []byte(data)); len(msgs) != 1 {
		t.Errorf("got %d messages, want 1", len(msgs))
	}
	if msgs := mustScan(t, []byte(data+"\n")); len(msgs) != 1 {
		t.Errorf("with a blank line after: got %d messages, want 1", len(msgs))
	}
}

func TestScannerReadsStateHeaders(t *testing.T) {
	data := from1 +
		"X-IMAPbase: 1795627642 0000000005 $Work NonJunk\n" +
		"Status: RO\n" +
		"X-Status: DFAT\n" +
		"X-Keywords: $Work NonJunk          \n" +
		"X-UID: 0000000003\n\nx\n\n" +
		from2 +
		"X-IMAPbase: 42 43\n" + // not the first message: ignored
		"status: O\n" +
		"X-Keywords: a,b\n" +
		"X-UID: 4  \n\ny\n\n" +
		from3 + "Status: R\nX-UID: 2147483648\n\nz\n"
	msgs, base, err := scanAll(t, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	want := []mbox.State{
		{Flags: mbox.Seen | mbox.Old | mbox.Deleted | mbox.Flagged | mbox.Answered | mbox.Draft, Keywords: []string{"$Work", "NonJunk"}, UID: 3},
		{Flags: mbox.Old, Keywords: []string{"a", "b"}, UID: 4},
		{Flags: mbox.Seen, UID: 0}, // 2^31 is no valid UID
	}
	if len(msgs) != len(want) {
		t.Fatalf("got %d messages", len(msgs))
	}
	for i, m := range msgs {
		if m.Flags != want[i].Flags || m.UID != want[i].UID || !slices.Equal(m.Keywords, want[i].Keywords) || m.Pseudo {
			t.Errorf("message %d: %+v pseudo=%v, want %+v", i+1, m.State, m.Pseudo, want[i])
		}
	}
	wantBase := mbox.Base{UIDValidity: 1795627642, LastUID: 5, Keywords: []string{"$Work", "NonJunk"}}
	if base == nil || base.UIDValidity != wantBase.UIDValidity || base.LastUID != wantBase.LastUID || !slices.Equal(base.Keywords, wantBase.Keywords) {
		t.Errorf("base %+v, want %+v", base, wantBase)
	}
}

func TestScannerMarksUWPseudoMessage(t *testing.T) {
	data := "From MAILER-DAEMON Wed Nov 25 17:25:20 2026\n" +
		"Date: Wed, 25 Nov 2026 17:25:20 +0000\n" +
		"From: Mail System Internal Data <MAILER-DAEMON@vm>\n" +
		"Subject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\n" +
		"X-IMAP: 1795627536 0000000005 $Work\n" +
		"Status: RO\n\n" +
		"This text is part of the internal format of your mail folder.\n\n" +
		from1 + "X-UID: 5\n\nx\n"
	msgs, base, err := scanAll(t, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || !msgs[0].Pseudo || msgs[1].Pseudo || msgs[1].UID != 5 {
		t.Fatalf("got %d messages, pseudo %v", len(msgs), len(msgs) > 0 && msgs[0].Pseudo)
	}
	if base == nil || base.UIDValidity != 1795627536 || base.LastUID != 5 || !slices.Equal(base.Keywords, []string{"$Work"}) {
		t.Errorf("base %+v", base)
	}
	// X-IMAP in a later message is only a header.
	later := from1 + "A: 1\n\nx\n\n" + data
	msgs, _, _ = scanAll(t, []byte(later))
	for i, m := range msgs {
		if m.Pseudo {
			t.Errorf("message %d of %d marked pseudo", i+1, len(msgs))
		}
	}
	// UIDVALIDITY 0 is void.
	msgs, base, _ = scanAll(t, []byte(strings.Replace(data, "1795627536", "0", 1)))
	if base != nil || msgs[0].Pseudo {
		t.Errorf("X-IMAP with UIDVALIDITY 0 accepted: %+v", base)
	}
}

func TestScannerCountsLines(t *testing.T) {
	tests := []struct {
		input string
		lines []int
	}{
		{from1 + "A: 1\n\nx\ny\n\n" + from2 + "B: 2\n\nz", []int{4, 3}},
		{from1 + "A: 1\nB: 2\n", []int{2}},
		{from1 + "\n", []int{0}},
		{from1 + "A: 1\r\n\r\nx\r\n\r\n" + from2 + "B", []int{3, 1}},
	}
	for _, tt := range tests {
		msgs := mustScan(t, []byte(tt.input))
		var got []int
		for _, m := range msgs {
			got = append(got, m.Lines)
		}
		if !slices.Equal(got, tt.lines) {
			t.Errorf("%q: lines %v, want %v", tt.input, got, tt.lines)
		}
	}
}

func TestScannerReadsAHeaderBlockLongerThanItsBuffer(t *testing.T) {
	var hdr strings.Builder
	for i := 0; hdr.Len() < 700<<10; i++ {
		fmt.Fprintf(&hdr, "X-Filler-%d: %s\n", i, strings.Repeat("v", 60))
	}
	hdr.WriteString("X-UID: 7\nStatus: RO\n")
	data := from1 + hdr.String() + "\nbody\n\n" + from2 + "B: 2\n\n" + strings.Repeat("long body line\n", 40000) + "\n" + from3 + "X-UID: 9\n\nc\n"
	msgs := mustScan(t, []byte(data))
	checkLayout(t, []byte(data), msgs)
	if len(msgs) != 3 {
		t.Fatalf("got %d messages", len(msgs))
	}
	if msgs[0].UID != 7 || msgs[0].Flags != mbox.Seen|mbox.Old || msgs[2].UID != 9 {
		t.Errorf("state lost: %+v %+v", msgs[0].State, msgs[2].State)
	}
	if msgs[0].content != hdr.String()+"\nbody\n" {
		t.Error("content of the first message differs")
	}
}

func TestScannerKeepsTheHeaderOfAMessageWithALongBody(t *testing.T) {
	// The Header must survive the reading of the body that follows it.
	hdr := "Subject: big\nX-UID: 1\n\n"
	data := from1 + hdr + strings.Repeat("0123456789abcdef\n", 100000) + "\n" + from2 + "B: 2\n\nb\n"
	s := mbox.NewScanner(strings.NewReader(data))
	if !s.Next() {
		t.Fatal(s.Err())
	}
	if got := string(s.Message().Header); got != hdr {
		t.Errorf("Header after a long body = %.60q..., want %q", got, hdr)
	}
}

func TestScannerReadsAVeryLongHeaderLine(t *testing.T) {
	long := "Subject: " + strings.Repeat("x", 10000) + "\n"
	data := from1 + long + "X-UID: 3\n\nbody\n\n" + from2 + "B: 2\n\nb\n"
	msgs := mustScan(t, []byte(data))
	checkLayout(t, []byte(data), msgs)
	if len(msgs) != 2 || msgs[0].UID != 3 || msgs[0].content != long+"X-UID: 3\n\nbody\n" {
		t.Fatalf("got %d messages, first UID %d", len(msgs), msgs[0].UID)
	}
}

func TestScannerSurvivesAHeaderLargerThanItWillBuffer(t *testing.T) {
	// 10 MB of header lines with no blank line: the Scanner cuts the
	// header short but must keep the file's messages and offsets right.
	var b strings.Builder
	b.WriteString(from1)
	for b.Len() < 10<<20 {
		b.WriteString("X-Filler: " + strings.Repeat("h", 54) + "\n")
	}
	b.WriteString("\nbody\n\n" + from2 + "X-UID: 2\n\nb\n")
	data := []byte(b.String())
	msgs, _, err := scanAll(t, data)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[1].UID != 2 || msgs[1].Offset != int64(bytes.LastIndex(data, []byte(from2))) {
		t.Fatalf("got %d messages", len(msgs))
	}
	for i, m := range msgs {
		if !bytes.HasPrefix(data[m.Offset:], []byte("From ")) {
			t.Errorf("message %d does not start at a From_ line", i+1)
		}
	}
}
