// Package lmtpd is deliver -l: it speaks LMTP (RFC 2033) for an MTA that
// hands over several recipients at once, delivering through pkg/deliver.
// It is a package and a program (deliver-lmtp) of its own so that the
// one-message deliver an MTA starts per message does not load an SMTP
// library, TLS and its certificate code at every start.
package lmtpd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/emersion/go-smtp"

	"unixmail/pkg/deliver"
	"unixmail/pkg/stdioconn"
	"unixmail/pkg/sysexits"
	"unixmail/pkg/userdb"
)

// Run serves one session on standard input and output, or every session
// on an inherited listening socket (systemd, inetd wait mode, or sendmail
// keeping a per-user child). A child of sendmail given a socket (isChild)
// is told to stop by the end of its standard input, which also comes
// when sendmail dies.
func Run(ctx context.Context, e *deliver.Env, child *deliver.Child, isChild bool) error {
	ln, err := stdioconn.Inherited()
	if err != nil {
		return sysexits.Wrap(sysexits.OSErr, err)
	}
	if ln == nil {
		return Serve(ctx, e, os.Stdin, os.Stdout, child)
	}
	if isChild {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		go func() {
			io.Copy(io.Discard, os.Stdin)
			cancel()
		}()
	}
	return ServeListener(ctx, e, ln, child)
}

// Serve speaks LMTP (RFC 2033) on in and out, delivering each message
// to every accepted recipient and answering for each after the data, so the
// MTA knows which got it. Recipients are local parts; a domain is ignored.
func Serve(ctx context.Context, e *deliver.Env, in io.Reader, out io.Writer, child *deliver.Child) error {
	srv := newServer(ctx, e, child)
	err := srv.Serve(stdioconn.Listen(stdioconn.New(in, out)))
	if err != nil && !errors.Is(err, smtp.ErrServerClosed) && !isClosed(err) {
		return err
	}
	return nil
}

// ServeListener serves LMTP sessions accepted on ln (a socket from
// inetd in wait mode, systemd, or a parent MTA), all at once: messages for
// one mailbox arriving in several sessions are committed together (see
// Rounds), each still answered only once it is on disk. When ctx ends it
// stops accepting and returns after the sessions in progress end.
func ServeListener(ctx context.Context, e *deliver.Env, ln net.Listener, child *deliver.Child) error {
	srv := newServer(ctx, e, child)
	drained := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		srv.Shutdown(context.Background())
		close(drained)
	})
	err := srv.Serve(ln)
	if stop() {
		// The listener failed by itself.
		srv.Close()
		return fmt.Errorf("accept LMTP sessions: %w", err)
	}
	<-drained
	return nil
}

func newServer(ctx context.Context, e *deliver.Env, child *deliver.Child) *smtp.Server {
	srv := smtp.NewServer(&lmtpBackend{ctx: ctx, env: e, child: child, rounds: &deliver.Rounds{Env: e}})
	srv.LMTP = true
	srv.Domain = e.Config.Hostname
	srv.MaxMessageBytes = e.Config.MessageSizeLimit
	srv.MaxLineLength = 1 << 20
	srv.ErrorLog = logAdapter{e}
	return srv
}

func isClosed(err error) bool { return err != nil && strings.Contains(err.Error(), "closed") }

type logAdapter struct{ e *deliver.Env }

func (l logAdapter) Printf(format string, v ...any) { l.e.Log.Warn(format, v...) }
func (l logAdapter) Println(v ...any)               { l.e.Log.Warn("%s", strings.TrimSpace(fmt.Sprintln(v...))) }

type lmtpBackend struct {
	ctx    context.Context
	env    *deliver.Env
	child  *deliver.Child
	rounds *deliver.Rounds
}

func (b *lmtpBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &lmtpSession{b: b}, nil
}

type lmtpSession struct {
	b      *lmtpBackend
	sender string
	rcpts  []lmtpRcpt
}

type lmtpRcpt struct {
	addr string
	user *userdb.User
}

func (s *lmtpSession) Reset()        { s.sender, s.rcpts = "", nil }
func (s *lmtpSession) Logout() error { return nil }

func (s *lmtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if strings.HasPrefix(from, "-") {
		return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "bad sender address"}
	}
	s.sender = from
	return nil
}

func (s *lmtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	local := to
	if i := strings.LastIndexByte(to, '@'); i >= 0 {
		local = to[:i]
	}
	u, err := s.b.env.LookupUser(local)
	if err != nil {
		return smtpError(err)
	}
	s.rcpts = append(s.rcpts, lmtpRcpt{addr: to, user: u})
	return nil
}

func (s *lmtpSession) Data(r io.Reader) error {
	return errors.New("LMTP data goes through LMTPData")
}

func (s *lmtpSession) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	var msg bytes.Buffer
	if _, err := io.Copy(&msg, r); err != nil {
		return err
	}
	e := s.b.env
	var spool *os.File
	for _, rc := range s.rcpts {
		req := &deliver.Request{Sender: s.sender, SenderGiven: true, Address: rc.addr}
		var res deliver.Result
		if e.NeedsChild(rc.user) {
			if spool == nil {
				var err error
				if spool, err = deliver.Spool(bytes.NewReader(msg.Bytes())); err != nil {
					status.SetStatus(rc.addr, smtpError(err))
					continue
				}
				defer spool.Close()
			}
			child := *s.b.child
			child.Args = append(append([]string{}, child.Args...), "-f", s.sender, "-a", rc.addr)
			res = child.Deliver(s.b.ctx, rc.user, e.MailboxFor(rc.user, req), spool)
			e.LogResult(res, true)
		} else {
			in, err := deliver.ReadIncoming(bytes.NewReader(msg.Bytes()))
			if err != nil {
				status.SetStatus(rc.addr, smtpError(sysexits.Wrap(sysexits.TempFail, err)))
				continue
			}
			res = s.b.rounds.Deliver(s.b.ctx, deliver.Item{Req: req, User: rc.user, In: in})
			e.LogResult(res, true)
		}
		status.SetStatus(rc.addr, smtpError(res.Err))
	}
	return nil
}

// smtpError turns a delivery error into the reply the MTA acts on: 4xx is
// retried, 5xx bounced, matching the exit codes.
func smtpError(err error) error {
	if err == nil {
		return nil
	}
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	switch sysexits.Code(err) {
	case sysexits.NoUser:
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: msg}
	case sysexits.TempFail:
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: msg}
	case sysexits.NoPerm, sysexits.CantCreat:
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 2, 0}, Message: msg}
	}
	return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 3, 0}, Message: msg}
}
