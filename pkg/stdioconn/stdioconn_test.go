package stdioconn

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

func TestListenerHandsOutOneConnectionThenCloses(t *testing.T) {
	var out bytes.Buffer
	c := New(strings.NewReader("HELLO\n"), &out)
	l := Listen(c)
	got, err := l.Accept()
	if err != nil || got != c {
		t.Fatalf("first Accept = %v, %v", got, err)
	}
	line, _ := bufio.NewReader(got).ReadString('\n')
	if line != "HELLO\n" {
		t.Fatalf("read %q", line)
	}
	got.Write([]byte("BYE\n"))
	if out.String() != "BYE\n" {
		t.Fatalf("wrote %q", out.String())
	}
	done := make(chan error)
	go func() { _, err := l.Accept(); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("second Accept returned before the connection closed: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	c.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Accept = %v", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close = %v", err)
	}
}

func TestClosingTheListenerEndsAccept(t *testing.T) {
	l := Listen(New(strings.NewReader(""), &bytes.Buffer{}))
	l.Accept()
	l.Close()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatal(err)
	}
}

func TestInheritedSocketFollowsSystemdsVariablesAndOnlyThem(t *testing.T) {
	tests := []struct {
		name     string
		fds, pid string
		wantErr  bool
	}{
		{"nothing passed and standard input no socket", "", "", false},
		{"passed to another process", "1", "1", false},
		{"two sockets, of which we serve one", "2", "", true},
		{"fd 3 not a listening socket", "1", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("LISTEN_FDS", tt.fds)
			t.Setenv("LISTEN_PID", tt.pid)
			ln, err := Inherited()
			if ln != nil {
				ln.Close()
				t.Fatal("got a listener")
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if os.Getenv("LISTEN_FDS") != "" {
				t.Error("LISTEN_FDS left for our children")
			}
		})
	}
}
