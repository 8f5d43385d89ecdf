package smtpd

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

// FuzzSession feeds arbitrary client bytes (command lines, DATA, BDAT,
// AUTH) to a whole session: it must end without panicking, and whatever
// it queued must be free of bare CR, bare LF and NUL and end in CRLF.
func FuzzSession(f *testing.F) {
	f.Add([]byte("EHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n"))
	f.Add([]byte("EHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nx\r\n.\rMAIL FROM:<c@example.org>\r\n.\r\n"))
	f.Add([]byte("EHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@example.org>\r\nBDAT 5 LAST\r\nab\rc\r\n"))
	f.Add([]byte("EHLO x\r\nAUTH PLAIN AGFsaWNlAHdyb25n\r\nAUTH LOGIN\r\nYQ==\r\nYg==\r\n"))
	f.Add([]byte("HELO x\r\nMAIL FROM:<-o@x>\r\nRCPT TO:<\x00>\r\nNOOP\r\n.\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		q := &memQueue{}
		p := basePolicy()
		p.Authenticate = checkPassword
		p.sleep = func(d time.Duration) {}
		if err := ServeStdio(p, q, discardLog{}, bytes.NewReader(in), io.Discard); err != nil {
			t.Fatalf("session: %v", err)
		}
		_, msgs := q.messages()
		for _, m := range msgs {
			if !strings.HasSuffix(m, "\r\n") || !wellFormed([]byte(m)) {
				t.Fatalf("queued a malformed message %q from %q", m, in)
			}
		}
	})
}

type discardLog struct{}

func (discardLog) Info(string, ...any)  {}
func (discardLog) Warn(string, ...any)  {}
func (discardLog) Error(string, ...any) {}

// FuzzRawCheck: whatever the chunks, rawCheck flags a stream exactly when
// it holds <LF> "." <CR> followed by something other than <LF>.
func FuzzRawCheck(f *testing.F) {
	f.Add([]byte("a\r\n.\rb"), 1)
	f.Add([]byte("a\r\n.\r\n"), 2)
	f.Add([]byte("\n.\r\r\n"), 3)
	f.Fuzz(func(t *testing.T, in []byte, chunk int) {
		if chunk <= 0 || chunk > len(in) {
			chunk = 1
		}
		r := &rawCheck{}
		for i := 0; i < len(in); i += chunk {
			r.Write(in[i:min(i+chunk, len(in))])
		}
		want := false
		for i := 0; i+3 < len(in); i++ {
			if in[i] == '\n' && in[i+1] == '.' && in[i+2] == '\r' && in[i+3] != '\n' {
				want = true
			}
		}
		if got := r.err() != nil; got != want {
			t.Fatalf("rawCheck(%q) flagged %v, want %v", in, got, want)
		}
	})
}
