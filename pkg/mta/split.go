package mta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"unixmail/pkg/privsep"
	"unixmail/pkg/smtpd"
	"unixmail/pkg/throttle"
	"unixmail/pkg/userdb"
)

// ParserEnv marks the process sendmail -bd starts to parse one
// connection: standard input and output are the client's socket,
// descriptor 3 the channel to the privileged side, ParserBusyFD the pipe
// on which root says when it is busy (see throttle.BusyBoard), so that
// the parser gives an idle client client_busy_timeout at most.
const ParserEnv = "UNIXMAIL_SMTP_PARSER"

// ParserBusyFD is the parser's descriptor of root's busy pipe.
const ParserBusyFD = 4

// Split is sendmail -bd run as root with the SMTP dialog parsed by an
// unprivileged account: root accepts each connection within the
// connection limits and starts `sendmail -bs` for it as Account, with no
// group but the account's own, then answers its questions (see privsep):
// password checks, rate-limited here per client address; recipient
// checks; the TLS key pair; and each accepted message, which is queued or
// delivered here before the parser may answer 250.
type Split struct {
	m       *MTA
	Account *userdb.User
	Queue   smtpd.Queue
	Exe     string   // sendmail itself
	Args    []string // -C and -o, for the parser to read our configuration
	limiter *throttle.Limiter
	board   throttle.BusyBoard
	auth    *throttle.Tracker
	check   func(user, pass string) error
	cert    []byte
	key     []byte
	// rules are the relay rules, applied again here to each envelope a
	// parser hands over (see recheck).
	rules smtpd.Policy
	wg    sync.WaitGroup
}

// SplitAccount finds the account of smtpd_user; nil when the dialog stays
// in root's process (the key empty, or no such account: logged).
func (m *MTA) SplitAccount() *userdb.User {
	if m.Cfg.SMTPDUser == "" || os.Geteuid() != 0 {
		return nil
	}
	u, err := userdb.Open("system").Lookup(m.Cfg.SMTPDUser)
	if err != nil || u.UID == 0 {
		m.Log.Warn("smtpd_user %s: %v; SMTP is parsed as root (make install creates the account)", m.Cfg.SMTPDUser, err)
		return nil
	}
	return u
}

// NewSplit prepares the privileged side: the password check and the key
// pair are read here, as root.
func (m *MTA) NewSplit(account *userdb.User, q smtpd.Queue, exe string, args []string) (*Split, error) {
	s := &Split{m: m, Account: account, Queue: q, Exe: exe, Args: args,
		limiter: throttle.NewLimiter(m.Cfg.ClientConnectionLimit, m.Cfg.ClientConnectionCountLimit),
		auth:    throttle.NewTracker(throttle.ConfigPolicy(m.Cfg.ClientAuthFailureDelay, m.Cfg.ClientAuthFailureLimit)),
		rules: smtpd.Policy{Hostname: m.Cfg.Hostname, IsLocalDomain: m.Cfg.IsLocalDomain,
			MyNetworks: m.Cfg.MyNetworks, LocalUserExists: m.LocalUserExists},
	}
	var err error
	if s.check, err = m.authenticate(); err != nil {
		return nil, err
	}
	if s.cert, s.key, err = m.KeyPair(); err != nil {
		return nil, err
	}
	return s, nil
}

// Serve accepts on l until ctx ends, then waits for the parsers.
func (s *Split) Serve(ctx context.Context, l net.Listener) error {
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	var pause throttle.AcceptPause
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				s.wg.Wait()
				return nil
			}
			if pause.Passes(err, s.m.Log.Error) {
				continue
			}
			return err
		}
		pause.Reset()
		key := throttle.AddrKey(c.RemoteAddr())
		if err := s.limiter.Acquire(key); err != nil {
			s.m.Log.Warn("connect from unknown[%s]: %v", key, err)
			fmt.Fprintf(c, "421 4.7.0 %s Error: %v\r\n", s.m.Cfg.Hostname, err)
			c.Close()
			continue
		}
		s.board.Set(s.limiter.Busy())
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.limiter.Release(key)
				s.board.Set(s.limiter.Busy())
			}()
			if err := s.serveConn(ctx, c, key); err != nil {
				s.m.Log.Error("%s: %v", c.RemoteAddr(), err)
			}
		}()
	}
}

// serveConn starts the parser for c and answers it until it ends.
func (s *Split) serveConn(ctx context.Context, c net.Conn, key string) error {
	defer c.Close()
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return fmt.Errorf("not a TCP connection")
	}
	client, err := tc.File()
	if err != nil {
		return err
	}
	defer client.Close()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "privsep"), os.NewFile(uintptr(fds[1]), "privsep-parser")
	defer ours.Close()
	busy, board, err := s.board.Join()
	if err != nil {
		theirs.Close()
		return err
	}
	defer s.board.Leave(board)
	cmd := exec.Command(s.Exe, append(append([]string{}, s.Args...), "-bs")...)
	cmd.Stdin, cmd.Stdout = client, client
	cmd.ExtraFiles = []*os.File{theirs, busy} // 3, ParserBusyFD
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", ParserEnv + "=1"}
	if tz, ok := os.LookupEnv("TZ"); ok {
		cmd.Env = append(cmd.Env, "TZ="+tz)
	}
	if s.m.Cfg.Log != "syslog" && s.m.Cfg.Log != "stderr" {
		// The parser cannot open root's log: it writes its lines to
		// this descriptor instead.
		if f, err := os.OpenFile(s.m.Cfg.Log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640); err == nil {
			defer f.Close()
			cmd.Stderr = f
		}
	} else if s.m.Cfg.Log == "stderr" {
		cmd.Stderr = os.Stderr
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
		Uid: uint32(s.Account.UID), Gid: uint32(s.Account.GID), Groups: []uint32{},
	}}
	err = cmd.Start()
	theirs.Close()
	busy.Close()
	if err != nil {
		return fmt.Errorf("start the SMTP parser: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { cmd.Process.Signal(syscall.SIGTERM) })
	defer stop()
	addr, _, _ := net.SplitHostPort(c.RemoteAddr().String())
	p := s.privileged(addr, key)
	serr := p.Serve(ours)
	werr := cmd.Wait()
	var exit *exec.ExitError
	if errors.As(werr, &exit) && !exit.Exited() {
		werr = nil // stopped by a signal at shutdown
	}
	return errors.Join(serr, werr)
}

// privileged is root's side of the channel to the parser of one
// connection, from the client at addr (key for the throttles).
func (s *Split) privileged(addr, key string) *privsep.Privileged {
	var authed string
	sess := s.auth.Session(key)
	return &privsep.Privileged{
		MaxMessage:      maxHandedOver(s.m.Cfg.MessageSizeLimit),
		LocalUserExists: s.m.LocalUserExists,
		CertPEM:         s.cert,
		KeyPEM:          s.key,
		Authenticate: func(user, pass string) error {
			if err := s.check(user, pass); err != nil {
				delay, _, _ := sess.Fail()
				time.Sleep(delay)
				return err
			}
			authed = user
			return nil
		},
		Enqueue: func(env *smtpd.Envelope, msg io.Reader) (string, error) {
			// What the parser may not decide for itself: who the client
			// is, whether it logged in, and so where its mail may go.
			env.ClientAddr = addr
			if env.AuthUser != "" && env.AuthUser != authed {
				env.AuthUser, env.Submitted = "", false
			}
			if err := s.recheck(env); err != nil {
				s.m.Log.Warn("reject: the SMTP parser for [%s] handed over %v", addr, err)
				return "", err
			}
			return s.Queue.Enqueue(env, msg)
		},
	}
}

// recheck applies the relay rules again, here, to an envelope from the
// parser, which root does not trust: a parser taken over would otherwise
// have root relay for any client, or take mail for users who do not
// exist, or pass a sender that a program could read as an option.
func (s *Split) recheck(env *smtpd.Envelope) error {
	if strings.HasPrefix(env.From, "-") {
		return fmt.Errorf("the sender <%s>, refused", env.From)
	}
	if len(env.Rcpts) == 0 {
		return errors.New("a message without recipients, refused")
	}
	client, _ := netip.ParseAddr(env.ClientAddr)
	for _, to := range env.Rcpts {
		refusal, err := s.rules.CheckRcpt(to, client.Unmap(), env.AuthUser != "")
		switch {
		case refusal != nil && err != nil:
			return fmt.Errorf("<%s>, refused: %d %s: %w", to, refusal.Code, refusal.Message, err)
		case refusal != nil:
			return fmt.Errorf("<%s>, refused: %d %s", to, refusal.Code, refusal.Message)
		}
	}
	return nil
}

// maxHandedOver is the largest message root takes from a parser: what
// message_size_limit lets through, with room for the line ends the parser
// counts differently; with no limit, a gigabyte.
func maxHandedOver(limit int64) int64 {
	if limit <= 0 {
		return 1 << 30
	}
	return limit + limit/8 + 64<<10
}
