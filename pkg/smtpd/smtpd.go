// Package smtpd is the SMTP server of sendmail(8): the daemon (-bd) and the
// session on standard input (-bs). go-smtp speaks the protocol; this package
// decides who may relay, checks what arrives and hands the message to a queue.
//
// Implemented: RFC 5321 (SMTP, with the 4.4 Received trace header), RFC 3207
// (STARTTLS), RFC 4954 (AUTH PLAIN and LOGIN), RFC 1870 (SIZE), RFC 6152
// (8BITMIME), RFC 2920 (PIPELINING), RFC 2034 (ENHANCEDSTATUSCODES) and the
// RFC 3461 DSN parameters (accepted and passed on in the Envelope).
package smtpd

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"unixmail/pkg/throttle"
)

// Logger receives one line per event, in the style of Postfix's smtpd.
type Logger interface {
	Info(format string, args ...any)
	Warn(format string, args ...any)
	Error(format string, args ...any)
}

// Envelope is what the client told us about one message.
type Envelope struct {
	From  string   // without <>; "" is the null sender
	Rcpts []string // as given, without <>
	// Notify maps a recipient to its DSN NOTIFY value ("SUCCESS,FAILURE",
	// "NEVER"...) when the client gave one.
	Notify map[string]string
	Ret    string // DSN RET: "FULL", "HDRS" or ""
	EnvID  string // DSN ENVID, decoded

	ClientAddr string // IP address, "" when unknown
	ClientName string // "unknown" without reverse DNS, "localhost" for -bs
	Helo       string
	AuthUser   string // the SASL user name, "" when not authenticated
	Protocol   string // SMTP, ESMTP, ESMTPS, ESMTPA or ESMTPSA
	// Submitted: our own user sent it (authenticated, or the local
	// user of -bs), so it is ours to DKIM-sign.
	Submitted bool
	// Queued, when set, is called by Enqueue with the message's queue id
	// as soon as it is chosen, before the queue logs anything of it: the
	// server's "ID: client=" line then comes first, as in Postfix.
	Queued func(id string) `json:"-"`
}

// Queue stores accepted messages.
type Queue interface {
	// Enqueue stores the message durably (fsync'ed) and returns its queue
	// id; only then does the server answer 250 "2.0.0 Ok: queued as ID".
	// An error answers 451 4.3.0 and is logged.
	//
	// msg must be read to io.EOF. When reading it fails (the client sent
	// a bare LF, too much data, or went away) Enqueue must store nothing
	// and return an error: the server then answers with the reason.
	Enqueue(env *Envelope, msg io.Reader) (id string, err error)
}

// Policy is the configuration of the server and its relay rules.
type Policy struct {
	Hostname      string
	IsLocalDomain func(domain string) bool // nil: only Hostname is local
	// LocalUserExists reports whether a local part (already known to be
	// in a local domain) is deliverable (a user or an alias); false ->
	// 550 5.1.1; error -> 451 4.3.0. nil accepts every local part.
	LocalUserExists  func(localpart string) (bool, error)
	MyNetworks       []netip.Prefix
	MessageSizeLimit int64                         // bytes, 0 = unlimited
	Authenticate     func(user, pass string) error // nil = no AUTH offered
	TLSConfig        *tls.Config                   // nil = no STARTTLS
	Trusted          bool                          // -bs: the peer is the local calling user; relay allowed
	TrustedUser      string                        // -bs: user name recorded in Received
	// CheckMessage, when set, judges each message from a client neither
	// trusted, authenticated nor in MyNetworks (SPF, DKIM, DMARC): given
	// the message as the client sent it, it returns the message to queue
	// in its place and a note for the log line, or the reply refusing it
	// (which the log line shows).
	CheckMessage func(env *Envelope, msg []byte) (io.Reader, string, *smtp.SMTPError)

	// Flood limits (see pkg/throttle); zero values mean none. A client
	// past a connection limit hears 421 and is disconnected; while half
	// of ConnectionLimit is in use, clients idle longer than BusyTimeout
	// are disconnected.
	ConnectionLimit      int // in total
	ConnectionCountLimit int // from one address
	BusyTimeout          time.Duration
	AuthFailures         throttle.AuthPolicy

	// isLoopback replaces netip.Addr.IsLoopback in tests, so that they can
	// play a remote client while connecting to 127.0.0.1.
	isLoopback func(netip.Addr) bool
	// sleep replaces time.Sleep for the wait after a failed AUTH, so that
	// tests see the delays without waiting them out.
	sleep func(time.Duration)
}

// Timeouts of RFC 5321 4.5.3.2, as Postfix's smtpd_timeout.
const (
	readTimeout  = 5 * time.Minute
	writeTimeout = 5 * time.Minute
	// maxRecipients is Postfix's smtpd_recipient_limit.
	maxRecipients = 1000
	// maxCommandLine is generous for commands (RFC 5321 4.5.3.1.4 asks for
	// 512) and only guards memory: message lines are checked separately,
	// against the 1000 octets of RFC 5321 4.5.3.1.6.
	maxCommandLine = 2000
)

// Server is the SMTP server of sendmail -bd: go-smtp behind the
// Policy's connection limits, one go-smtp server per connection (see
// conn.go).
type Server struct {
	be      *backend
	limiter *throttle.Limiter
	conns   serverSet

	mu        sync.Mutex
	listeners []net.Listener
	closed    bool
}

// NewServer returns the server for sendmail -bd; the caller runs
// srv.Serve(listener) and stops it with Close.
func NewServer(p Policy, q Queue, log Logger) *Server {
	return &Server{
		be:      newBackend(p, q, log),
		limiter: throttle.NewLimiter(p.ConnectionLimit, p.ConnectionCountLimit),
	}
}

func newBackend(p Policy, q Queue, log Logger) *backend {
	return &backend{policy: p, queue: q, log: log, auth: throttle.NewTracker(p.AuthFailures)}
}

// Serve serves the connections of l within the connection limits until
// Close; then it returns nil.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return l.Close()
	}
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
	tl := &throttle.Listener{Listener: l, Limiter: s.limiter,
		BusyTimeout: s.be.policy.BusyTimeout, Refuse: s.refuse}
	var pause throttle.AcceptPause
	for {
		c, err := tl.Accept()
		if err != nil {
			if s.isClosed() {
				return nil
			}
			if pause.Passes(err, s.be.log.Error) {
				continue
			}
			return err
		}
		pause.Reset()
		go func() {
			if err := serveConn(s.be, c, &s.conns); err != nil {
				s.be.log.Error("%s: %v", c.RemoteAddr(), err)
			}
		}()
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close stops every Serve and closes every connection.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	ls := s.listeners
	s.listeners = nil
	s.mu.Unlock()
	var err error
	for _, l := range ls {
		err = errors.Join(err, l.Close())
	}
	s.conns.closeAll()
	return err
}

// refuse answers a client over a limit as Postfix's smtpd does, with a
// 421 that makes a real MTA try again later.
func (s *Server) refuse(c net.Conn, key string, err error) {
	s.be.log.Warn("connect from unknown[%s]: %v", key, err)
	_, _ = fmt.Fprintf(c, "421 4.7.0 %s Error: %v\r\n", s.be.policy.Hostname, err)
}

func newServer(be smtp.Backend, p *Policy, log Logger) *smtp.Server {
	srv := smtp.NewServer(be)
	srv.Domain = p.Hostname
	srv.TLSConfig = p.TLSConfig
	srv.MaxMessageBytes = p.MessageSizeLimit
	srv.MaxLineLength = maxCommandLine
	srv.MaxRecipients = maxRecipients
	srv.EnableDSN = true
	// go-smtp would refuse AUTH on every connection without TLS; the
	// session itself offers it after TLS or on loopback (authAllowed).
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = readTimeout
	srv.WriteTimeout = writeTimeout
	srv.ErrorLog = errorLog{log}
	return srv
}

// errorLog passes go-smtp's internal errors to our Logger.
type errorLog struct{ log Logger }

func (e errorLog) Printf(format string, v ...any) { e.log.Error(format, v...) }
func (e errorLog) Println(v ...any)               { e.log.Error("%s", fmt.Sprint(v...)) }
