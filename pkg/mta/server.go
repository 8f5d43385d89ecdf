package mta

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
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
	p := smtpd.Policy{
		Hostname:         m.Cfg.Hostname,
		IsLocalDomain:    m.Cfg.IsLocalDomain,
		LocalUserExists:  m.LocalUserExists,
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
	var err error
	if p.Authenticate, err = m.authenticate(); err != nil {
		return p, err
	}
	if m.Cfg.TLSCert != "" && m.Cfg.TLSKey != "" {
		cert, err := tls.LoadX509KeyPair(m.Cfg.TLSCert, m.Cfg.TLSKey)
		if err != nil {
			return p, fmt.Errorf("tls_cert/tls_key: %w", err)
		}
		p.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	return p, nil
}
