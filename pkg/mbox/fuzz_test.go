package mbox_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"unixmail/pkg/lock"
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

// FuzzJournalRecovery: whatever a journal beside a mailbox holds, the
// next Open does not panic or hang, and a journal it does not take as
// complete leaves the mailbox as it was or is refused with an error.
func FuzzJournalRecovery(f *testing.F) {
	const box = "From a@b Thu Jan  1 00:00:00 2026\nSubject: one\n\nbody\n\nFrom a@b Thu Jan  1 00:00:00 2026\nSubject: two\n\nbody\n"
	for _, seed := range []string{
		"unixmail journal 1\n1 2 3 4 5\nxxxxx00000000\n",
		"unixmail journal 2\n1 2 90 40 0 40 6\nl 1\nx\n00000000\nw 0 40 0 9223372036854775807\n",
		"unixmail journal 3\n1 2 90 130 0 130 0\n00000000\n",
		"unixmail journal 4\n1 2 90 40 0 40 6 0\nl 1\nx\n00000000\nw 0 40 0 9\n",
		"unixmail journal 5\n1 2 90 130 0 130 0 21\nc 0 - 1 00000000\n00000000\n",
		"unixmail journal 9\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, journal []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "box")
		if err := os.WriteFile(path, []byte(box), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(mbox.JournalPath(path), journal, 0o600); err != nil {
			t.Fatal(err)
		}
		mb, err := mbox.Open(path, mbox.OpenOptions{Lock: lock.Options{Timeout: time.Second}})
		if err != nil {
			return
		}
		mb.Close()
		if got, _ := os.ReadFile(path); string(got) != box {
			t.Fatalf("a journal for another file changed the mailbox to %q", got)
		}
	})
}
