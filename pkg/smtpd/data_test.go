package smtpd

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
)

// A smuggled message rides behind an end of data that a lax server sees.
const smuggled = "MAIL FROM:<ceo@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nSubject: smuggled\r\n\r\npay now\r\n"

// A bare LF, bare CR or NUL is refused and the session goes on, except
// for the bare CR of a line ".<CR>x", which go-smtp's DATA reader hides
// and only the raw bytes show: that client is disconnected at its next
// MAIL, as Postfix's smtpd_forbid_bare_newline does.
func TestSmugglingPayloadsAreRefusedAndNeverQueued(t *testing.T) {
	for _, tc := range []struct {
		name, payload, reply string
		hangsUp              bool
	}{
		{"LF.LF", "\n.\n", "554 5.5.2 Bare <LF>", false},
		{"CRLF.LF", "\r\n.\n", "554 5.5.2 Bare <LF>", false},
		{"LF.CRLF", "\n.\r\n", "554 5.5.2 Bare <LF>", false},
		{"bare LF", "x\ny", "554 5.5.2 Bare <LF>", false},
		{"CR.CR", "\r.\r", "554 5.5.2 Bare <CR>", false},
		{"bare CR", "\rx", "554 5.5.2 Bare <CR>", false},
		{"CRLF.CR then a command", "\r\n.\r", "554 5.5.2 Bare <CR>", true},
		{"CRLF.CR CRLF", "\r\n.\r\r\n", "554 5.5.2 Bare <CR>", true},
		{"CRLF.NUL CRLF", "\r\n.\x00\r\n", "554 5.6.0 NUL character", false},
		{"NUL", "x\x00y\r\n", "554 5.6.0 NUL character", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, basePolicy())
			d := dial(t, ts.addr)
			d.cmd("EHLO client.example", "250-")
			r := d.sendMessage("alice@example.org", "bob@example.org",
				"Subject: one\r\n\r\nbody"+tc.payload+smuggled+".\r\n")
			if !strings.HasPrefix(r, tc.reply) {
				t.Fatalf("reply %q, want %q", r, tc.reply)
			}
			if !strings.Contains(ts.log.text(), "reject: DATA from localhost[127.0.0.1]: "+tc.reply) {
				t.Errorf("refusal not logged:\n%s", ts.log.text())
			}
			if tc.hangsUp {
				d.cmd("MAIL FROM:<alice@example.org>", tc.reply)
				if _, err := d.r.ReadByte(); err != io.EOF {
					t.Fatalf("connection still open after the refusal (%v)", err)
				}
				if _, msgs := ts.q.messages(); len(msgs) != 0 {
					t.Fatalf("queued %q", msgs)
				}
				return
			}
			// The session is still in step: the next message is queued alone.
			if r := d.sendMessage("alice@example.org", "bob@example.org", "Subject: clean\r\n\r\nok\r\n.\r\n"); !strings.HasPrefix(r, "250 ") {
				t.Fatalf("clean message after the refused one: %q", r)
			}
			_, msgs := ts.q.messages()
			if len(msgs) != 1 || !strings.Contains(msgs[0], "Subject: clean") {
				t.Fatalf("queued %q", msgs)
			}
		})
	}
}

func TestADotCRLineAmongCommandsRefusesTheNextMessageAndDisconnects(t *testing.T) {
	ts := startServer(t, basePolicy())
	d := dial(t, ts.addr)
	d.cmd("EHLO client.example", "250-")
	d.cmd("NOOP\r\n.\rx", "250 ")
	d.expect("501 ")
	d.cmd("MAIL FROM:<alice@example.org>", "554 5.5.2 Bare <CR>")
	if _, err := d.r.ReadByte(); err != io.EOF {
		t.Fatalf("connection still open after the refusal (%v)", err)
	}
}

// dialTLS starts a server with STARTTLS and returns a dialog that has
// said EHLO inside TLS.
func dialTLS(t *testing.T) (*testServer, *dialog) {
	t.Helper()
	p := basePolicy()
	p.TLSConfig = selfSigned(t)
	ts := startServer(t, p)
	d := dial(t, ts.addr)
	d.cmd("EHLO client.example", "250-")
	d.cmd("STARTTLS", "220 ")
	d.startTLS()
	d.cmd("EHLO client.example", "250-")
	return ts, d
}

func TestDotCRLinesAreCaughtOverSTARTTLSToo(t *testing.T) {
	ts, d := dialTLS(t)
	r := d.sendMessage("alice@example.org", "bob@example.org", "Subject: one\r\n\r\nbody\r\n.\r"+smuggled+".\r\n")
	if !strings.HasPrefix(r, "554 5.5.2 Bare <CR>") {
		t.Fatalf("reply %q", r)
	}
	if _, msgs := ts.q.messages(); len(msgs) != 0 {
		t.Fatalf("queued %q", msgs)
	}
}

func TestAnHonestSessionPassesTheRawCheckOverTLSAndInChunks(t *testing.T) {
	ts, d := dialTLS(t)
	d.cmd("MAIL FROM:<alice@example.org>", "250 ")
	d.cmd("RCPT TO:<bob@example.org>", "250 ")
	// A CRLF split across two chunks, with the server's reply between.
	d.send("BDAT 19\r\nSubject: x\r\n\r\nbody\r")
	d.expect("250 ")
	d.send("BDAT 1 LAST\r\n\n")
	d.expect("250 ")
	if _, msgs := ts.q.messages(); len(msgs) != 1 {
		t.Fatalf("queued %q", msgs)
	}
}

func TestAnOversizedMessageIsRefusedAfterItsDataIsRead(t *testing.T) {
	p := basePolicy()
	p.MessageSizeLimit = 2000
	ts := startServer(t, p)
	d := dial(t, ts.addr)
	d.cmd("EHLO client.example", "250-")
	d.cmd("MAIL FROM:<alice@example.org> SIZE=5000", "552 5.3.4 ")
	big := "Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("x", 98)+"\r\n", 100) + ".\r\n"
	if r := d.sendMessage("alice@example.org", "bob@example.org", big); !strings.HasPrefix(r, "552 5.3.4 ") {
		t.Fatalf("reply %q", r)
	}
	// Had the rest of the data been left unread, it would answer here.
	d.cmd("NOOP", "250 ")
	if _, msgs := ts.q.messages(); len(msgs) != 0 {
		t.Fatalf("queued %d messages", len(msgs))
	}
}

func TestALineLongerThan1000OctetsIsRefused(t *testing.T) {
	ts := startServer(t, basePolicy())
	d := dial(t, ts.addr)
	d.cmd("EHLO client.example", "250-")
	longest := strings.Repeat("y", 998) + "\r\n"
	if r := d.sendMessage("alice@example.org", "bob@example.org", "Subject: ok\r\n\r\n"+longest+".\r\n"); !strings.HasPrefix(r, "250 ") {
		t.Fatalf("a 1000-octet line: %q", r)
	}
	if r := d.sendMessage("alice@example.org", "bob@example.org", "Subject: long\r\n\r\ny"+longest+"z\r\n.\r\n"); !strings.HasPrefix(r, "552 5.5.2 ") {
		t.Fatalf("a 1001-octet line: %q", r)
	}
	d.cmd("NOOP", "250 ")
	d.cmd("NOOP "+strings.Repeat("n", 2100), "500 ")
	if _, msgs := ts.q.messages(); len(msgs) != 1 {
		t.Fatalf("queued %d messages", len(msgs))
	}
}

func TestBDATChunksAreCheckedLikeDATA(t *testing.T) {
	ts := startServer(t, basePolicy())
	d := dial(t, ts.addr)
	d.cmd("EHLO client.example", "250-")
	d.cmd("MAIL FROM:<alice@example.org>", "250 ")
	d.cmd("RCPT TO:<bob@example.org>", "250 ")
	chunk := "Subject: b\r\n\r\nx\n.\n"
	d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(chunk), chunk))
	d.expect("554 5.5.2 Bare <LF>")
	d.cmd("MAIL FROM:<alice@example.org>", "250 ")
	d.cmd("RCPT TO:<bob@example.org>", "250 ")
	chunk = "Subject: b\r\n\r\nfine\r\n"
	d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(chunk), chunk))
	d.expect("250 2.0.0 Ok: queued as Q0001")
	if _, msgs := ts.q.messages(); len(msgs) != 1 || !strings.HasSuffix(msgs[0], chunk) {
		t.Fatalf("queued %q", msgs)
	}
}

func TestAQueueFailureAnswers451(t *testing.T) {
	ts := startServer(t, basePolicy())
	ts.q.fail = io.ErrShortWrite
	d := dial(t, ts.addr)
	d.cmd("EHLO client.example", "250-")
	if r := d.sendMessage("alice@example.org", "bob@example.org", "x\r\n.\r\n"); !strings.HasPrefix(r, "451 4.3.0 ") {
		t.Fatalf("reply %q", r)
	}
	if !strings.Contains(ts.log.text(), "error: localhost[127.0.0.1]: queue: short write") {
		t.Errorf("queue failure not logged:\n%s", ts.log.text())
	}
}

// checkAll runs the checker over the message in reads of the given size.
func checkAll(msg []byte, chunk int) ([]byte, error) {
	d := &dataChecker{r: &chunkReader{b: msg, n: chunk}}
	return io.ReadAll(d)
}

type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), c.n, len(c.b))
	copy(p, c.b[:n])
	c.b = c.b[n:]
	return n, nil
}

// FuzzDataChecker: whatever the read sizes, the checker passes exactly the
// well-formed messages, and passes on only a prefix of what it read.
func FuzzDataChecker(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\nbody\r\n"), 3)
	f.Add([]byte("a\n.\nb\r\n"), 1)
	f.Add([]byte("a\r\n.\rb\r\n"), 2)
	f.Add([]byte(strings.Repeat("z", 999)+"\r\n"), 7)
	f.Fuzz(func(t *testing.T, msg []byte, chunk int) {
		if chunk <= 0 || chunk > 4096 {
			chunk = 1
		}
		out, err := checkAll(msg, chunk)
		if !bytes.HasPrefix(msg, out) {
			t.Fatalf("output %q is not a prefix of %q", out, msg)
		}
		if (err == nil) != wellFormed(msg) {
			t.Fatalf("checker says %v for %q", err, msg)
		}
	})
}

// wellFormed: CRLF-ended lines of at most 1000 octets without NUL, and
// perhaps a last line without CRLF (a BDAT message may end so).
func wellFormed(msg []byte) bool {
	lines := bytes.Split(msg, []byte("\r\n"))
	for i, line := range lines {
		n := len(line)
		if i < len(lines)-1 {
			n += 2
		}
		if n > maxLine || bytes.ContainsAny(line, "\r\n\x00") {
			return false
		}
	}
	return true
}
