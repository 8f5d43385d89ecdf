package pop3

import (
	"bufio"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"unixmail/pkg/auth"
	"unixmail/pkg/config"
	"unixmail/pkg/daemon"
	"unixmail/pkg/maillog"
	"unixmail/pkg/userdb"
)

// memDrop is a Maildrop held in memory, for protocol tests.
type memDrop struct {
	mu        sync.Mutex
	texts     []string
	uids      []string
	committed bool
	closed    bool
	deleted   []bool
	retrieved []bool
}

func (m *memDrop) Count() int { return len(m.texts) }

func (m *memDrop) Open(i int) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader(m.texts[i])), nil
}

func (m *memDrop) UIDs() ([]string, error) { return m.uids, nil }

func (m *memDrop) Commit(deleted, retrieved []bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.committed, m.deleted, m.retrieved = true, deleted, retrieved
	return nil
}

func (m *memDrop) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

func (m *memDrop) state() (committed, closed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.committed, m.closed
}

// fakeAuth knows bob, password "pw secret" (with a space, as PASS allows).
type fakeAuth struct{}

func (fakeAuth) Authenticate(user, password string) (*userdb.User, error) {
	if user == "bob" && password == "pw secret" {
		return &userdb.User{Name: "bob", UID: os.Getuid(), GID: os.Getgid(), Home: "/nonexistent"}, nil
	}
	return nil, auth.ErrBadCredentials
}

// remoteConn makes a pipe look like a TCP connection from another host.
type remoteConn struct{ net.Conn }

func (remoteConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 10), Port: 4000} }

// dialog is a client end of a session in a goroutine.
type dialog struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	done chan struct{}
	log  string
}

type setup struct {
	drop    Maildrop
	openErr error
	remote  bool
	apop    map[string]string
}

func start(t *testing.T, s setup) *dialog {
	t.Helper()
	server, client := net.Pipe()
	var conn net.Conn = server
	if s.remote {
		conn = remoteConn{server}
	}
	cfg := config.Defaults()
	cfg.ClientAuthFailureDelay = 0
	logFile := filepath.Join(t.TempDir(), "log")
	log := maillog.New(logFile, "ipop3d", true)
	c, err := daemon.NewClient(daemon.Options{Config: cfg, Auth: fakeAuth{}, Log: log}, conn)
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Client: c, Hostname: "pop.example", APOP: s.apop, Open: func(*userdb.User) (Maildrop, error) {
		if s.openErr != nil {
			return nil, s.openErr
		}
		return s.drop, nil
	}}
	d := &dialog{t: t, conn: client, r: bufio.NewReader(client), done: make(chan struct{}), log: logFile}
	go func() {
		srv.Serve()
		server.Close()
		log.Close()
		close(d.done)
	}()
	t.Cleanup(func() { client.Close(); <-d.done })
	d.line() // the greeting
	return d
}

// send writes a command line and returns the first response line.
func (d *dialog) send(line string) string {
	d.t.Helper()
	d.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(d.conn, line+"\r\n"); err != nil {
		d.t.Fatalf("send %q: %v", line, err)
	}
	return d.line()
}

func (d *dialog) line() string {
	d.t.Helper()
	d.conn.SetDeadline(time.Now().Add(10 * time.Second))
	l, err := d.r.ReadString('\n')
	if err != nil {
		return "EOF"
	}
	if !strings.HasSuffix(l, "\r\n") {
		d.t.Errorf("line without CRLF: %q", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// multi reads a multi-line response's body up to the "." line, raw.
func (d *dialog) multi() string {
	d.t.Helper()
	var b strings.Builder
	for {
		l := d.line()
		if l == "." || l == "EOF" {
			return b.String()
		}
		b.WriteString(l + "\r\n")
	}
}

func (d *dialog) closed() bool {
	select {
	case <-d.done:
		return true
	case <-time.After(5 * time.Second):
		return false
	}
}

func (d *dialog) login() {
	d.t.Helper()
	if r := d.send("USER bob"); !strings.HasPrefix(r, "+OK") {
		d.t.Fatalf("USER: %s", r)
	}
	if r := d.send("PASS pw secret"); !strings.HasPrefix(r, "+OK") {
		d.t.Fatalf("PASS: %s", r)
	}
}

func threeMessages() *memDrop {
	return &memDrop{
		texts: []string{
			"Subject: one\n\nline\n.starts with a dot\n",
			"Subject: two\r\n\r\nCRLF body\r\nsecond\r\nthird\r\n",
			"Subject: three\n\nno final newline",
		},
		uids: []string{"0000000700000001", "0000000700000002", "0000000700000005"},
	}
}

func TestASessionListsRetrievesDeletesAndCommitsAtQuit(t *testing.T) {
	drop := threeMessages()
	d := start(t, setup{drop: drop})
	d.login()
	// What RETR sends, CRLF lines, before dot-stuffing.
	sizes := []int{
		len("Subject: one\r\n\r\nline\r\n.starts with a dot\r\n"),
		len("Subject: two\r\n\r\nCRLF body\r\nsecond\r\nthird\r\n"),
		len("Subject: three\r\n\r\nno final newline\r\n"),
	}
	total := sizes[0] + sizes[1] + sizes[2]
	steps := []struct{ cmd, want, body string }{
		{"STAT", fmt.Sprintf("+OK 3 %d", total), ""},
		{"LIST", "+OK 3 messages", fmt.Sprintf("1 %d\r\n2 %d\r\n3 %d\r\n", sizes[0], sizes[1], sizes[2])},
		{"LIST 2", fmt.Sprintf("+OK 2 %d", sizes[1]), ""},
		{"UIDL", "+OK", "1 0000000700000001\r\n2 0000000700000002\r\n3 0000000700000005\r\n"},
		{"UIDL 3", "+OK 3 0000000700000005", ""},
		{"RETR 1", "+OK", "Subject: one\r\n\r\nline\r\n..starts with a dot\r\n"},
		{"TOP 2 1", "+OK", "Subject: two\r\n\r\nCRLF body\r\n"},
		{"TOP 3 0", "+OK", "Subject: three\r\n\r\n"},
		{"RETR 3", "+OK", "Subject: three\r\n\r\nno final newline\r\n"},
		{"DELE 1", "+OK message 1 deleted", ""},
		{"DELE 1", "-ERR message 1 is deleted", ""},
		{"RETR 1", "-ERR message 1 is deleted", ""},
		{"STAT", fmt.Sprintf("+OK 2 %d", total-sizes[0]), ""},
		{"RSET", "+OK maildrop has 3 messages", ""},
		{"DELE 2", "+OK", ""},
		{"NOOP", "+OK", ""},
	}
	for _, s := range steps {
		got := d.send(s.cmd)
		if !strings.HasPrefix(got, s.want) {
			t.Errorf("%s: %q, want %q...", s.cmd, got, s.want)
		}
		if s.body != "" {
			if body := d.multi(); body != s.body {
				t.Errorf("%s body:\n%q\nwant\n%q", s.cmd, body, s.body)
			}
		}
	}
	if r := d.send("QUIT"); r != "+OK bye (2 messages left)" {
		t.Errorf("QUIT: %q", r)
	}
	if !d.closed() {
		t.Fatal("still open after QUIT")
	}
	committed, _ := drop.state()
	if !committed || !drop.deleted[1] || drop.deleted[0] || !drop.retrieved[0] || !drop.retrieved[2] || drop.retrieved[1] {
		t.Errorf("commit: %v deleted %v retrieved %v (TOP does not retrieve)", committed, drop.deleted, drop.retrieved)
	}
	log, _ := os.ReadFile(d.log)
	if !strings.Contains(string(log), "logout user=<bob> rip=local retr=2 del=1 size=") {
		t.Errorf("log:\n%s", log)
	}
}

func TestBadCommandsGetErrorsAndTheSessionGoesOn(t *testing.T) {
	drop := threeMessages()
	d := start(t, setup{drop: drop})
	before := []struct{ cmd, want string }{
		{"STAT", "-ERR STAT is not valid in this state"},
		{"PASS x", "-ERR send USER first"},
		{"XYZZY", "-ERR unknown command"},
		{"", "-ERR unknown command"},
		{"USER", "-ERR USER needs a name"},
		{"AUTH CRAM-MD5", "-ERR unsupported authentication mechanism"},
		{"APOP bob 0123456789abcdef0123456789abcdef", "-ERR APOP is not offered here"},
		{"STLS", "-ERR STLS is not available"},
		{strings.Repeat("A", 5000), "-ERR line too long"},
	}
	for _, s := range before {
		if got := d.send(s.cmd); got != s.want {
			t.Errorf("%.20s: %q, want %q", s.cmd, got, s.want)
		}
	}
	d.login()
	after := []struct{ cmd, want string }{
		{"USER bob", "-ERR USER is not valid in this state"},
		{"RETR", "-ERR want a message number"},
		{"RETR 0", "-ERR no such message"},
		{"RETR 4", "-ERR no such message"},
		{"RETR +1", "-ERR want a message number"},
		{"RETR 99999999999999", "-ERR want a message number"},
		{"DELE x", "-ERR want a message number"},
		{"TOP 1", "-ERR usage: TOP msg lines"},
		{"TOP 1 -1", "-ERR usage: TOP msg lines"},
		{"STAT 1", "-ERR STAT takes no argument"},
		{"stat", "+OK 3"},
	}
	for _, s := range after {
		if got := d.send(s.cmd); !strings.HasPrefix(got, s.want) {
			t.Errorf("%s: %q, want %q", s.cmd, got, s.want)
		}
	}
}

func TestAFloodOfGarbageIsClosed(t *testing.T) {
	d := start(t, setup{drop: threeMessages()})
	var last string
	for i := 0; i < maxErrors; i++ {
		last = d.send("GARBAGE")
	}
	if !strings.Contains(last, "too many bad commands") || !d.closed() {
		t.Errorf("after %d bad commands: %q, open", maxErrors, last)
	}
}

func TestADroppedConnectionChangesNothing(t *testing.T) {
	drop := threeMessages()
	d := start(t, setup{drop: drop})
	d.login()
	d.send("DELE 1")
	d.conn.Close()
	if !d.closed() {
		t.Fatal("the session did not end")
	}
	if committed, closed := drop.state(); committed || !closed {
		t.Errorf("committed %v, closed %v: want only closed", committed, closed)
	}
}

func TestASecondSessionGetsInUse(t *testing.T) {
	d := start(t, setup{openErr: ErrInUse})
	d.send("USER bob")
	if r := d.send("PASS pw secret"); !strings.HasPrefix(r, "-ERR [IN-USE]") {
		t.Errorf("PASS: %q", r)
	}
	if !d.closed() {
		t.Error("still open")
	}
}

func TestAMaildropThatCannotBeOpenedIsATemporaryError(t *testing.T) {
	d := start(t, setup{openErr: errors.New("disk on fire")})
	d.send("USER bob")
	if r := d.send("PASS pw secret"); !strings.HasPrefix(r, "-ERR [SYS/TEMP]") {
		t.Errorf("PASS: %q", r)
	}
}

func TestWrongPasswordsGetAuthAndTheThirdCloses(t *testing.T) {
	d := start(t, setup{drop: threeMessages()})
	for i := 1; i <= 3; i++ {
		d.send("USER bob")
		if r := d.send("PASS wrong"); r != "-ERR [AUTH] authentication failed" {
			t.Errorf("failure %d: %q", i, r)
		}
	}
	if r := d.line(); !strings.Contains(r, "too many failures") || !d.closed() {
		t.Errorf("after 3 failures: %q", r)
	}
	log, _ := os.ReadFile(d.log)
	if strings.Count(string(log), "login failed user=<bob> rip=local method=USER") != 3 || strings.Contains(string(log), "wrong") {
		t.Errorf("log:\n%s", log)
	}
}

func TestPlaintextIsRefusedFromAnotherHostWithoutTLS(t *testing.T) {
	d := start(t, setup{drop: threeMessages(), remote: true})
	if r := d.send("CAPA"); r != "+OK capability list follows" {
		t.Fatalf("CAPA: %q", r)
	}
	if caps := d.multi(); strings.Contains(caps, "USER") || strings.Contains(caps, "SASL") {
		t.Errorf("CAPA offers passwords in the clear:\n%s", caps)
	}
	for _, cmd := range []string{"USER bob", "PASS pw secret", "AUTH PLAIN " + plain("", "bob", "pw secret")} {
		if r := d.send(cmd); !strings.HasPrefix(r, "-ERR [AUTH] plaintext authentication is refused") {
			t.Errorf("%s: %q", cmd, r)
		}
	}
}

func plain(authz, user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(authz + "\x00" + user + "\x00" + pass))
}

func TestAuthPlainWithAnInitialResponseOrAContinuation(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  string
	}{
		{"initial response", []string{"AUTH PLAIN " + plain("", "bob", "pw secret")}, "+OK bob has 3 messages"},
		{"continuation", []string{"AUTH PLAIN", plain("", "bob", "pw secret")}, "+OK bob has 3 messages"},
		{"lower case", []string{"auth plain " + plain("bob", "bob", "pw secret")}, "+OK bob has 3 messages"},
		{"cancelled", []string{"AUTH PLAIN", "*"}, "-ERR authentication cancelled"},
		{"bad base64", []string{"AUTH PLAIN !!!"}, "-ERR invalid base64"},
		{"wrong password", []string{"AUTH PLAIN " + plain("", "bob", "nope")}, "-ERR [AUTH] authentication failed"},
		{"acting for another", []string{"AUTH PLAIN " + plain("alice", "bob", "pw secret")}, "-ERR [AUTH] authentication failed"},
		{"no separators", []string{"AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("bob"))}, "-ERR malformed PLAIN response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := start(t, setup{drop: threeMessages()})
			var r string
			for i, l := range tt.lines {
				r = d.send(l)
				if i < len(tt.lines)-1 && r != "+ " {
					t.Fatalf("continuation: %q", r)
				}
			}
			if !strings.HasPrefix(r, tt.want) {
				t.Errorf("%q, want %q", r, tt.want)
			}
		})
	}
}

func TestAPOPWhenTurnedOn(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	cfg := config.Defaults()
	cfg.ClientAuthFailureDelay = 0
	// APOP logs in through user_db, which fakeAuth does not cover: look up
	// the running user in a passwd file of one line.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "passwd"), fmt.Appendf(nil, "bob:x:%d:%d::/tmp:/bin/sh\n", os.Getuid(), os.Getgid()), 0o644)
	cfg.UserDB = filepath.Join(dir, "passwd")
	c, err := daemon.NewClient(daemon.Options{Config: cfg, Auth: fakeAuth{}}, server)
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Client: c, Hostname: "pop.example", APOP: map[string]string{"bob": "tanstaaf"},
		Open: func(*userdb.User) (Maildrop, error) { return threeMessages(), nil }}
	go srv.Serve()
	r := bufio.NewReader(client)
	greeting, _ := r.ReadString('\n')
	start, end := strings.Index(greeting, "<"), strings.Index(greeting, ">")
	if start < 0 || end < start || !strings.Contains(greeting, "@pop.example>") {
		t.Fatalf("greeting without a timestamp: %q", greeting)
	}
	sum := md5.Sum([]byte(greeting[start:end+1] + "tanstaaf"))
	fmt.Fprintf(client, "APOP bob %s\r\n", strings.Repeat("0", 32))
	if l, _ := r.ReadString('\n'); !strings.HasPrefix(l, "-ERR [AUTH]") {
		t.Errorf("wrong digest: %q", l)
	}
	fmt.Fprintf(client, "APOP bob %s\r\n", hex.EncodeToString(sum[:]))
	if l, _ := r.ReadString('\n'); !strings.HasPrefix(l, "+OK bob has 3 messages") {
		t.Errorf("right digest: %q", l)
	}
}

func TestLoadAPOPSecretsRefusesAFileOthersCanRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "apop")
	os.WriteFile(path, []byte("# secrets\nbob:tanstaaf\n"), 0o640)
	if _, err := LoadAPOPSecrets(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("mode 0640: %v", err)
	}
	os.Chmod(path, 0o600)
	s, err := LoadAPOPSecrets(path)
	if err != nil || s["bob"] != "tanstaaf" {
		t.Errorf("LoadAPOPSecrets = %v, %v", s, err)
	}
	os.WriteFile(path, []byte("bob\n"), 0o600)
	if _, err := LoadAPOPSecrets(path); err == nil || strings.Contains(err.Error(), "bob") {
		t.Errorf("a bad line: %v (must not quote it)", err)
	}
	link := filepath.Join(dir, "link")
	os.Symlink(path, link)
	if _, err := LoadAPOPSecrets(link); err == nil {
		t.Error("a symbolic link was followed")
	}
}

func TestCapaOffersWhatTheStateAllows(t *testing.T) {
	d := start(t, setup{drop: threeMessages()})
	d.send("CAPA")
	caps := d.multi()
	for _, c := range []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "USER", "SASL PLAIN"} {
		if !strings.Contains(caps, c+"\r\n") {
			t.Errorf("CAPA before login lacks %s:\n%s", c, caps)
		}
	}
	d.login()
	d.send("CAPA")
	if caps := d.multi(); strings.Contains(caps, "USER") || strings.Contains(caps, "SASL") {
		t.Errorf("CAPA after login offers login:\n%s", caps)
	}
}

func TestPipelinedCommandsAreAllAnswered(t *testing.T) {
	d := start(t, setup{drop: threeMessages()})
	io.WriteString(d.conn, "USER bob\r\nPASS pw secret\r\nSTAT\r\nNOOP\r\nQUIT\r\n")
	for _, want := range []string{"+OK send PASS", "+OK bob has 3", "+OK 3 ", "+OK", "+OK bye"} {
		if l := d.line(); !strings.HasPrefix(l, want) {
			t.Errorf("%q, want %q", l, want)
		}
	}
}

// FuzzSession feeds any input to a session: it must answer every line
// with +OK, -ERR, a continuation or a multi-line response, and never
// panic.
func FuzzSession(f *testing.F) {
	f.Add("USER bob\r\nPASS pw secret\r\nLIST\r\nRETR 1\r\nTOP 2 0\r\nDELE 3\r\nQUIT\r\n")
	f.Add("AUTH PLAIN\r\n*\r\nCAPA\r\nxx\x00\r\n\r\n")
	f.Fuzz(func(t *testing.T, input string) {
		server, client := net.Pipe()
		cfg := config.Defaults()
		cfg.ClientAuthFailureDelay = 0
		c, err := daemon.NewClient(daemon.Options{Config: cfg, Auth: fakeAuth{}}, server)
		if err != nil {
			t.Fatal(err)
		}
		srv := &Server{Client: c, Hostname: "h", Open: func(*userdb.User) (Maildrop, error) { return threeMessages(), nil }}
		done := make(chan struct{})
		go func() { srv.Serve(); server.Close(); close(done) }()
		// Whatever state the input leaves, the QUITs end the session (the
		// first may be taken as an AUTH continuation).
		go io.WriteString(client, input+"\r\nQUIT\r\nQUIT\r\n")
		client.SetReadDeadline(time.Now().Add(20 * time.Second))
		out, _ := io.ReadAll(client)
		client.Close()
		<-done
		if !strings.HasPrefix(string(out), "+OK") {
			t.Fatalf("no greeting: %q", out)
		}
	})
}
