package imapstore

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"unixmail/pkg/maillog"
	"unixmail/pkg/mbox"
)

// testUser is one user's mail: an INBOX file and a folder directory.
type testUser struct {
	t     *testing.T
	dir   string
	inbox string
	mail  string
}

func newUser(t *testing.T) *testUser {
	dir := t.TempDir()
	u := &testUser{t: t, dir: dir, inbox: filepath.Join(dir, "Mailbox"), mail: filepath.Join(dir, "mail")}
	os.MkdirAll(u.mail, 0700)
	return u
}

// bigInbox is a user whose INBOX, read as a big folder, holds msgs, with a
// session dialled to it.
func bigInbox(t *testing.T, msgs ...string) (*testUser, *wire) {
	t.Helper()
	bigFolders(t)
	u := newUser(t)
	u.deliver(u.inbox, msgs...)
	return u, dial(t, u.store())
}

func (u *testUser) store() *Store {
	return New(Options{Inbox: u.inbox, FolderDir: u.mail, Owner: os.Getuid(), AppendLimit: 1 << 20, Log: maillog.Discard(), Poll: 50 * time.Millisecond})
}

// deliver appends messages the way deliver does, with no state fields.
func (u *testUser) deliver(path string, msgs ...string) {
	u.t.Helper()
	mb, err := mbox.Open(path, mbox.OpenOptions{Create: true, Owner: -1})
	if err != nil {
		u.t.Fatal(err)
	}
	defer mb.Close()
	err = mb.Append(noCancel, func(w ioWriter) error {
		for _, m := range msgs {
			if _, err := mbox.WriteMessage(w, mbox.FromLine("a@example.org", time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)), strings.NewReader(m)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		u.t.Fatal(err)
	}
}

func (u *testUser) file(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// wire is a client speaking raw IMAP to a session on the store.
type wire struct {
	t    testing.TB
	c    net.Conn
	r    *bufio.Reader
	n    int
	open *sync.WaitGroup // done once the library closed the session
}

// dial serves one pre-authenticated session on st and connects to it.
func dial(t testing.TB, st *Store) *wire {
	t.Helper()
	return dialWith(t, st, false)
}

// dialDirect is dial with a session that writes the FETCH responses it
// can itself (Session.Direct), as imapd's do.
func dialDirect(t testing.TB, st *Store) *wire {
	t.Helper()
	return dialWith(t, st, true)
}

func dialWith(t testing.TB, st *Store, direct bool) *wire {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The library closes a session after its connection, in its own
	// goroutine; a session writes its flag batch and index then, so the
	// test waits for that before its temporary directory goes.
	var open sync.WaitGroup
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			open.Add(1)
			s := NewPreauthSession(st)
			if direct {
				s.Direct = c.NetConn()
			}
			return &closeSignalled{s, &open}, &imapserver.GreetingData{PreAuth: true}, nil
		},
		Caps: imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}, imap.CapMove: {}, imap.CapNamespace: {},
			imap.CapESearch: {}, imap.CapListExtended: {}, imap.CapListStatus: {}, imap.CapStatusSize: {}, imap.CapBinary: {}, imap.CapLiteralPlus: {}},
		InsecureAuth: true,
		Logger:       testLogger{t},
	})
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		open.Wait()
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	w := &wire{t: t, c: c, r: bufio.NewReader(c), open: &open}
	if g := w.line(); !strings.HasPrefix(g, "* PREAUTH") {
		t.Fatalf("greeting %q", g)
	}
	t.Cleanup(func() { c.Close() })
	return w
}

// closeSignalled is a Session that says when the library closed it.
type closeSignalled struct {
	*Session
	open *sync.WaitGroup
}

func (s *closeSignalled) Close() error {
	defer s.open.Done()
	return s.Session.Close()
}

// flush has the session write its flag changes now (as imapd's CHECK
// does): STATUS of the selected folder counts them, so writes them first.
func (w *wire) flush() {
	w.t.Helper()
	w.ok("STATUS INBOX (MESSAGES)")
}

type testLogger struct{ t testing.TB }

func (l testLogger) Printf(f string, a ...any) { l.t.Logf(f, a...) }

func (w *wire) line() string {
	w.t.Helper()
	w.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	l, err := w.r.ReadString('\n')
	if err != nil {
		w.t.Fatalf("read: %v (after %q)", err, l)
	}
	return l
}

// do sends one command and returns everything up to and including its
// tagged reply, literals included.
func (w *wire) do(format string, args ...any) string {
	w.t.Helper()
	w.n++
	tag := fmt.Sprintf("t%d", w.n)
	cmd := fmt.Sprintf(format, args...)
	fmt.Fprintf(w.c, "%s %s\r\n", tag, cmd)
	out := w.until(tag)
	if strings.EqualFold(cmd, "LOGOUT") {
		// The session writes its flag batch and index as the library
		// closes it, after the reply: a test's next session must find
		// them written.
		w.open.Wait()
	}
	return out
}

func (w *wire) until(tag string) string {
	w.t.Helper()
	var b strings.Builder
	for {
		l := w.line()
		b.WriteString(l)
		if n, ok := literalSize(l); ok {
			buf := make([]byte, n)
			if _, err := io.ReadFull(w.r, buf); err != nil {
				w.t.Fatal(err)
			}
			b.Write(buf)
		}
		if strings.HasPrefix(l, tag+" ") {
			return b.String()
		}
	}
}

func literalSize(l string) (int, bool) {
	l = strings.TrimRight(l, "\r\n")
	if !strings.HasSuffix(l, "}") {
		return 0, false
	}
	i := strings.LastIndexByte(l, '{')
	if i < 0 {
		return 0, false
	}
	var n int
	if _, err := fmt.Sscanf(l[i:], "{%d}", &n); err != nil {
		return 0, false
	}
	return n, true
}

// ok is do, failing unless the reply is OK.
func (w *wire) ok(format string, args ...any) string {
	w.t.Helper()
	out := w.do(format, args...)
	if !strings.Contains(lastLine(out), " OK ") {
		w.t.Fatalf("%s: %s", fmt.Sprintf(format, args...), out)
	}
	return out
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\r\n")
	return s[strings.LastIndex(s, "\n")+1:]
}

func msg(subject, body string) string {
	return "From: Alice <alice@example.org>\nTo: bob@example.org\nSubject: " + subject + "\nDate: Mon, 6 May 2024 07:08:09 +0000\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@example.org>\n\n" + body
}
