package smtpout

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"unixmail/internal/testcert"
)

// sink is a go-smtp server that records what it receives and answers
// RCPT as told.
type sink struct {
	mu       sync.Mutex
	replies  map[string]*smtp.SMTPError // RCPT replies by address
	msgs     []string
	rcpts    [][]string
	authUser []string
	mailOpts []*smtp.MailOptions
}

type sinkSession struct {
	s     *sink
	rcpts []string
	user  string
	opts  *smtp.MailOptions
}

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }

func (ss *sinkSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (ss *sinkSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if pass != "pw" {
			return smtp.ErrAuthFailed
		}
		ss.user = user
		return nil
	}), nil
}
func (ss *sinkSession) Mail(_ string, opts *smtp.MailOptions) error { ss.opts = opts; return nil }
func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if e := ss.s.replies[to]; e != nil {
		return e
	}
	ss.rcpts = append(ss.rcpts, to)
	return nil
}
func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	ss.s.msgs = append(ss.s.msgs, string(b))
	ss.s.rcpts = append(ss.s.rcpts, ss.rcpts)
	ss.s.authUser = append(ss.s.authUser, ss.user)
	ss.s.mailOpts = append(ss.s.mailOpts, ss.opts)
	return nil
}
func (ss *sinkSession) Reset()        { ss.rcpts = nil }
func (ss *sinkSession) Logout() error { return nil }

// startSink listens on 127.0.0.1 and returns the port.
func startSink(t *testing.T, s *sink, configure func(*smtp.Server)) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(s)
	srv.Domain = "sink.example"
	srv.EnableSMTPUTF8 = true
	if configure != nil {
		configure(srv)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

func selfSigned(t *testing.T) *tls.Config { return testcert.New(t).TLSConfig() }

func message(s string) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(s)), nil }
}

// hosts is a fake resolver: names to addresses, anything else NXDOMAIN.
type hosts struct {
	mu      sync.Mutex
	mx      map[string][]*net.MX
	addrs   map[string][]string
	asked   []string
	mxError error
}

func (h *hosts) lookupMX(_ context.Context, name string) ([]*net.MX, error) {
	if h.mxError != nil {
		return nil, h.mxError
	}
	if mx, ok := h.mx[name]; ok {
		return mx, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (h *hosts) lookupHost(_ context.Context, name string) ([]string, error) {
	h.mu.Lock()
	h.asked = append(h.asked, name)
	h.mu.Unlock()
	if a, ok := h.addrs[name]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func options(port int, h *hosts) Options {
	return Options{Helo: "out.example", Port: port, TLS: "none", LookupMX: h.lookupMX, LookupHost: h.lookupHost,
		TLSConfig: &tls.Config{InsecureSkipVerify: true}, Timeout: time.Minute}
}

func TestDeliverGivesEachRecipientItsOwnAnswerOverOneConnection(t *testing.T) {
	s := &sink{replies: map[string]*smtp.SMTPError{
		"gone@dest.example": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"},
		"full@dest.example": {Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full"},
	}}
	port := startSink(t, s, nil)
	h := &hosts{addrs: map[string][]string{"dest.example": {"127.0.0.1"}}}
	rcpts := []string{"a@dest.example", "gone@dest.example", "full@dest.example", "b@dest.example"}
	res := Deliver(context.Background(), options(port, h), "dest.example", "sender@src.example", rcpts,
		message("Subject: t\n\n.dot line\nbody\n"))
	want := []struct {
		code int
		enh  string
		temp bool
	}{{250, "2.0.0", false}, {550, "5.1.1", false}, {452, "4.2.2", true}, {250, "2.0.0", false}}
	for i, w := range want {
		r := res[i]
		if r.Rcpt != rcpts[i] || r.Code != w.code || r.Enhanced != w.enh || r.Temporary != w.temp || r.Relay != "dest.example[127.0.0.1]:"+strconv.Itoa(port) {
			t.Errorf("result %d = %+v, want %+v", i, r, w)
		}
	}
	if len(s.msgs) != 1 || s.msgs[0] != "Subject: t\r\n\r\n.dot line\r\nbody\r\n" || len(s.rcpts[0]) != 2 {
		t.Fatalf("sink got %q for %v", s.msgs, s.rcpts)
	}
	if s.mailOpts[0].Size != int64(len(s.msgs[0])) || s.mailOpts[0].Body != smtp.Body8BitMIME {
		t.Errorf("MAIL options %+v", s.mailOpts[0])
	}
}

func TestMXHostsAreTriedInPreferenceOrder(t *testing.T) {
	s := &sink{}
	port := startSink(t, s, nil)
	h := &hosts{
		mx: map[string][]*net.MX{"dest.example": {
			{Host: "backup.dest.example.", Pref: 20},
			{Host: "down.dest.example.", Pref: 5},
			{Host: "missing.dest.example.", Pref: 10},
		}},
		// Nothing listens on 127.0.0.2: the connection is refused.
		addrs: map[string][]string{"down.dest.example": {"127.0.0.2"}, "backup.dest.example": {"127.0.0.1"}},
	}
	res := Deliver(context.Background(), options(port, h), "dest.example", "s@src.example", []string{"r@dest.example"}, message("x\n"))
	if res[0].Code != 250 || res[0].Relay != "backup.dest.example[127.0.0.1]:"+strconv.Itoa(port) {
		t.Fatalf("result %+v", res[0])
	}
	if got := strings.Join(h.asked, " "); got != "down.dest.example missing.dest.example backup.dest.example" {
		t.Errorf("hosts tried: %s", got)
	}
}

func TestRoutingFailures(t *testing.T) {
	for _, tc := range []struct {
		name     string
		h        *hosts
		enhanced string
		temp     bool
	}{
		{"null MX", &hosts{mx: map[string][]*net.MX{"dest.example": {{Host: ".", Pref: 0}}}}, "5.1.10", false},
		{"NXDOMAIN", &hosts{}, "5.1.2", false},
		{"DNS timeout", &hosts{mxError: &net.DNSError{Err: "i/o timeout", IsTimeout: true}}, "4.4.3", true},
		{"server down", &hosts{addrs: map[string][]string{"dest.example": {"127.0.0.2"}}}, "4.4.1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := Deliver(context.Background(), options(1, tc.h), "dest.example", "s@src.example",
				[]string{"a@dest.example", "b@dest.example"}, message("x\n"))
			for _, r := range res {
				if r.Enhanced != tc.enhanced || r.Temporary != tc.temp || r.Code != 0 {
					t.Errorf("%+v, want %s temporary=%v", r, tc.enhanced, tc.temp)
				}
			}
		})
	}
}

func TestRequiredTLSNotOfferedIsTemporary(t *testing.T) {
	s := &sink{}
	port := startSink(t, s, nil)
	o := options(port, &hosts{})
	o.TLS, o.Relayhost = "starttls", "[127.0.0.1]"
	res := Deliver(context.Background(), o, "dest.example", "s@src.example", []string{"r@dest.example"}, message("x\n"))
	if !res[0].Temporary || res[0].Enhanced != "4.7.4" || len(s.msgs) != 0 {
		t.Fatalf("%+v, sink got %d", res[0], len(s.msgs))
	}
}

func TestSTARTTLSCarriesTheAuthentication(t *testing.T) {
	for _, mode := range []string{"starttls", "opportunistic"} {
		t.Run(mode, func(t *testing.T) {
			s := &sink{}
			cfg := selfSigned(t)
			port := startSink(t, s, func(srv *smtp.Server) { srv.TLSConfig = cfg })
			o := options(port, &hosts{})
			o.TLS, o.Relayhost, o.AuthUser, o.AuthPass = mode, "[127.0.0.1]:"+strconv.Itoa(port), "relayuser", "pw"
			o.Port = 1 // the relayhost's port wins
			res := Deliver(context.Background(), o, "dest.example", "s@src.example", []string{"r@far.example"}, message("x\n"))
			if res[0].Code != 250 || len(s.authUser) != 1 || s.authUser[0] != "relayuser" {
				t.Fatalf("%+v; sink saw users %q", res[0], s.authUser)
			}
		})
	}
}

func TestAuthenticationIsNeverSentWithoutTLS(t *testing.T) {
	s := &sink{}
	port := startSink(t, s, func(srv *smtp.Server) { srv.AllowInsecureAuth = true })
	o := options(port, &hosts{})
	o.Relayhost, o.AuthUser, o.AuthPass = "[127.0.0.1]", "relayuser", "pw"
	res := Deliver(context.Background(), o, "dest.example", "s@src.example", []string{"r@far.example"}, message("x\n"))
	if res[0].Code != 250 || len(s.authUser) != 1 || s.authUser[0] != "" {
		t.Fatalf("%+v; sink saw users %q", res[0], s.authUser)
	}
}

func TestImplicitTLSDelivers(t *testing.T) {
	s := &sink{}
	cfg := selfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(s)
	srv.TLSConfig = cfg
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	o := options(ln.Addr().(*net.TCPAddr).Port, &hosts{})
	o.TLS, o.Relayhost, o.AuthUser, o.AuthPass = "tls", "[127.0.0.1]", "u", "pw"
	res := Deliver(context.Background(), o, "dest.example", "s@src.example", []string{"r@far.example"}, message("x\n"))
	if res[0].Code != 250 || s.authUser[0] != "u" {
		t.Fatalf("%+v", res[0])
	}
}

func TestALineLongerThan998OctetsFailsPermanentlyBeforeConnecting(t *testing.T) {
	s := &sink{}
	port := startSink(t, s, nil)
	o := options(port, &hosts{})
	o.Relayhost = "[127.0.0.1]"
	ok := Deliver(context.Background(), o, "d", "s@x", []string{"r@d"}, message(strings.Repeat("a", 998)+"\r\n"))
	long := Deliver(context.Background(), o, "d", "s@x", []string{"r@d"}, message(strings.Repeat("a", 999)+"\n"))
	if ok[0].Code != 250 || long[0].Temporary || long[0].Enhanced != "5.6.0" || len(s.msgs) != 1 {
		t.Fatalf("998: %+v, 999: %+v", ok[0], long[0])
	}
}

func TestNonASCIIAddressesUseSMTPUTF8(t *testing.T) {
	s := &sink{}
	port := startSink(t, s, nil)
	o := options(port, &hosts{})
	o.Relayhost = "[127.0.0.1]"
	res := Deliver(context.Background(), o, "d", "jösé@src.example", []string{"r@d"}, message("Subject: ü\n\nx\n"))
	if res[0].Code != 250 || !s.mailOpts[0].UTF8 {
		t.Fatalf("%+v %+v", res[0], s.mailOpts)
	}
}

func TestAMessageThatCannotBeReadIsTemporary(t *testing.T) {
	open := func() (io.ReadCloser, error) { return nil, errors.New("queue file vanished") }
	res := Deliver(context.Background(), options(1, &hosts{}), "d", "s@x", []string{"r@d"}, open)
	if !res[0].Temporary || !strings.Contains(res[0].Message, "vanished") {
		t.Fatalf("%+v", res[0])
	}
}
