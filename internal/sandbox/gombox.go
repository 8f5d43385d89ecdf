package sandbox

import (
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
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := gombox.NewReader(f)
	var out []string
	for {
		m, err := r.NextMessage()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("go-mbox: %v", err)
		}
		msg, err := mail.ReadMessage(m)
		if err != nil {
			t.Fatalf("go-mbox message %d: %v", len(out)+1, err)
		}
		io.Copy(io.Discard, msg.Body)
		out = append(out, msg.Header.Get("Subject"))
	}
}
