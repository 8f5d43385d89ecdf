package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"unixmail/pkg/auth"
	"unixmail/pkg/config"
	"unixmail/pkg/maillog"
	"unixmail/pkg/sysexits"
	"unixmail/pkg/throttle"
	"unixmail/pkg/userdb"
)

// Options say how Run serves.
type Options struct {
	Program string         // "ipop3d", "imapd": the log's tag
	Config  *config.Config // limits, TLS files, user_db, auth, log
	Listen  []string       // addresses to listen on; none = the connection on stdin
	TLS     bool           // implicit TLS on every connection
	// Busy is written to a client refused past the connection limits
	// (a whole protocol line, CRLF included) before it is closed.
	Busy string
	// Log, when not nil, is used instead of one opened from Config.Log.
	Log *maillog.Logger
	// Auth, when not nil, checks passwords instead of auth.New(Config).
	Auth auth.Authenticator
}

// childEnv marks a process started by the listener for one connection.
const childEnv = "UNIXMAIL_DAEMON_CHILD"

// handshakeTimeout bounds an implicit TLS handshake.
const handshakeTimeout = 30 * time.Second

// Run serves as o says: the connection on stdin/stdout, or listeners that
// start a process per connection. serve is called with the connection's
// Client and its error is logged. Run returns an error only when serving
// could not start (bad TLS files, an address in use); it carries a
// sysexits code.
func Run(o Options, serve func(*Client) error) error {
	child := os.Getenv(childEnv) != ""
	os.Unsetenv(childEnv) // not for what the session starts
	log := o.Log
	if log == nil {
		// Serving stdin, stderr is the client: never write there.
		log = maillog.New(o.Config.Log, o.Program, len(o.Listen) == 0 || child)
		defer log.Close()
	}
	tlsConf, err := loadTLS(o.Config)
	if err != nil {
		return sysexits.Wrap(sysexits.Config, err)
	}
	if o.TLS && tlsConf == nil {
		return sysexits.Wrap(sysexits.Config, errors.New("--tls needs tls_cert and tls_key"))
	}
	if len(o.Listen) > 0 && !child {
		return listen(o, log)
	}
	conn, err := stdinConn()
	if err != nil {
		return sysexits.Wrap(sysexits.OSErr, err)
	}
	if child {
		conn = throttle.FollowBusy(conn, busyFD, o.Config.ClientBusyTimeout)
	}
	c, err := newClient(o, log, conn, tlsConf)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Conn.Close()
	if o.TLS {
		if err := c.handshake(); err != nil {
			log.Warn("TLS handshake failed rip=%s: %v", c.Peer, err)
			return nil
		}
	}
	if err := serve(c); err != nil {
		log.Warn("session rip=%s: %v", c.Peer, err)
	}
	return nil
}

// NewClient makes the Client of a connection that arrived some other way:
// protocol tests over net.Pipe (a local client), a server of its own. The
// log is o.Log, or none.
func NewClient(o Options, conn net.Conn) (*Client, error) {
	tlsConf, err := loadTLS(o.Config)
	if err != nil {
		return nil, sysexits.Wrap(sysexits.Config, err)
	}
	log := o.Log
	if log == nil {
		log = maillog.Discard()
	}
	return newClient(o, log, conn, tlsConf)
}

func newClient(o Options, log *maillog.Logger, conn net.Conn, tlsConf *tls.Config) (*Client, error) {
	db := userdb.Open(o.Config.UserDB)
	a := o.Auth
	if a == nil {
		var err error
		if a, err = auth.New(o.Config, db); err != nil {
			return nil, sysexits.Wrap(sysexits.Config, err)
		}
	}
	c := &Client{Conn: conn, Log: log, Config: o.Config, auth: a, db: db, tlsConf: tlsConf}
	c.Peer, c.local = peerOf(conn.RemoteAddr())
	policy := throttle.ConfigPolicy(o.Config.ClientAuthFailureDelay, o.Config.ClientAuthFailureLimit)
	c.session, c.maxDelay = throttle.NewTracker(policy).Session(c.Peer), policy.MaxDelay
	if os.Geteuid() == 0 && o.Config.DaemonStateDir != "" && !c.local {
		c.store = &failureStore{dir: o.Config.DaemonStateDir, decay: policy.Decay}
	}
	return c, nil
}

// loadTLS reads tls_cert and tls_key, or returns nil when they are unset.
func loadTLS(cfg *config.Config) (*tls.Config, error) {
	if cfg.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("tls_cert/tls_key: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// stdinConn is the connection on fd 0 and 1: the socket inetd or systemd
// passed, or else a pipe pair (or terminal) standing for a local client.
func stdinConn() (net.Conn, error) {
	if c, err := net.FileConn(os.Stdin); err == nil {
		return c, nil
	}
	r, err := pollable(0, "stdin")
	if err != nil {
		return nil, err
	}
	w, err := pollable(1, "stdout")
	if err != nil {
		r.Close()
		return nil, err
	}
	return &pipeConn{r: r, w: w}, nil
}

// peerOf names a connection's client for the log and says whether it is
// on this host without a network between (a pipe or a Unix socket).
func peerOf(a net.Addr) (string, bool) {
	switch a.(type) {
	case *net.TCPAddr:
		return throttle.AddrKey(a), false
	case *net.UnixAddr, nil:
		return "local", true
	}
	if a.Network() == "pipe" { // ours, and net.Pipe's
		return "local", true
	}
	return a.String(), false
}

// listen serves every address in o.Listen until SIGTERM or SIGINT, one
// process per connection.
func listen(o Options, log *maillog.Logger) error {
	exe, err := os.Executable()
	if err != nil {
		return sysexits.Wrap(sysexits.OSErr, fmt.Errorf("find my own program: %w", err))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var lns []net.Listener
	for _, a := range o.Listen {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return sysexits.Wrap(sysexits.Unavailable, err)
		}
		lns = append(lns, ln)
	}
	addrs := make([]string, len(lns))
	for i, ln := range lns {
		addrs[i] = ln.Addr().String()
	}
	log.Info("daemon started -- listening on %s", strings.Join(addrs, " "))
	cfg := o.Config
	s := &spawner{o: o, log: log, exe: exe, limiter: throttle.NewLimiter(cfg.ClientConnectionLimit, cfg.ClientConnectionCountLimit)}
	var accepting sync.WaitGroup
	for _, ln := range lns {
		accepting.Add(1)
		go func() {
			defer accepting.Done()
			s.accept(ctx, ln)
		}()
	}
	<-ctx.Done()
	for _, ln := range lns {
		ln.Close()
	}
	accepting.Wait()
	open, _ := s.limiter.Open("")
	log.Info("stopping: no new connections; waiting for %d sessions", open)
	s.sessions.Wait()
	log.Info("stopped")
	return nil
}

// spawner starts a process per connection within the limits
// (client_connection_limit, client_connection_count_limit). A session's
// slot is held until its process ends.
type spawner struct {
	o        Options
	log      *maillog.Logger
	exe      string
	limiter  *throttle.Limiter
	sessions sync.WaitGroup
	board    throttle.BusyBoard
}

func (s *spawner) accept(ctx context.Context, ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and friends: wait rather than spin.
			s.log.Warn("accept: %v", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		s.start(conn)
	}
}

// start hands conn to a new process, or refuses it past the limits.
func (s *spawner) start(conn net.Conn) {
	defer conn.Close() // the child has its own descriptor
	peer, _ := peerOf(conn.RemoteAddr())
	if err := s.limiter.Acquire(peer); err != nil {
		s.log.Warn("refused rip=%s: %v", peer, err)
		conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		conn.Write([]byte(s.o.Busy))
		return
	}
	s.board.Set(s.limiter.Busy())
	release := func() {
		s.limiter.Release(peer)
		s.board.Set(s.limiter.Busy())
	}
	f, err := conn.(*net.TCPConn).File()
	if err != nil {
		release()
		s.log.Error("rip=%s: %v", peer, err)
		return
	}
	defer f.Close()
	r, w, err := s.board.Join()
	if err != nil {
		release()
		s.log.Error("rip=%s: %v", peer, err)
		return
	}
	defer r.Close()
	cmd := exec.Command(s.exe, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout = f, f
	cmd.ExtraFiles = []*os.File{r} // busyFD
	cmd.Env = append(os.Environ(), childEnv+"=1")
	if err := cmd.Start(); err != nil {
		s.board.Leave(w)
		release()
		s.log.Error("rip=%s: start a session: %v", peer, err)
		conn.Write([]byte(s.o.Busy))
		return
	}
	s.sessions.Add(1)
	go func() {
		defer s.sessions.Done()
		cmd.Wait()
		s.board.Leave(w)
		release()
	}()
}
