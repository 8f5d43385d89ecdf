package mbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const journalInput = "From a@example.org  Wed Nov 25 17:24:14 2026\nSubject: one\n\nfirst\n\n" +
	"From b@example.org  Wed Nov 25 17:25:14 2026\nSubject: two\n\nsecond\n\n"

// crashedRewrite leaves what a rewrite killed after its journal was made
// would leave: the journal, and the mailbox half overwritten (how much is
// up to damage).
func crashedRewrite(t *testing.T, damage func(f *os.File)) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mbox")
	if err := os.WriteFile(path, []byte(journalInput), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	from := int64(strings.Index(journalInput, "From b"))
	if _, err := writeJournal(f, path, from, int64(len(journalInput))-from, int64(len(journalInput))); err != nil {
		t.Fatal(err)
	}
	damage(f)
	return path
}

func TestOpenRollsBackARewriteKilledAtAnyPoint(t *testing.T) {
	tests := []struct {
		name   string
		damage func(f *os.File)
	}{
		{"killed before the first byte", func(f *os.File) {}},
		{"killed mid-way", func(f *os.File) {
			f.WriteAt([]byte("From c@example.org  Wed"), int64(strings.Index(journalInput, "From b")))
		}},
		{"killed after the truncation", func(f *os.File) { f.Truncate(int64(strings.Index(journalInput, "From b"))) }},
		{"killed after growing it", func(f *os.File) {
			f.WriteAt([]byte(strings.Repeat("x\n", 100)), int64(strings.Index(journalInput, "From b")))
		}},
	}
	for _, tt := range tests {
		for _, ro := range []bool{false, true} {
			t.Run(tt.name, func(t *testing.T) {
				path := crashedRewrite(t, tt.damage)
				mb, err := Open(path, OpenOptions{Owner: -1, ReadOnly: ro})
				if err != nil {
					t.Fatal(err)
				}
				mb.Close()
				if data, _ := os.ReadFile(path); string(data) != journalInput {
					t.Errorf("read-only %v: mailbox is %q, want the old one back", ro, data)
				}
				if _, err := os.Lstat(JournalPath(path)); err == nil {
					t.Error("the journal is still there")
				}
			})
		}
	}
}

func TestAJournalThatWasNeverCompletedIsDroppedAndTheMailboxLeftAlone(t *testing.T) {
	tests := []struct {
		name string
		cut  func(j []byte) []byte
	}{
		{"cut short", func(j []byte) []byte { return j[:len(j)-20] }},
		{"no checksum", func(j []byte) []byte { return j[:len(j)-9] }},
		{"bad checksum", func(j []byte) []byte { j[len(j)-2] ^= 1; return j }},
		{"a byte changed", func(j []byte) []byte { j[len(j)-12] ^= 1; return j }},
		{"empty", func(j []byte) []byte { return nil }},
		{"garbage header", func(j []byte) []byte { return []byte("unixmail journal 1\nx y z\n") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := crashedRewrite(t, func(f *os.File) {})
			j, _ := os.ReadFile(JournalPath(path))
			os.WriteFile(JournalPath(path), tt.cut(j), 0o600)
			// What the mailbox holds now must stay: the rewrite never began.
			os.WriteFile(path, []byte(journalInput[:50]+"changed"), 0o600)
			mb, err := Open(path, OpenOptions{Owner: -1})
			if err != nil {
				t.Fatal(err)
			}
			mb.Close()
			if data, _ := os.ReadFile(path); string(data) != journalInput[:50]+"changed" {
				t.Errorf("mailbox is %q, it was changed", data)
			}
			if _, err := os.Lstat(JournalPath(path)); err == nil {
				t.Error("the journal is still there")
			}
		})
	}
}
