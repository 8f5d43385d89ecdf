package daemon

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"unixmail/internal/testcert"
	"unixmail/pkg/auth"
	"unixmail/pkg/maillog"
	"unixmail/pkg/throttle"
	"unixmail/pkg/userdb"
)

func TestPlaintextIsAllowedOnlyOverTLSLoopbackOrAPipe(t *testing.T) {
	tests := []struct {
		name  string
		addr  net.Addr
		tls   bool
		allow bool
	}{
		{"a pipe", pipeAddr{}, false, true},
		{"a Unix socket", &net.UnixAddr{Name: "@x", Net: "unix"}, false, true},
		{"IPv4 loopback", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, false, true},
		{"another 127 address", &net.TCPAddr{IP: net.IPv4(127, 9, 9, 9)}, false, true},
		{"IPv6 loopback", &net.TCPAddr{IP: net.IPv6loopback}, false, true},
		{"a LAN address", &net.TCPAddr{IP: net.IPv4(192, 168, 1, 5)}, false, false},
		{"a LAN address over TLS", &net.TCPAddr{IP: net.IPv4(192, 168, 1, 5)}, true, true},
		{"IPv4-mapped remote", &net.TCPAddr{IP: net.ParseIP("::ffff:10.0.0.1")}, false, false},
	}
	for _, tt := range tests {
		c := &Client{}
		c.Peer, c.local = peerOf(tt.addr)
		if tt.tls {
			c.tlsState = &tls.ConnectionState{}
		}
		if got := c.PlaintextOK(); got != tt.allow {
			t.Errorf("%s (%s): PlaintextOK = %v, want %v", tt.name, c.Peer, got, tt.allow)
		}
	}
}

// fakeAuth knows one user, bob, with password "right".
type fakeAuth struct{ uid int }

func (f fakeAuth) Authenticate(user, password string) (*userdb.User, error) {
	if user == "bob" && password == "right" {
		return &userdb.User{Name: "bob", UID: f.uid, GID: f.uid, Home: "/home/bob"}, nil
	}
	return nil, auth.ErrBadCredentials
}

func testClient(t *testing.T, peer string) (*Client, *[]time.Duration, string) {
	t.Helper()
	logFile := filepath.Join(t.TempDir(), "log")
	var waits []time.Duration
	policy := throttle.ConfigPolicy(2*time.Second, 3)
	c := &Client{Peer: peer, Log: maillog.New(logFile, "ipop3d", true), auth: fakeAuth{uid: os.Getuid()},
		session: throttle.NewTracker(policy).Session(peer), maxDelay: policy.MaxDelay,
		sleep: func(d time.Duration) { waits = append(waits, d) }}
	t.Cleanup(func() { c.Log.Close() })
	return c, &waits, logFile
}

func TestFailedLoginsWaitLongerEachTimeAndTheThirdCloses(t *testing.T) {
	c, waits, logFile := testClient(t, "192.0.2.7")
	for i := 1; i <= 3; i++ {
		if c.TooManyFailures() {
			t.Fatalf("closed after %d failures", i-1)
		}
		if _, err := c.Authenticate("bob", "secret-guess", "USER"); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	if !c.TooManyFailures() {
		t.Error("still open after 3 failures")
	}
	want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second}
	if !slices.Equal(*waits, want) {
		t.Errorf("waits %v, want %v", *waits, want)
	}
	log, _ := os.ReadFile(logFile)
	if !strings.Contains(string(log), "warning: login failed user=<bob> rip=192.0.2.7 method=USER tls=no reason=bad user name or password (failures 3)") {
		t.Errorf("log:\n%s", log)
	}
	if strings.Contains(string(log), "secret-guess") {
		t.Errorf("the password is in the log:\n%s", log)
	}
}

func TestASuccessfulLoginIsLoggedWithoutAWait(t *testing.T) {
	c, waits, logFile := testClient(t, "127.0.0.1")
	u, err := c.Authenticate("bob", "right", "PLAIN")
	if err != nil || u.Name != "bob" {
		t.Fatalf("Authenticate = %v, %v", u, err)
	}
	if len(*waits) != 0 {
		t.Errorf("waited %v", *waits)
	}
	log, _ := os.ReadFile(logFile)
	if !strings.Contains(string(log), "ipop3d["+strconv.Itoa(os.Getpid())+"]: login user=<bob> rip=127.0.0.1 method=PLAIN tls=no") {
		t.Errorf("log:\n%s", log)
	}
}

func TestANonRootServerServesOnlyItsCaller(t *testing.T) {
	if os.Getuid() == 0 {
		t.Skip("as root every user may be served")
	}
	c, _, _ := testClient(t, "local")
	c.auth = fakeAuth{uid: os.Getuid() + 1}
	if _, err := c.Authenticate("bob", "right", "USER"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("another user's login: %v", err)
	}
	if err := c.BecomeUser(&userdb.User{Name: "bob", UID: os.Getuid() + 1}); !errors.Is(err, ErrNotCaller) {
		t.Errorf("BecomeUser(another) = %v", err)
	}
	if err := c.BecomeUser(&userdb.User{Name: "me", UID: os.Getuid(), GID: os.Getgid()}); err != nil {
		t.Errorf("BecomeUser(me) = %v", err)
	}
}

func TestFailuresFromOneAddressAddUpAcrossConnections(t *testing.T) {
	s := &failureStore{dir: filepath.Join(t.TempDir(), "state"), decay: time.Minute}
	for i := 0; i < 4; i++ {
		if got := s.fail("192.0.2.9"); got != i {
			t.Errorf("failure %d: %d before it, want %d", i+1, got, i)
		}
	}
	if got := s.fail("2001:db8::1"); got != 0 {
		t.Errorf("another address starts at %d", got)
	}
	old := time.Now().Add(-150 * time.Second)
	os.Chtimes(filepath.Join(s.dir, "192.0.2.9"), old, old)
	if got := s.fail("192.0.2.9"); got != 2 {
		t.Errorf("after two and a half quiet minutes: %d before, want 4-2", got)
	}
	for _, bad := range []string{"local", "../x", ""} {
		if got := s.fail(bad); got != 0 {
			t.Errorf("fail(%q) = %d", bad, got)
		}
	}
}

func TestAddressesQuietForADayAreForgotten(t *testing.T) {
	s := &failureStore{dir: t.TempDir(), decay: time.Minute}
	s.fail("192.0.2.1")
	s.fail("192.0.2.2")
	old := time.Now().Add(-25 * time.Hour)
	os.Chtimes(filepath.Join(s.dir, "192.0.2.1"), old, old)
	s.fail("192.0.2.3") // a new address sweeps
	if _, err := os.Stat(filepath.Join(s.dir, "192.0.2.1")); err == nil {
		t.Error("the file of an address quiet for 25 hours is still there")
	}
	if _, err := os.Stat(filepath.Join(s.dir, "192.0.2.2")); err != nil {
		t.Errorf("a recent address was forgotten: %v", err)
	}
}

func TestFailuresAcrossConnectionsLengthenTheWaitUpToItsCap(t *testing.T) {
	c, waits, _ := testClient(t, "192.0.2.8")
	c.store = &failureStore{dir: t.TempDir(), decay: time.Minute}
	for range 4 {
		c.store.fail("192.0.2.8") // four failures on earlier connections
	}
	c.Authenticate("bob", "guess", "USER")
	c.Authenticate("bob", "guess", "USER")
	if want := []time.Duration{16 * time.Second, 16 * time.Second}; !slices.Equal(*waits, want) {
		t.Errorf("waits %v, want %v (8 times the first, at most)", *waits, want)
	}
}

func TestStartTLSRefusesBytesSentBeforeTheHandshake(t *testing.T) {
	server, client := net.Pipe()
	defer server.Close()
	defer client.Close()
	cert := testcert.New(t)
	conf := cert.TLSConfig()
	conf.MinVersion = tls.VersionTLS12
	c := &Client{Conn: server, tlsConf: conf}
	if err := c.StartTLS(7); err == nil || !strings.Contains(err.Error(), "7 bytes") {
		t.Errorf("StartTLS with buffered input = %v", err)
	}
	done := make(chan error, 1)
	go func() {
		tc := tls.Client(client, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
		err := tc.Handshake()
		client.Close()
		done <- err
	}()
	if err := c.StartTLS(0); err == nil {
		t.Error("a TLS 1.1 client was accepted")
	}
	<-done
}

func TestStartTLSUpgradesTheConnection(t *testing.T) {
	server, client := net.Pipe()
	defer server.Close()
	defer client.Close()
	c := &Client{Conn: server, tlsConf: testcert.New(t).TLSConfig()}
	go func() {
		tc := tls.Client(client, &tls.Config{InsecureSkipVerify: true})
		tc.Handshake()
		tc.Write([]byte("hello"))
	}()
	if err := c.StartTLS(0); err != nil {
		t.Fatal(err)
	}
	if !c.TLS() || c.CanStartTLS() {
		t.Errorf("TLS = %v, CanStartTLS = %v", c.TLS(), c.CanStartTLS())
	}
	buf := make([]byte, 5)
	if _, err := c.Conn.Read(buf); err != nil || string(buf) != "hello" {
		t.Errorf("read %q, %v", buf, err)
	}
}

func TestPipeConnectionsHonourDeadlines(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	pr, err := pollable(int(r.Fd()), "r")
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	c := &pipeConn{r: pr, w: w}
	defer pr.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read past the deadline: %v", err)
	}
}

func TestAPipeIsGivenRoomForAMegabyteWhereTheSystemAllows(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	limit, err := os.ReadFile("/proc/sys/fs/pipe-max-size")
	if err != nil || strings.TrimSpace(string(limit)) != "1048576" {
		t.Skipf("pipe-max-size %q (%v): not the default", limit, err)
	}
	pw, err := pollable(int(w.Fd()), "w")
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	if n, err := unix.FcntlInt(pw.Fd(), unix.F_GETPIPE_SZ, 0); err != nil || n != pipeRoom {
		t.Errorf("pipe of %d bytes (%v), want %d", n, err, pipeRoom)
	}
}
