package smtpd

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"

	"github.com/emersion/go-smtp"

	"unixmail/pkg/throttle"
)

// backend makes one session per SMTP greeting; go-smtp makes a fresh one
// after STARTTLS too, which forgets everything said in clear text.
type backend struct {
	policy Policy
	queue  Queue
	log    Logger
	stdio  bool // -bs: the peer is a pipe, not a network client
	auth   *throttle.Tracker
}

type session struct {
	be   *backend
	c    *smtp.Conn
	conn net.Conn // c.Conn() at creation, to tell STARTTLS from the end in Logout

	addr  netip.Addr
	name  string
	tls   bool
	esmtp bool

	authUser, authMech string
	authFailures       *throttle.Session // per connection, across STARTTLS
	raw                *rawCheck

	hasFrom bool
	from    string
	rcpts   []string
	notify  map[string]string
	ret     string
	envID   string
}

func (cb *connBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	be := cb.backend
	s := &session{be: be, c: c, conn: c.Conn(), name: "unknown",
		raw: cb.raw, authFailures: cb.authFailures}
	if ap, err := netip.ParseAddrPort(c.Conn().RemoteAddr().String()); err == nil {
		s.addr = ap.Addr().Unmap()
	}
	if be.stdio || s.addr.IsLoopback() {
		s.name = "localhost"
	}
	_, s.tls = c.TLSConnectionState()
	if !s.tls {
		// The session made after STARTTLS is the same connection.
		be.log.Info("connect from %s", s.client())
	}
	return s, nil
}

// client is the NAME[IP] of the log lines.
func (s *session) client() string {
	if !s.addr.IsValid() {
		return s.name + "[unknown]"
	}
	return s.name + "[" + s.addr.String() + "]"
}

func (s *session) isLoopback() bool {
	if s.be.stdio {
		return true
	}
	if s.be.policy.isLoopback != nil {
		return s.be.policy.isLoopback(s.addr)
	}
	return s.addr.IsLoopback()
}

func (s *session) inMyNetworks() bool { return s.be.policy.inMyNetworks(s.addr) }

func (p *Policy) inMyNetworks(addr netip.Addr) bool {
	for _, n := range p.MyNetworks {
		if addr.IsValid() && n.Contains(addr) {
			return true
		}
	}
	return false
}

func (s *session) protocol() string {
	p := "SMTP"
	if s.esmtp || s.tls || s.authUser != "" {
		p = "ESMTP"
	}
	if s.tls {
		p += "S"
	}
	if s.authUser != "" {
		p += "A"
	}
	return p
}

func (s *session) Reset() {
	s.hasFrom, s.from, s.rcpts, s.notify, s.ret, s.envID = false, "", nil, nil, "", ""
}

func (s *session) Logout() error {
	if s.c.Conn() == s.conn {
		s.be.log.Info("disconnect from %s", s.client())
	}
	return nil
}

// errDashAddress refuses what a program could take for an option
// (CVE-2016-10033, CVE-2020-7247).
func errDashAddress(enhanced smtp.EnhancedCode, addr string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: 553, EnhancedCode: enhanced,
		Message: "<" + clean(addr) + ">: Address must not start with '-'"}
}

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	// A client caught smuggling gets no second try (Postfix disconnects
	// too, smtpd_forbid_bare_newline). Not from Data: with BDAT it runs
	// beside go-smtp's reader, which must not see the connection close.
	if err := s.raw.err(); err != nil {
		var reply *smtp.SMTPError
		errors.As(err, &reply)
		s.hangUp(reply)
		return s.reject("MAIL", reply, from, "")
	}
	if strings.HasPrefix(from, "-") {
		return s.reject("MAIL", errDashAddress(smtp.EnhancedCode{5, 1, 7}, from), from, "")
	}
	s.Reset()
	s.hasFrom, s.from = true, from
	if opts != nil {
		s.ret, s.envID = string(opts.Return), opts.EnvelopeID
	}
	return nil
}

func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if err := s.checkRcpt(to); err != nil {
		return s.reject("RCPT", err, s.from, to)
	}
	s.rcpts = append(s.rcpts, to)
	if opts != nil && len(opts.Notify) > 0 {
		if s.notify == nil {
			s.notify = make(map[string]string)
		}
		n := make([]string, len(opts.Notify))
		for i, v := range opts.Notify {
			n[i] = string(v)
		}
		s.notify[to] = strings.Join(n, ",")
	}
	return nil
}

// checkRcpt applies the relay rules (Policy.CheckRcpt) to what this
// session knows of its client.
func (s *session) checkRcpt(to string) *smtp.SMTPError {
	refusal, err := s.be.policy.CheckRcpt(to, s.addr, s.authUser != "")
	if err != nil {
		s.be.log.Error("%s: looking up local user <%s>: %v", s.client(), clean(to), err)
	}
	return refusal
}

// CheckRcpt applies the relay rules to one recipient of a client at
// addr: a local domain takes mail from anyone for its users; any other
// domain only from a trusted, local-network or authenticated client. It
// returns the refusal, if any, and the lookup error behind a 451, for
// the log. A session applies it at RCPT; sendmail -bd's privileged side
// applies it again to each envelope its unprivileged parser hands over,
// which it does not trust.
func (p *Policy) CheckRcpt(to string, addr netip.Addr, authenticated bool) (*smtp.SMTPError, error) {
	if strings.HasPrefix(to, "-") {
		return errDashAddress(smtp.EnhancedCode{5, 1, 3}, to), nil
	}
	local, domain := splitAddress(to)
	if domain == "" || p.isLocalDomain(domain) {
		return p.checkLocalUser(to, local)
	}
	if p.Trusted || authenticated || p.inMyNetworks(addr) {
		return nil, nil
	}
	return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
		Message: "<" + clean(to) + ">: Relay access denied"}, nil
}

func (p *Policy) checkLocalUser(to, local string) (*smtp.SMTPError, error) {
	if p.LocalUserExists == nil {
		return nil, nil
	}
	ok, err := p.LocalUserExists(local)
	if err != nil {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
			Message: "<" + clean(to) + ">: Temporary lookup failure"}, err
	}
	if !ok {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
			Message: "<" + clean(to) + ">: Recipient address rejected: User unknown in local recipient table"}, nil
	}
	return nil, nil
}

func (p *Policy) isLocalDomain(domain string) bool {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	if p.IsLocalDomain != nil {
		return p.IsLocalDomain(domain)
	}
	return strings.EqualFold(domain, p.Hostname)
}

// splitAddress splits at the last '@', which cannot be inside a quoted
// local part's end. An address without '@' (RFC 5321 4.5.1 "postmaster")
// has no domain and is local.
func splitAddress(addr string) (local, domain string) {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return addr, ""
	}
	return addr[:i], addr[i+1:]
}

// reject logs a refused command the way Postfix does and returns err.
func (s *session) reject(cmd string, err *smtp.SMTPError, from, to string) error {
	line := "reject: " + cmd + " from " + s.client() + ": " + formatReply(err) +
		"; from=<" + clean(from) + ">"
	if to != "" {
		line += " to=<" + clean(to) + ">"
	}
	s.be.log.Info("%s proto=%s helo=<%s>", line, s.protocol(), clean(s.c.Hostname()))
	return err
}

// hangUp answers reply and closes the connection. go-smtp cannot close
// from inside a command, so the reply is written here and the connection
// closed under go-smtp, whose own reply then goes nowhere.
func (s *session) hangUp(reply *smtp.SMTPError) {
	_, _ = io.WriteString(s.c.Conn(), formatReply(reply)+"\r\n")
	_ = s.c.Close()
}

func formatReply(e *smtp.SMTPError) string {
	c := e.EnhancedCode
	return fmt.Sprintf("%d %d.%d.%d %s", e.Code, c[0], c[1], c[2], e.Message)
}

func (s *session) envelope() *Envelope {
	env := &Envelope{
		From:       s.from,
		Rcpts:      s.rcpts,
		Notify:     s.notify,
		Ret:        s.ret,
		EnvID:      s.envID,
		ClientName: s.name,
		Helo:       s.c.Hostname(),
		AuthUser:   s.authUser,
		Protocol:   s.protocol(),
		Submitted:  s.be.policy.Trusted || s.authUser != "",
	}
	if s.addr.IsValid() {
		env.ClientAddr = s.addr.String()
	}
	return env
}

// Data hands the message to the queue through a checker that stops at the
// first bare CR or LF, overlong line or error; the queue then stores
// nothing, go-smtp reads the rest of the data, and the client hears why.
func (s *session) Data(r io.Reader) error {
	env := s.envelope()
	chk := &dataChecker{r: r, raw: s.raw}
	body, note, refused := s.checkMessage(env, chk)
	if refused != nil {
		return s.reject("DATA", refused, s.from, "")
	}
	msg := io.MultiReader(strings.NewReader(received(env, s)), body)
	client := "client=" + s.client()
	if s.authUser != "" {
		client += ", sasl_method=" + s.authMech + ", sasl_username=" + clean(s.authUser)
	}
	if note != "" {
		client += ", " + note
	}
	logged := false
	env.Queued = func(id string) {
		if !logged {
			logged = true
			s.be.log.Info("%s: %s", id, client)
		}
	}
	id, err := s.be.queue.Enqueue(env, msg)
	if chk.err != nil {
		if err == nil {
			s.be.log.Error("%s: queue accepted a message whose data failed: %v", id, chk.err)
		}
		var reply *smtp.SMTPError
		if !errors.As(chk.err, &reply) {
			reply = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
				Message: "Error reading message data"}
		}
		return s.reject("DATA", reply, s.from, "")
	}
	if err != nil {
		s.be.log.Error("%s: queue: %v", s.client(), err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
			Message: "Error: queue file write error"}
	}
	env.Queued(id) // for a queue that did not call it
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0},
		Message: "Ok: queued as " + id}
}
