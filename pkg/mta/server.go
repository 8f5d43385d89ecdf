package mta

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"sync"

	"unixmail/pkg/queue"
	"unixmail/pkg/smtpd"
	"unixmail/pkg/throttle"
)

// Workers deliver what the SMTP server queues, after the client has had
// its 250, so that a slow delivery never holds up the session.
type Workers struct {
	ctx  context.Context
	m    *MTA
	work chan *queue.Entry
	wg   sync.WaitGroup
}

// StartWorkers starts n delivery goroutines.
func (m *MTA) StartWorkers(ctx context.Context, n int) *Workers {
	w := &Workers{ctx: ctx, m: m, work: make(chan *queue.Entry, 4*n)}
	for range n {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for e := range w.work {
				m.Attempt(ctx, e)
			}
		}()
	}
	return w
}

// Wait lets the queued deliveries finish; no more may be added.
func (w *Workers) Wait() {
	close(w.work)
	w.wg.Wait()
}

// Enqueue implements smtpd.Queue: before the 250 the message is durable,
// in the queue or in the mailboxes of its local recipients (see Accept);
// what is left is delivered at once when we may (else the queue runner
// picks it up).
func (w *Workers) Enqueue(env *smtpd.Envelope, msg io.Reader) (string, error) {
	qe := queue.Envelope{ID: queue.NewID(), Sender: env.From, EnvID: env.EnvID, Ret: env.Ret}
	if env.Queued != nil {
		env.Queued(qe.ID)
	}
	for _, r := range env.Rcpts {
		qe.Rcpts = append(qe.Rcpts, queue.Recipient{Addr: r, Notify: env.Notify[r]})
	}
	if env.Submitted && w.m.CanDeliver {
		var err error
		if msg, err = w.m.signed(qe.ID, msg); err != nil {
			return "", err
		}
	}
	e, id, err := w.m.Accept(w.ctx, qe, msg, true)
	if err != nil {
		return "", err
	}
	if e != nil {
		w.work <- e
	}
	return id, nil
}

// Policy is the SMTP server's configuration. trustedUser, when not
// empty, is the local user of a -bs session, who may relay.
func (m *MTA) Policy(trustedUser string) (smtpd.Policy, error) {
	p := m.ParserPolicy(trustedUser)
	p.LocalUserExists = m.LocalUserExists
	var err error
	if p.Authenticate, err = m.authenticate(); err != nil {
		return p, err
	}
	cert, key, err := m.KeyPair()
	if err != nil || cert == nil {
		return p, err
	}
	p.TLSConfig, err = TLSConfig(cert, key)
	return p, err
}

// ParserPolicy is the part of Policy that needs no privilege: no user
// database, no passwords, no keys (the parser of sendmail -bd asks the
// privileged side for those).
func (m *MTA) ParserPolicy(trustedUser string) smtpd.Policy {
	p := smtpd.Policy{
		Hostname:         m.Cfg.Hostname,
		IsLocalDomain:    m.Cfg.IsLocalDomain,
		MyNetworks:       m.Cfg.MyNetworks,
		MessageSizeLimit: m.Cfg.MessageSizeLimit,
		Trusted:          trustedUser != "",
		TrustedUser:      trustedUser,

		ConnectionLimit:      m.Cfg.ClientConnectionLimit,
		ConnectionCountLimit: m.Cfg.ClientConnectionCountLimit,
		BusyTimeout:          m.Cfg.ClientBusyTimeout,
		AuthFailures:         throttle.ConfigPolicy(m.Cfg.ClientAuthFailureDelay, m.Cfg.ClientAuthFailureLimit),
	}
	if m.Cfg.MsgAuthChecks == "yes" {
		p.CheckMessage = m.verifier()
	}
	return p
}

// KeyPair reads tls_cert and tls_key (PEM); nil when STARTTLS is off.
func (m *MTA) KeyPair() (cert, key []byte, err error) {
	if m.Cfg.TLSCert == "" || m.Cfg.TLSKey == "" {
		return nil, nil, nil
	}
	if cert, err = os.ReadFile(m.Cfg.TLSCert); err == nil {
		key, err = os.ReadFile(m.Cfg.TLSKey)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("tls_cert/tls_key: %w", err)
	}
	return cert, key, nil
}

// TLSConfig is the server's TLS configuration for a key pair in PEM.
func TLSConfig(cert, key []byte) (*tls.Config, error) {
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("tls_cert/tls_key: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}
