package imapd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"unixmail/pkg/config"
)

type fakeHooks struct {
	c       net.Conn
	authed  bool
	plain   bool
	due     time.Time
	flushed int
	failing error         // what flush returns
	login   time.Duration // loginTimeout; 0: client_login_timeout's default

	mu          sync.Mutex
	enabledCaps []string
	written     bool  // an APPEND wrote what commit is to sync
	commits     int   // commits that had something to sync
	commitErr   error // what commit returns
}

// wrote stands for an APPEND that wrote its message, unsynced.
func (h *fakeHooks) wrote() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.written = true
}

func (h *fakeHooks) unsynced() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.written || h.commitErr != nil
}

func (h *fakeHooks) commit() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.written {
		h.commits++
	}
	if h.commitErr == nil {
		h.written = false
	}
	return h.commitErr
}

func (h *fakeHooks) commitCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.commits
}

func (h *fakeHooks) conn() net.Conn      { return h.c }
func (h *fakeHooks) startTLS(int) error  { return nil }
func (h *fakeHooks) canStartTLS() bool   { return false }
func (h *fakeHooks) authenticated() bool { return h.authed }
func (h *fakeHooks) loginTimeout() time.Duration {
	if h.login > 0 {
		return h.login
	}
	return config.Defaults().ClientLoginTimeout
}
func (h *fakeHooks) idInfo() string      { return `("name" "test")` }
func (h *fakeHooks) flushDue() time.Time { return h.due }
func (h *fakeHooks) flush() error        { h.flushed++; h.due = time.Time{}; return h.failing }
func (h *fakeHooks) check() error        { return h.flush() }
func (h *fakeHooks) enabled(caps []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.enabledCaps = append(h.enabledCaps, caps...)
}
func (h *fakeHooks) extraCaps(authed bool) ([]string, []string) {
	if !authed && !h.plain {
		return []string{"ID", "LOGINDISABLED"}, []string{"AUTH="}
	}
	return []string{"ID"}, nil
}

// pair gives a filter whose client side the test drives.
func pair(t *testing.T, plain bool) (*filter, net.Conn, *bufio.Reader) {
	server, client := net.Pipe()
	t.Cleanup(func() { server.Close(); client.Close() })
	f := newFilter(&fakeHooks{c: server, plain: plain})
	return f, client, bufio.NewReader(client)
}

func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	l, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestTheFilterAnswersIDItselfAndPassesOtherCommands(t *testing.T) {
	f, client, r := pair(t, true)
	go client.Write([]byte("a1 ID (\"name\" \"mail.app\")\r\na2 NOOP\r\n"))
	buf := make([]byte, 100)
	done := make(chan string)
	go func() {
		n, _ := f.Read(buf)
		done <- string(buf[:n])
	}()
	if l := readLine(t, r); l != "* ID (\"name\" \"test\")\r\n" {
		t.Fatalf("ID reply %q", l)
	}
	if l := readLine(t, r); l != "a1 OK ID completed\r\n" {
		t.Fatalf("ID status %q", l)
	}
	if got := <-done; got != "a2 NOOP\r\n" {
		t.Fatalf("library got %q", got)
	}
}

func TestAQuietClientsFlagChangesAreWrittenWhenDueAndAtCHECK(t *testing.T) {
	server, client := net.Pipe()
	t.Cleanup(func() { server.Close(); client.Close() })
	h := &fakeHooks{c: server, plain: true, authed: true, due: time.Now().Add(50 * time.Millisecond)}
	f := newFilter(h)
	buf := make([]byte, 100)
	go func() {
		time.Sleep(300 * time.Millisecond) // quiet past the due time
		client.Write([]byte("a1 NOOP\r\n"))
	}()
	n, err := f.Read(buf)
	if err != nil || string(buf[:n]) != "a1 NOOP\r\n" {
		t.Fatalf("library got %q, %v", buf[:n], err)
	}
	if h.flushed != 1 {
		t.Fatalf("flushed %d times while the client was quiet, want 1", h.flushed)
	}
	go client.Write([]byte("a2 CHECK\r\n"))
	n, err = f.Read(buf)
	if err != nil || string(buf[:n]) != "a2 CHECK\r\n" {
		t.Fatalf("library got %q, %v", buf[:n], err)
	}
	if h.flushed != 2 {
		t.Fatalf("CHECK did not write the flag changes before the library saw it (%d)", h.flushed)
	}
}

func TestTheFilterCompletesCapabilityLists(t *testing.T) {
	for _, tc := range []struct {
		plain    bool
		in, want string
	}{
		{true, "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n", "* CAPABILITY IMAP4rev1 AUTH=PLAIN ID\r\n"},
		{false, "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n", "* CAPABILITY IMAP4rev1 ID LOGINDISABLED\r\n"},
		{false, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n", "* OK [CAPABILITY IMAP4rev1 ID LOGINDISABLED] ready\r\n"},
		{true, "* 1 FETCH (BODY[] {30}\r\n* CAPABILITY not a response\r\n)\r\n", "* 1 FETCH (BODY[] {30}\r\n* CAPABILITY not a response\r\n)\r\n"},
		{true, "a1 OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] done\r\n", "a1 OK [CAPABILITY IMAP4rev1 AUTH=PLAIN ID] done\r\n"},
		{true, "* 2 FETCH (ENVELOPE (NIL \"OK [CAPABILITY IMAP4rev1] a subject\" NIL))\r\n", "* 2 FETCH (ENVELOPE (NIL \"OK [CAPABILITY IMAP4rev1] a subject\" NIL))\r\n"},
		{true, "* OK [CAPABILITY IMAP4rev1\r\n", "* OK [CAPABILITY IMAP4rev1\r\n"},
	} {
		f, _, r := pair(t, tc.plain)
		go f.Write([]byte(tc.in))
		var got strings.Builder
		for got.Len() < len(tc.want) && !strings.HasSuffix(got.String(), "ready\r\n") {
			got.WriteString(readLine(t, r))
			if strings.Count(tc.want, "\n") == strings.Count(got.String(), "\n") {
				break
			}
		}
		if got.String() != tc.want {
			t.Errorf("%q became %q, want %q", tc.in, got.String(), tc.want)
		}
	}
}

func TestTheSessionHearsWhatENABLEdTurnedOnButNotFromALiteral(t *testing.T) {
	f, _, r := pair(t, true)
	in := "* 1 FETCH (BODY[] {22}\r\n* ENABLED UTF8=ACCEPT\r\n)\r\n* ENABLED IMAP4rev2\r\na1 OK ENABLE completed\r\n"
	go f.Write([]byte(in))
	var got strings.Builder
	for l := ""; !strings.HasPrefix(l, "a1 "); {
		l = readLine(t, r)
		got.WriteString(l)
	}
	if got.String() != in {
		t.Errorf("%q became %q", in, got.String())
	}
	h := f.hooks.(*fakeHooks)
	h.mu.Lock()
	defer h.mu.Unlock()
	if strings.Join(h.enabledCaps, " ") != "IMAP4rev2" {
		t.Errorf("the session was told of %q, want IMAP4rev2 alone", h.enabledCaps)
	}
}

func TestARefusedNonSynchronisingLiteralIsDroppedNotRun(t *testing.T) {
	f, client, r := pair(t, true)
	go client.Write([]byte("a1 APPEND INBOX {20+}\r\nb1 DELETE INBOX\r\nxx\r\na2 NOOP\r\n"))
	lib := bufio.NewReader(readerFunc(f.Read))
	if l, _ := lib.ReadString('\n'); l != "a1 APPEND INBOX {20}\r\n" {
		t.Fatalf("library got %q", l)
	}
	// The library refuses it instead of asking for the literal.
	go f.Write([]byte("a1 NO [TOOBIG] too big\r\n"))
	if l := readLine(t, r); !strings.HasPrefix(l, "a1 NO") {
		t.Fatalf("client got %q", l)
	}
	for _, want := range []string{"\r\n", "a2 NOOP\r\n"} {
		if l, _ := lib.ReadString('\n'); l != want {
			t.Fatalf("library got %q, want %q", l, want)
		}
	}
}

func TestAnAcceptedNonSynchronisingLiteralReachesTheLibraryWithoutAPlus(t *testing.T) {
	f, client, r := pair(t, true)
	go client.Write([]byte("a1 APPEND INBOX {5+}\r\nhello\r\n"))
	lib := bufio.NewReader(readerFunc(f.Read))
	lib.ReadString('\n')
	f.Write([]byte("+ Ready for literal data\r\n"))
	got := make([]byte, 7)
	if _, err := io.ReadFull(lib, got); err != nil || string(got) != "hello\r\n" {
		t.Fatalf("library got %q, %v", got, err)
	}
	go f.Write([]byte("a1 OK done\r\n"))
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if l := readLine(t, r); l != "a1 OK done\r\n" {
		t.Fatalf("client got %q (the + must not reach it)", l)
	}
}

// askedAuthed is a session, logged in, whose client has sent sent, and
// whose library read its first line, want, and answered ask: the client
// and what the library reads next.
func askedAuthed(t *testing.T, sent, want, ask string) (net.Conn, *bufio.Reader) {
	t.Helper()
	f, client, r := pair(t, true)
	f.hooks.(*fakeHooks).authed = true
	go client.Write([]byte(sent))
	lib := bufio.NewReader(readerFunc(f.Read))
	if l, _ := lib.ReadString('\n'); l != want {
		t.Fatalf("library got %q, want %q", l, want)
	}
	go f.Write([]byte(ask))
	readLine(t, r)
	return client, lib
}

// sentAuthed is a session, logged in, whose client has sent lines: the
// client, what it reads, and the first line the library reads.
func sentAuthed(t *testing.T, lines string) (net.Conn, *bufio.Reader, <-chan string) {
	f, client, r := pair(t, true)
	f.hooks.(*fakeHooks).authed = true
	go client.Write([]byte(lines))
	got := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(readerFunc(f.Read)).ReadString('\n')
		got <- l
	}()
	return client, r, got
}

func TestALineThatIsNoCommandIsAnsweredBADAndTheSessionGoesOn(t *testing.T) {
	for _, tc := range []struct{ line, reply string }{
		{"LOGOUT\r\n", "LOGOUT BAD"},
		{"* LOGOUT\r\n", "* BAD"},
		{"\x00\x00\r\n", "* BAD"},
		{"a1 UID\r\n", "a1 BAD"},
		{"a1 UID \r\n", "a1 BAD"},
		{"a1  NOOP\r\n", "a1 BAD"},
		{"(a1) NOOP\r\n", "* BAD"},
		{"a1\x00 NOOP\r\n", "a1 BAD"},
		{"a1{5+}\r\nb1 NOOP\r\n", "a1 BAD"}, // a literal sent with it goes too
		{"{5+}\r\nb1 NOOP\r\n", "* BAD"},
	} {
		client, r, got := sentAuthed(t, tc.line+"a2 NOOP\r\n")
		client.SetReadDeadline(time.Now().Add(5 * time.Second))
		if l := readLine(t, r); !strings.HasPrefix(l, tc.reply+" [CLIENTBUG] Syntax error") {
			t.Errorf("%q: client got %q, want %s", tc.line, l, tc.reply)
		}
		if l := <-got; l != "a2 NOOP\r\n" {
			t.Errorf("%q: library got %q, want the next command", tc.line, l)
		}
	}
}

func TestALineTheLibraryAskedForIsNoCommandAndPassesAsItIs(t *testing.T) {
	for _, tc := range []struct{ command, ask, line string }{
		{"a1 IDLE\r\n", "+ idling\r\n", "DONE\r\n"},
		{"a1 AUTHENTICATE PLAIN\r\n", "+ \r\n", "AGFsaWNlAHNlY3JldA==\r\n"},
		{"a1 AUTHENTICATE PLAIN\r\n", "+ \r\n", "*\r\n"},
	} {
		client, lib := askedAuthed(t, tc.command, tc.command, tc.ask)
		go client.Write([]byte(tc.line))
		if l, _ := lib.ReadString('\n'); l != tc.line {
			t.Errorf("after %q the library got %q, want %q", tc.ask, l, tc.line)
		}
	}
}

func TestALineThatIsNoCommandBeforeLoginEndsTheSessionAfterItsBAD(t *testing.T) {
	f, client, r := pair(t, true)
	go client.Write([]byte("\x16\x03\x01\x02\x00\x01\r\n")) // a TLS hello to the plain port
	errc := make(chan error, 1)
	go func() {
		_, err := f.Read(make([]byte, 100))
		errc <- err
	}()
	for _, want := range []string{"* BAD [CLIENTBUG] Syntax error", "* BYE "} {
		if l := readLine(t, r); !strings.HasPrefix(l, want) {
			t.Fatalf("client got %q, want %q", l, want)
		}
	}
	if err := <-errc; err != io.EOF {
		t.Fatalf("library got %v, want EOF", err)
	}
}

func TestACommandLineLongerThanTheLibraryReadsIsRefusedWhole(t *testing.T) {
	_, r, got := sentAuthed(t, "a1 SEARCH SUBJECT \""+strings.Repeat("(x) ", maxLine)+"\" {9+}\r\nb1 DELETE\r\na2 NOOP\r\n")
	if l := readLine(t, r); l != "a1 BAD [TOOBIG] Command line too long\r\n" {
		t.Errorf("client got %q", l)
	}
	if l := <-got; l != "a2 NOOP\r\n" {
		t.Errorf("library got %q, want the next command", l)
	}
}

func TestSearchCriteriaNestedDeeperThanTheLibraryReadsAreAnsweredBADAndTheSessionGoesOn(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("(", n) + "ALL" + strings.Repeat(")", n) }
	for _, tc := range []struct {
		line string
		bad  bool
	}{
		{"a1 SEARCH " + deep(maxNesting+1) + "\r\n", true},
		{"a1 SEARCH " + deep(10000) + "\r\n", true},
		{"a1 uid search " + deep(maxNesting+1) + "\r\n", true},
		{"a1 SEARCH RETURN (MIN) " + deep(maxNesting+1) + "\r\n", true},
		{"a1 SORT (DATE) UTF-8 " + deep(maxNesting+1) + "\r\n", true},
		{"a1 UID THREAD REFERENCES UTF-8 " + deep(maxNesting+1) + "\r\n", true},
		{"a1 SEARCH " + deep(maxNesting+1) + " SUBJECT {5+}\r\nb1 DELETE INBOX\r\n", true}, // its literal goes too
		{"a1 SEARCH " + deep(maxNesting) + "\r\n", false},
		{"a1 SEARCH RETURN (MIN) " + deep(maxNesting) + "\r\n", false},
		{"a1 SEARCH " + strings.Repeat("(ALL) ", 5000) + "ALL\r\n", false},
		{"a1 SEARCH SUBJECT \"" + strings.Repeat("(", 5000) + "\\\"(\"\r\n", false},
		{"a1 FETCH 1 " + deep(maxNesting+1) + "\r\n", false}, // no search: the library says BAD
	} {
		client, r, got := sentAuthed(t, tc.line+"a2 NOOP\r\n")
		if !tc.bad {
			if l := <-got; l != tc.line {
				t.Errorf("%.40q: library got %.40q, want it as it is", tc.line, l)
			}
			continue
		}
		client.SetReadDeadline(time.Now().Add(5 * time.Second))
		if l := readLine(t, r); l != "a1 BAD [CLIENTBUG] Search criteria nested too deep\r\n" {
			t.Errorf("%.40q: client got %q", tc.line, l)
		}
		if l := <-got; l != "a2 NOOP\r\n" {
			t.Errorf("%.40q: library got %.40q, want the next command", tc.line, l)
		}
	}
}

func TestSearchCriteriaNestedTooDeepAfterALiteralReachTheLibraryCutShort(t *testing.T) {
	deep := strings.Repeat("(", 2*maxNesting) + "ALL" + strings.Repeat(")", 2*maxNesting)
	for _, tc := range []struct{ name, rest string }{
		{"on one line", " " + deep + "\r\n"},
		{"on a line too long for one read", " SUBJECT \"" + strings.Repeat("x", maxLine) + "\" " + deep + "\r\n"},
		{"before a literal", " " + deep + " SUBJECT {17+}\r\nb1 DELETE INBOX\r\n\r\n"},
	} {
		line := "a1 SEARCH CHARSET UTF-8 (SUBJECT {1}\r\n"
		client, lib := askedAuthed(t, line, line, "+ Ready for literal data\r\n")
		go client.Write([]byte("x" + tc.rest + "a2 NOOP\r\n"))
		// The library reads the literal and the line, cut where the
		// criteria (a level opened before the literal) go too deep.
		got, err := lib.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !strings.HasPrefix(got, "x") || strings.Contains(got, "ALL") || strings.Count(got, "(") != maxNesting-1 {
			t.Errorf("%s: library got %d bytes, %d parentheses: %.80q...", tc.name, len(got), strings.Count(got, "("), got)
		}
		if l, _ := lib.ReadString('\n'); l != "a2 NOOP\r\n" {
			t.Errorf("%s: library got %.60q, want the next command", tc.name, l)
		}
	}
}

func TestTheRestOfALongLineAfterALiteralIsNotTakenForACommand(t *testing.T) {
	line := "a1 SEARCH CHARSET UTF-8 TEXT {1}\r\n"
	rest := "x SUBJECT \"" + strings.Repeat("(x) ", maxLine/2) + "\"\r\n"
	_, lib := askedAuthed(t, line+rest, line, "+ Ready for literal data\r\n")
	got := make([]byte, len(rest))
	if _, err := io.ReadFull(lib, got); err != nil || string(got) != rest {
		t.Fatalf("library got %d bytes, %v; want the %d of the line", len(got), err, len(rest))
	}
}

func TestOutputStillGatheringGoesOutWhenTheConnectionCloses(t *testing.T) {
	f, client, r := pair(t, true)
	f.delay = time.Hour // only Close may write it
	f.Write([]byte("* PREAUTH ready\r\n"))
	go f.Close()
	if l := readLine(t, r); l != "* PREAUTH ready\r\n" {
		t.Fatalf("client got %q", l)
	}
	client.Close()
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// FuzzFilter: whatever a client sends, the filter neither panics nor
// hands the library a literal it was not asked for.
func FuzzFilter(f *testing.F) {
	f.Fuzz(func(t *testing.T, input string) {
		server, client := net.Pipe()
		defer server.Close()
		go func() {
			client.Write([]byte(input))
			client.Close()
		}()
		go io.Copy(io.Discard, client)
		fl := newFilter(&fakeHooks{c: server, plain: true})
		buf := make([]byte, 512)
		for {
			n, err := fl.Read(buf)
			if err != nil {
				return
			}
			// The library refuses every literal: it never writes "+".
			if n == 0 {
				t.Fatal("Read returned nothing and no error")
			}
		}
	})
}

// deadlineConn records the read deadlines set on it and can fail reads as
// an expired deadline does.
type deadlineConn struct {
	net.Conn
	deadline time.Time
	expired  bool
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error { c.deadline = t; return nil }

func (c *deadlineConn) Read(p []byte) (int, error) {
	if c.expired {
		return 0, os.ErrDeadlineExceeded
	}
	return c.Conn.Read(p)
}

func TestTheIdleTimeoutIsAMinuteBeforeLoginAndHalfAnHourAfter(t *testing.T) {
	for _, tc := range []struct {
		authed bool
		want   time.Duration
	}{
		{false, 60 * time.Second},
		{true, 30 * time.Minute},
	} {
		server, client := net.Pipe()
		dc := &deadlineConn{Conn: server}
		f := newFilter(&fakeHooks{c: dc, authed: tc.authed, plain: true})
		// The library's own deadlines (30 s, 35 min) change nothing.
		f.SetReadDeadline(time.Now().Add(35 * time.Minute))
		go client.Write([]byte("a1 NOOP\r\n"))
		before := time.Now()
		if _, err := f.Read(make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
		after := time.Now()
		if dc.deadline.Before(before.Add(tc.want)) || dc.deadline.After(after.Add(tc.want)) {
			t.Errorf("authenticated=%v: read deadline %v after the read began, want %v", tc.authed, dc.deadline.Sub(before), tc.want)
		}
		server.Close()
		client.Close()
	}
}

func TestAnIdleClientIsToldWhyItIsLoggedOut(t *testing.T) {
	server, client := net.Pipe()
	t.Cleanup(func() { server.Close(); client.Close() })
	// Every read fails as timed out, until the login timeout is past.
	f := newFilter(&fakeHooks{c: &deadlineConn{Conn: server, expired: true}, plain: true, login: time.Millisecond})
	errc := make(chan error, 1)
	go func() {
		_, err := f.Read(make([]byte, 100))
		errc <- err
	}()
	if l := readLine(t, bufio.NewReader(client)); l != "* BYE Autologout: idle for too long\r\n" {
		t.Fatalf("client got %q", l)
	}
	if err := <-errc; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("library got %v, want the timeout", err)
	}
}

// writeCounter counts the writes that reach the connection.
type writeCounter struct {
	net.Conn
	mu     sync.Mutex
	writes int
	got    strings.Builder
}

func (c *writeCounter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	c.got.Write(p)
	return len(p), nil
}

func (c *writeCounter) seen() (int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes, c.got.String()
}

func TestTheResponsesToACommandGoOutInFewWritesEndingWithItsReply(t *testing.T) {
	body := strings.Repeat("x", 100) + "\r\n"
	for _, tc := range []struct {
		name  string
		parts func(i int) []string // one response, as the library writes it
	}{
		{"flags", func(i int) []string {
			return []string{"* " + strings.Repeat("9", i%5+1) + " FETCH (FLAGS (\\Seen))\r\n"}
		}},
		// The line after a literal ends an untagged response: no reply
		// the client waits for.
		{"bodies in literals", func(i int) []string {
			return []string{fmt.Sprintf("* %d FETCH (BODY[] {%d}\r\n", i, len(body)), body, ")\r\n"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &writeCounter{}
			f := newFilter(&fakeHooks{c: c})
			f.delay = time.Hour // what is counted is the gathering, not how fast this loop runs
			for i := 1; i <= 1000; i++ {
				for _, p := range tc.parts(i) {
					f.Write([]byte(p)) // the library flushes each
				}
			}
			f.Write([]byte("a1 OK FETCH completed\r\n"))
			n, got := c.seen()
			if n > 3 || strings.Count(got, " FETCH (") != 1000 || !strings.HasSuffix(got, "a1 OK FETCH completed\r\n") {
				t.Fatalf("%d writes of %d bytes, ending %q", n, len(got), got[len(got)-30:])
			}
		})
	}
}

func TestAnUntaggedResponseOutsideACommandGoesOutUnasked(t *testing.T) {
	c := &writeCounter{}
	f := newFilter(&fakeHooks{c: c})
	f.Write([]byte("+ idling\r\n"))
	f.Write([]byte("* 2 EXISTS\r\n"))
	for {
		if _, got := c.seen(); strings.HasSuffix(got, "* 2 EXISTS\r\n") {
			return
		}
		time.Sleep(time.Millisecond) // the test times out if it never comes
	}
}

func TestACHECKWhoseFlagChangesCannotBeWrittenIsAnsweredNO(t *testing.T) {
	server, client := net.Pipe()
	t.Cleanup(func() { server.Close(); client.Close() })
	h := &fakeHooks{c: server, plain: true, authed: true,
		failing: &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeOverQuota, Text: "Not enough disk space"}}
	f := newFilter(h)
	go client.Write([]byte("a1 CHECK\r\na2 NOOP\r\n"))
	got := make(chan string, 1)
	go func() { got <- readLine(t, bufio.NewReader(client)) }()
	buf := make([]byte, 100)
	n, err := f.Read(buf)
	if err != nil || string(buf[:n]) != "a2 NOOP\r\n" {
		t.Fatalf("library got %q, %v: CHECK should have been answered by the filter", buf[:n], err)
	}
	if l := <-got; l != "a1 NO [OVERQUOTA] Not enough disk space\r\n" {
		t.Fatalf("CHECK answered %q", l)
	}
}

// library plays the library's part on a filter: it reads one command
// line, and answers it when told to.
func libraryReads(t *testing.T, f *filter, want string) {
	t.Helper()
	buf := make([]byte, 200)
	n, err := f.Read(buf)
	if err != nil || string(buf[:n]) != want {
		t.Fatalf("library got %q, %v; want %q", buf[:n], err, want)
	}
}

// pipelined is a filter whose client sent two APPENDs and then rest, the
// library having run both: each wrote unsynced and was answered OK. Its
// connection is what wrap makes of the server end.
func pipelined(t *testing.T, wrap func(net.Conn) net.Conn, rest string) (*filter, *fakeHooks, net.Conn) {
	server, client := net.Pipe()
	t.Cleanup(func() { server.Close(); client.Close() })
	h := &fakeHooks{c: wrap(server), plain: true, authed: true}
	f := newFilter(h)
	go client.Write([]byte("a1 APPEND INBOX\r\na2 append Sent\r\n" + rest))
	libraryReads(t, f, "a1 APPEND INBOX\r\n")
	h.wrote()
	f.Write([]byte("a1 OK [APPENDUID 7 1] APPEND completed\r\n"))
	libraryReads(t, f, "a2 append Sent\r\n")
	h.wrote()
	f.Write([]byte("* 1 EXISTS\r\n"))
	f.Write([]byte("a2 OK [APPENDUID 8 1] APPEND completed\r\n"))
	return f, h, client
}

func TestRepliesToPipelinedAPPENDsWaitForOneSyncAndGoOutBeforeTheNextOtherCommand(t *testing.T) {
	var c *writeCounter
	f, h, _ := pipelined(t, func(s net.Conn) net.Conn { c = &writeCounter{Conn: s}; return c }, "a3 NOOP\r\n")
	if n, got := c.seen(); n != 0 || h.commitCount() != 0 {
		t.Fatalf("with more APPENDs waiting, %d writes (%q) and %d syncs went out", n, got, h.commitCount())
	}
	libraryReads(t, f, "a3 NOOP\r\n")
	n, got := c.seen()
	if want := "a1 OK [APPENDUID 7 1] APPEND completed\r\n* 1 EXISTS\r\na2 OK [APPENDUID 8 1] APPEND completed\r\n"; n != 1 || got != want || h.commitCount() != 1 {
		t.Fatalf("before NOOP ran: %d writes of %q after %d syncs; want one write of %q after one", n, got, h.commitCount(), want)
	}
}

func TestAClientThatWaitsForEachAPPENDsReplyGetsItSynced(t *testing.T) {
	server, client := net.Pipe()
	t.Cleanup(func() { server.Close(); client.Close() })
	h := &fakeHooks{c: server, plain: true, authed: true}
	f := newFilter(h)
	r := bufio.NewReader(client)
	go client.Write([]byte("a1 APPEND INBOX\r\n"))
	libraryReads(t, f, "a1 APPEND INBOX\r\n")
	for i := 2; i <= 4; i++ {
		h.wrote()
		f.Write([]byte(fmt.Sprintf("a%d OK APPEND completed\r\n", i-1)))
		// The library goes back to reading: the filter finds nothing
		// more from the client, so the reply goes out, synced, before
		// the client is waited for.
		next := fmt.Sprintf("a%d APPEND INBOX\r\n", i)
		done := make(chan struct{})
		go func() { libraryReads(t, f, next); close(done) }()
		if l := readLine(t, r); l != fmt.Sprintf("a%d OK APPEND completed\r\n", i-1) {
			t.Fatalf("client got %q", l)
		}
		if h.commitCount() != i-1 {
			t.Fatalf("reply %d went out after %d syncs", i-1, h.commitCount())
		}
		client.Write([]byte(next))
		<-done
	}
}

func TestAFailedSyncEndsTheSessionWithoutTheRepliesItHeld(t *testing.T) {
	f, h, client := pipelined(t, func(s net.Conn) net.Conn { return s }, "")
	h.mu.Lock()
	h.commitErr = errors.New("input/output error")
	h.mu.Unlock()
	errc := make(chan error, 1)
	go func() {
		_, err := f.Read(make([]byte, 100))
		errc <- err
	}()
	got, _ := io.ReadAll(client)
	if string(got) != "* BYE [SERVERBUG] Could not make the mailbox last on disk\r\n" {
		t.Fatalf("client got %q", got)
	}
	if err := <-errc; err == nil {
		t.Fatal("the library read on after the sync failed")
	}
	if _, err := f.Write([]byte("a3 OK NOOP completed\r\n")); err == nil {
		t.Fatal("the library may still write after the sync failed")
	}
}

func TestHeldRepliesGoOutSyncedOnceTheyFillTheBuffer(t *testing.T) {
	c := &writeCounter{}
	h := &fakeHooks{c: c}
	f := newFilter(h)
	line := "a1 OK [APPENDUID 1733 12345] APPEND completed\r\n"
	for i := 0; i < flushBytes/len(line)+1; i++ {
		h.wrote()
		f.Write([]byte(line))
	}
	if n, got := c.seen(); n != 1 || len(got) < flushBytes || h.commitCount() != 1 {
		t.Fatalf("%d writes of %d bytes after %d syncs", n, len(got), h.commitCount())
	}
}

// A literal the client keeps sending (a big message, or one trickled in)
// is always "more input already there": the folder an earlier APPEND
// holds must still be let go once it has been held maxHeld, not at the
// next command line only, or deliver waits for the whole upload.
func TestAFolderHeldForPipelinedAPPENDsIsLetGoWhileALongLiteralStillComesIn(t *testing.T) {
	server, client := net.Pipe()
	t.Cleanup(func() { server.Close(); client.Close() })
	c := &writeCounter{Conn: server}
	h := &fakeHooks{c: c, plain: true, authed: true}
	f := newFilter(h)
	const size = 256 << 10
	go client.Write([]byte(fmt.Sprintf("a1 APPEND INBOX {1+}\r\nx\r\na2 APPEND INBOX {%d+}\r\n%s\r\n", size, strings.Repeat("y", size))))
	libraryReads(t, f, "a1 APPEND INBOX {1}\r\n")
	f.Write([]byte("+ Ready for literal data\r\n"))
	libraryReads(t, f, "x")
	libraryReads(t, f, "\r\n")
	h.wrote()
	f.Write([]byte("a1 OK [APPENDUID 7 1] APPEND completed\r\n"))
	want := fmt.Sprintf("a2 APPEND INBOX {%d}\r\n", size)
	libraryReads(t, f, want)
	if h.commitCount() != 0 {
		t.Fatal("a pipelined APPEND's line did not continue the run")
	}
	f.Write([]byte("+ Ready for literal data\r\n"))
	f.wmu.Lock()
	f.dirtySince = time.Now().Add(-maxHeld) // held as long as it may be
	f.wmu.Unlock()
	buf := make([]byte, 4<<10)
	for read := 0; read < size; {
		n, err := f.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		read += n
	}
	if _, got := c.seen(); h.commitCount() != 1 || !strings.Contains(got, "a1 OK") {
		t.Fatalf("after a literal read while held too long: %d syncs, client got %q", h.commitCount(), got)
	}
}

// A client that goes away with replies held (its connection closed after
// pipelined APPENDs) leaves no folder locked: the writes are synced and
// the folder let go before the library hears the connection ended.
func TestAClientThatVanishesWithRepliesHeldLeavesNoFolderHeld(t *testing.T) {
	server, client := net.Pipe()
	t.Cleanup(func() { server.Close() })
	c := &writeCounter{Conn: server}
	h := &fakeHooks{c: c, plain: true, authed: true}
	f := newFilter(h)
	go func() {
		client.Write([]byte("a1 APPEND INBOX\r\n"))
		client.Close()
	}()
	libraryReads(t, f, "a1 APPEND INBOX\r\n")
	h.wrote()
	f.Write([]byte("a1 OK [APPENDUID 7 1] APPEND completed\r\n"))
	if _, err := f.Read(make([]byte, 100)); err == nil {
		t.Fatal("the library read on from a client that went away")
	}
	if h.unsynced() || h.commitCount() != 1 {
		t.Fatalf("after the client went: unsynced %v, %d syncs", h.unsynced(), h.commitCount())
	}
}
