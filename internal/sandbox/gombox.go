package sandbox

import (
	"bytes"
	"io"
	"net/mail"
	"os"
	"testing"

	gombox "github.com/emersion/go-mbox"
)

// SubjectsByGoMbox reads a mailbox with an mbox reader we did not write
// (emersion/go-mbox), every message to its end, and returns each one's
// Subject: the independent second reader of every mbox we write.
func SubjectsByGoMbox(t testing.TB, path string) []string {
	t.Helper()
	var out []string
	for i, raw := range MessagesByGoMbox(t, path) {
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("go-mbox message %d: %v", i+1, err)
		}
		out = append(out, msg.Header.Get("Subject"))
	}
	return out
}

// MessagesByGoMbox is every message of a mailbox as go-mbox reads it:
// header and body, the From_ line left out, the body's ">From "
// quoting undone and every line ended in CRLF (whatever it was), for tests that hold a message's bytes to what was
// delivered.
func MessagesByGoMbox(t testing.TB, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := gombox.NewReader(f)
	var out [][]byte
	for {
		m, err := r.NextMessage()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("go-mbox: %v", err)
		}
		raw, err := io.ReadAll(m)
		if err != nil {
			t.Fatalf("go-mbox message %d: %v", len(out)+1, err)
		}
		out = append(out, raw)
	}
}
