package smtpd

import (
	"errors"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// authAllowed: passwords travel only inside TLS or over loopback
// (RFC 4954 4; SPEC: plaintext passwords need TLS, loopback or a pipe).
func (s *session) authAllowed() bool {
	return s.be.policy.Authenticate != nil && (s.tls || s.isLoopback())
}

// AuthMechanisms is what EHLO advertises. go-smtp asks for it on EHLO
// and never on HELO, which is how the session learns the client speaks
// ESMTP.
func (s *session) AuthMechanisms() []string {
	s.esmtp = true
	if !s.authAllowed() {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

var errEncryptionRequired = &smtp.SMTPError{Code: 538, EnhancedCode: smtp.EnhancedCode{5, 7, 11},
	Message: "Encryption required for requested authentication mechanism"}

func (s *session) Auth(mech string) (sasl.Server, error) {
	if s.be.policy.Authenticate == nil {
		return nil, smtp.ErrAuthUnsupported
	}
	if !s.authAllowed() {
		s.be.log.Warn("%s: AUTH %s refused without TLS", s.client(), clean(mech))
		return nil, errEncryptionRequired
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && identity != user {
				s.be.log.Warn("%s: SASL PLAIN authentication failed: user=<%s> may not act as <%s>",
					s.client(), clean(user), clean(identity))
				return smtp.ErrAuthFailed
			}
			return s.authenticate(mech, user, pass)
		}), nil
	case sasl.Login:
		return &loginServer{check: func(user, pass string) error {
			return s.authenticate(mech, user, pass)
		}}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// authenticate logs the outcome but never the password. A failure is
// answered late, the later the more this address failed recently, and the
// connection's last allowed failure closes it (RFC 4954 4 lets a server
// limit attempts).
func (s *session) authenticate(mech, user, pass string) error {
	if err := s.be.policy.Authenticate(user, pass); err != nil {
		delay, hangUp, n := s.authFailures.Fail()
		s.be.log.Warn("%s: SASL %s authentication failed: user=<%s>: %v (%d recent failures from this address)",
			s.client(), mech, clean(user), err, n)
		if sleep := s.be.policy.sleep; sleep != nil {
			sleep(delay)
		} else {
			time.Sleep(delay)
		}
		if hangUp {
			s.be.log.Warn("%s: too many authentication failures, disconnecting", s.client())
			s.hangUp(&smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0},
				Message: s.be.policy.Hostname + " Error: too many authentication failures"})
		}
		return smtp.ErrAuthFailed
	}
	s.authUser, s.authMech = user, mech
	return nil
}

// loginServer is the server side of the LOGIN mechanism
// (draft-murchison-sasl-login), which go-sasl only has as a client: it asks
// for the user name, then the password, each base64-encoded by go-smtp.
type loginServer struct {
	check func(user, pass string) error
	user  *string
	done  bool
}

var errLoginSequence = errors.New("sasl: unexpected LOGIN response")

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch {
	case l.done:
		return nil, true, errLoginSequence
	case l.user == nil && response == nil:
		return []byte("Username:"), false, nil
	case l.user == nil:
		// An initial response (AUTH LOGIN dXNlcg==) is the user name.
		u := string(response)
		l.user = &u
		return []byte("Password:"), false, nil
	}
	l.done = true
	return nil, true, l.check(*l.user, string(response))
}
