package imapd

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

type fakeHooks struct {
	c      net.Conn
	authed bool
	plain  bool
}

func (h *fakeHooks) conn() net.Conn      { return h.c }
func (h *fakeHooks) startTLS(int) error  { return nil }
func (h *fakeHooks) canStartTLS() bool   { return false }
func (h *fakeHooks) authenticated() bool { return h.authed }
func (h *fakeHooks) idInfo() string      { return `("name" "test")` }
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

func TestTheFilterCompletesCapabilityLists(t *testing.T) {
	for _, tc := range []struct {
		plain    bool
		in, want string
	}{
		{true, "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n", "* CAPABILITY IMAP4rev1 AUTH=PLAIN ID\r\n"},
		{false, "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n", "* CAPABILITY IMAP4rev1 ID LOGINDISABLED\r\n"},
		{false, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n", "* OK [CAPABILITY IMAP4rev1 ID LOGINDISABLED] ready\r\n"},
		{true, "* 1 FETCH (BODY[] {30}\r\n* CAPABILITY not a response\r\n)\r\n", "* 1 FETCH (BODY[] {30}\r\n* CAPABILITY not a response\r\n)\r\n"},
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
