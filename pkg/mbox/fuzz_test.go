package mbox_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"unixmail/pkg/mbox"
)

// FuzzScanner: whatever the input, the Scanner does not panic, and the
// messages it finds lie in order within the file and tile it.
func FuzzScanner(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, _, err := scanAll(t, data)
		if err != nil {
			if !errors.Is(err, mbox.ErrNotMbox) || len(msgs) != 0 {
				t.Fatalf("%d messages, then %v", len(msgs), err)
			}
			return
		}
		checkLayout(t, data, msgs)
		for i := range msgs {
			m := &msgs[i].Message
			got, _ := io.ReadAll(m.ClientContent(bytes.NewReader(data)))
			if m.ClientSize >= 0 && int64(len(got)) != m.ClientSize {
				t.Fatalf("message %d: ClientSize %d, ClientContent gives %d bytes: %q", i+1, m.ClientSize, len(got), got)
			}
		}
	})
}

// FuzzRoundTrip: a message written with WriteMessage reads back as one
// message with the same content, CRLF stored as LF and a final newline
// added.
func FuzzRoundTrip(f *testing.F) {
	when := time.Date(2026, 11, 25, 17, 24, 14, 0, time.UTC)
	f.Fuzz(func(t *testing.T, sender string, content []byte) {
		var b bytes.Buffer
		if _, err := mbox.WriteMessage(&b, mbox.FromLine(sender, when), bytes.NewReader(content)); err != nil {
			t.Fatal(err)
		}
		msgs := mustScan(t, b.Bytes())
		checkLayout(t, b.Bytes(), msgs)
		if len(msgs) != 1 {
			t.Fatalf("%d messages in %q", len(msgs), b.Bytes())
		}
		if want := stored(string(content)); msgs[0].content != want {
			t.Fatalf("read back %q, want %q\nfile %q", msgs[0].content, want, b.Bytes())
		}
		if !msgs[0].Date.Equal(when) {
			t.Fatalf("date read back as %v", msgs[0].Date)
		}
	})
}

// FuzzParseFromLine: no panic; a line taken as a From_ line begins
// "From ", and the From_ line made from what was read is read the same.
func FuzzParseFromLine(f *testing.F) {
	const ctime = "Mon Jan _2 15:04:05 2006"
	f.Fuzz(func(t *testing.T, line string) {
		sender, date, ok := mbox.ParseFromLine([]byte(line))
		if !ok {
			return
		}
		if len(line) < 5 || line[:5] != "From " {
			t.Fatalf("%q taken as a From_ line", line)
		}
		if date.Year() > 9999 {
			return // a day past the end of 9999 was carried into 10000
		}
		again := mbox.FromLine(sender, date)
		_, date2, ok := mbox.ParseFromLine([]byte(again))
		if !ok || date2.Format(ctime) != date.Format(ctime) {
			t.Fatalf("%q read as %q %v; %q read back as %v %v", line, sender, date, again, date2, ok)
		}
	})
}
