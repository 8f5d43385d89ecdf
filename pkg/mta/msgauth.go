package mta

import (
	"bytes"
	"context"
	"io"
	"net"
	"time"

	"github.com/emersion/go-smtp"

	"unixmail/pkg/msgauth"
	"unixmail/pkg/smtpd"
)

// checkTimeout bounds the DNS work of one message's checks; what times out
// is a temperror.
const checkTimeout = 30 * time.Second

// DKIMSigner loads dkim_keys once; nil when none are configured. The
// daemon calls it at start, so that a bad key stops it with a clear error.
func (m *MTA) DKIMSigner() (*msgauth.Signer, error) {
	m.signerOnce.Do(func() {
		if len(m.Cfg.DKIMKeys) > 0 {
			m.signer, m.signerErr = msgauth.LoadSigner(m.Cfg.DKIMKeys)
		}
	})
	return m.signer, m.signerErr
}

// signed returns msg with a DKIM-Signature on top when a key for the
// domain of its From: is configured. Only our own users' mail comes here:
// local submissions and authenticated clients, never relayed mail. A key
// that cannot be used is logged and the mail goes unsigned: it is still
// the sender's mail, and losing it would be worse.
func (m *MTA) signed(id string, msg io.Reader) (io.Reader, error) {
	if len(m.Cfg.DKIMKeys) == 0 {
		return msg, nil
	}
	s, err := m.DKIMSigner()
	if err != nil {
		m.Log.Error("%s: not signed: %v", id, err)
		return msg, nil
	}
	buf, err := io.ReadAll(msg)
	if err != nil {
		return nil, err
	}
	sig, domain, err := s.Sign(buf)
	switch {
	case err != nil:
		m.Log.Error("%s: not signed: %v", id, err)
	case sig != nil:
		m.Log.Info("%s: DKIM-Signature field added (d=%s)", id, domain)
		return io.MultiReader(bytes.NewReader(sig), bytes.NewReader(buf)), nil
	}
	return bytes.NewReader(buf), nil
}

// verifier is the SMTP server's check of mail from outside (msgauth_checks).
func (m *MTA) verifier() func(env *smtpd.Envelope, msg []byte) (io.Reader, string, *smtp.SMTPError) {
	v := &msgauth.Verifier{
		Hostname: m.Cfg.Hostname,
		Resolver: m.Resolver,
		Policy:   msgauth.Policy{SPF: m.Cfg.SPFPolicy, DMARC: m.Cfg.DMARCPolicy, TempError: m.Cfg.DNSTempErrorPolicy},
	}
	return func(env *smtpd.Envelope, msg []byte) (io.Reader, string, *smtp.SMTPError) {
		ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
		defer cancel()
		vd := v.Check(ctx, msgauth.Envelope{IP: net.ParseIP(env.ClientAddr), Helo: env.Helo, MailFrom: env.From}, msg)
		if r := vd.Reply; r != nil {
			// The verdicts go in the reply, and so on the reject log line.
			return nil, "", &smtp.SMTPError{Code: r.Code, EnhancedCode: smtp.EnhancedCode(r.Enhanced),
				Message: r.Text + " (" + vd.LogNote() + ")"}
		}
		head := vd.Header(m.Cfg.Hostname, "\r\n")
		return io.MultiReader(bytes.NewReader([]byte(head)), bytes.NewReader(msgauth.StripForged(msg, m.Cfg.Hostname))), vd.LogNote(), nil
	}
}
