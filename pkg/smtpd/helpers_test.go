package smtpd

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"unixmail/internal/testcert"
)

// memQueue keeps messages in memory and, as the Queue contract asks,
// stores nothing when reading the message fails.
type memQueue struct {
	mu   sync.Mutex
	envs []*Envelope
	msgs []string
	fail error // when set, Enqueue fails after reading
}

func (q *memQueue) Enqueue(env *Envelope, msg io.Reader) (string, error) {
	b, err := io.ReadAll(msg)
	if err != nil {
		return "", err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail != nil {
		return "", q.fail
	}
	q.envs = append(q.envs, env)
	q.msgs = append(q.msgs, string(b))
	return fmt.Sprintf("Q%04d", len(q.msgs)), nil
}

func (q *memQueue) messages() ([]*Envelope, []string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]*Envelope(nil), q.envs...), append([]string(nil), q.msgs...)
}

// testLog records every line and echoes it to the test log, so a failing
// test shows what the server said.
type testLog struct {
	t     testing.TB
	mu    sync.Mutex
	lines []string
}

func (l *testLog) add(level, format string, args ...any) {
	line := level + ": " + fmt.Sprintf(format, args...)
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
}

func (l *testLog) Info(format string, args ...any)  { l.add("info", format, args...) }
func (l *testLog) Warn(format string, args ...any)  { l.add("warning", format, args...) }
func (l *testLog) Error(format string, args ...any) { l.add("error", format, args...) }

func (l *testLog) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// waitFor waits until a log line contains s: some lines (disconnect) are
// written after the client has seen the last reply.
func (l *testLog) waitFor(s string) {
	l.t.Helper()
	for range 500 {
		if strings.Contains(l.text(), s) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.t.Fatalf("log has no %q:\n%s", s, l.text())
}

func basePolicy() Policy {
	return Policy{
		Hostname:      "mx.example.org",
		IsLocalDomain: func(d string) bool { return d == "example.org" || d == "mx.example.org" },
		LocalUserExists: func(u string) (bool, error) {
			switch u {
			case "bob", "postmaster":
				return true, nil
			case "broken":
				return false, fmt.Errorf("alias database unreadable")
			}
			return false, nil
		},
		MyNetworks:       []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		MessageSizeLimit: 10 << 20,
	}
}

type testServer struct {
	addr string
	q    *memQueue
	log  *testLog
}

func startServer(t *testing.T, p Policy) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{addr: ln.Addr().String(), q: &memQueue{}, log: &testLog{t: t}}
	srv := NewServer(p, ts.q, ts.log)
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", ts.log.text())
		}
	})
	return ts
}

// dialog is a raw SMTP client that keeps a transcript for failures.
type dialog struct {
	t     *testing.T
	conn  net.Conn
	r     *bufio.Reader
	trans strings.Builder
}

func dial(t *testing.T, addr string) *dialog {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	d := &dialog{t: t, conn: c, r: bufio.NewReader(c)}
	t.Cleanup(func() {
		c.Close()
		if t.Failed() {
			t.Logf("transcript:\n%s", d.trans.String())
		}
	})
	d.expect("220 ")
	return d
}

// send writes raw bytes: the caller adds CRLF, so tests can send anything.
func (d *dialog) send(s string) {
	d.t.Helper()
	fmt.Fprintf(&d.trans, "C: %q\n", s)
	if _, err := io.WriteString(d.conn, s); err != nil {
		d.t.Fatalf("write: %v", err)
	}
}

// reply reads one (possibly multi-line) reply.
func (d *dialog) reply() string {
	d.t.Helper()
	var all strings.Builder
	for {
		line, err := d.r.ReadString('\n')
		fmt.Fprintf(&d.trans, "S: %q\n", line)
		if err != nil {
			d.t.Fatalf("read reply: %v (so far %q)", err, all.String())
		}
		all.WriteString(line)
		if len(line) < 4 || line[3] != '-' {
			return all.String()
		}
	}
}

// expect reads a reply and checks its start.
func (d *dialog) expect(prefix string) string {
	d.t.Helper()
	r := d.reply()
	if !strings.HasPrefix(r, prefix) {
		d.t.Fatalf("reply %q, want %q...", r, prefix)
	}
	return r
}

func (d *dialog) cmd(line, prefix string) string {
	d.t.Helper()
	d.send(line + "\r\n")
	return d.expect(prefix)
}

// startTLS upgrades the dialog after a 220 to STARTTLS.
func (d *dialog) startTLS() {
	d.t.Helper()
	tc := tls.Client(d.conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		d.t.Fatalf("TLS handshake: %v", err)
	}
	d.conn, d.r = tc, bufio.NewReader(tc)
}

// selfSigned makes a certificate for localhost and 127.0.0.1.
func selfSigned(t testing.TB) *tls.Config { return testcert.New(t).TLSConfig() }
