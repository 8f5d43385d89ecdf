package smtpout

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// tlsHandshakeError marks a failed handshake, after which opportunistic
// TLS tries again in plain text.
type tlsHandshakeError struct{ err error }

func (e *tlsHandshakeError) Error() string { return "TLS handshake failed: " + e.err.Error() }
func (e *tlsHandshakeError) Unwrap() error { return e.err }

var errTLSNotOffered = &smtp.SMTPError{Code: 0, EnhancedCode: smtp.EnhancedCode{4, 7, 4},
	Message: "TLS is required, but was not offered by the host"}

func (d *delivery) timeout() time.Duration {
	if d.o.Timeout > 0 {
		return d.o.Timeout
	}
	return defaultTimeout
}

func (d *delivery) tlsMode() string {
	if d.o.TLS == "" {
		return "opportunistic"
	}
	return d.o.TLS
}

func (d *delivery) helo() string {
	if d.o.Helo == "" {
		return "localhost"
	}
	return d.o.Helo
}

func (d *delivery) tlsConfig(h hop, mode string) *tls.Config {
	var cfg *tls.Config
	switch {
	case d.o.TLSConfig != nil:
		cfg = d.o.TLSConfig.Clone()
	case mode == "opportunistic":
		// RFC 7435: unauthenticated encryption still beats plain text.
		cfg = &tls.Config{InsecureSkipVerify: true}
	default:
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = h.name
	}
	return cfg
}

// connect opens a session ready for MAIL: greeted, TLS as mode asks, and
// EHLO sent with our name. It returns whether the session is encrypted.
//
// go-smtp's client can only STARTTLS after an EHLO naming itself
// "localhost", so the clear-text start (greeting, EHLO, STARTTLS) is
// spoken here, and go-smtp takes over with a new EHLO.
func (d *delivery) connect(ctx context.Context, h hop, hostport, mode string) (*smtp.Client, bool, error) {
	dialer := net.Dialer{Timeout: d.timeout()}
	conn, err := dialer.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return nil, false, err
	}
	if mode == "tls" {
		tc, err := d.handshake(ctx, conn, h, mode)
		if err != nil {
			return nil, false, err
		}
		return d.client(tc, "", true)
	}
	conn.SetDeadline(time.Now().Add(d.timeout()))
	encrypt, err := d.preamble(textproto.NewConn(conn), mode)
	if err != nil {
		conn.Close()
		return nil, false, err
	}
	conn.SetDeadline(time.Time{})
	if !encrypt {
		return d.client(conn, "220 resumed\r\n", false)
	}
	tc, err := d.handshake(ctx, conn, h, mode)
	if err != nil {
		return nil, false, err
	}
	return d.client(tc, "220 resumed\r\n", true)
}

// handshake starts TLS on conn, closing it if that fails.
func (d *delivery) handshake(ctx context.Context, conn net.Conn, h hop, mode string) (*tls.Conn, error) {
	tc := tls.Client(conn, d.tlsConfig(h, mode))
	hctx, cancel := context.WithTimeout(ctx, d.timeout())
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		conn.Close()
		return nil, &tlsHandshakeError{err}
	}
	return tc, nil
}

// preamble reads the greeting, says EHLO and, when mode wants it and the
// server offers it, STARTTLS. It reports whether TLS is to start now.
func (d *delivery) preamble(tp *textproto.Conn, mode string) (bool, error) {
	if _, msg, err := tp.ReadResponse(220); err != nil {
		return false, replyError(err, msg)
	}
	if err := tp.PrintfLine("EHLO %s", d.helo()); err != nil {
		return false, err
	}
	_, msg, err := tp.ReadResponse(250)
	offered := err == nil && hasExtension(msg, "STARTTLS")
	switch {
	case mode == "none":
		return false, nil
	case !offered && mode == "starttls":
		return false, errTLSNotOffered
	case !offered:
		// Not offered, or an old server without EHLO: go-smtp falls
		// back to HELO itself.
		return false, nil
	}
	if err := tp.PrintfLine("STARTTLS"); err != nil {
		return false, err
	}
	if _, msg, err := tp.ReadResponse(220); err != nil {
		if mode == "starttls" {
			return false, replyError(err, msg)
		}
		return false, nil
	}
	return true, nil
}

// hasExtension looks for a keyword in an EHLO reply (the first line is
// the greeting).
func hasExtension(reply, ext string) bool {
	lines := strings.Split(reply, "\n")
	for _, l := range lines[1:] {
		if kw, _, _ := strings.Cut(l, " "); strings.EqualFold(kw, ext) {
			return true
		}
	}
	return false
}

// replyError turns a textproto error into an SMTPError.
func replyError(err error, msg string) error {
	var te *textproto.Error
	if !errors.As(err, &te) {
		return err
	}
	se := &smtp.SMTPError{Code: te.Code, Message: msg}
	if enh, rest, ok := cutEnhanced(msg); ok {
		se.EnhancedCode, se.Message = enh, rest
	}
	return se
}

// cutEnhanced splits "x.y.z text" into the RFC 3463 code and the text.
func cutEnhanced(msg string) (smtp.EnhancedCode, string, bool) {
	var code smtp.EnhancedCode
	first, rest, _ := strings.Cut(msg, " ")
	parts := strings.Split(first, ".")
	if len(parts) != 3 {
		return code, msg, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 999 {
			return code, msg, false
		}
		code[i] = n
	}
	return code, rest, true
}

// resumed is a connection whose greeting was already read: go-smtp's
// client reads this replayed one instead.
type resumed struct {
	net.Conn
	r io.Reader
}

func (c *resumed) Read(b []byte) (int, error) { return c.r.Read(b) }

func (d *delivery) client(conn net.Conn, greeting string, encrypted bool) (*smtp.Client, bool, error) {
	if greeting != "" {
		conn = &resumed{Conn: conn, r: io.MultiReader(strings.NewReader(greeting), conn)}
	}
	c := smtp.NewClient(conn)
	c.CommandTimeout = d.timeout()
	// RFC 5321 4.5.3.2.6 gives the final reply 10 minutes.
	c.SubmissionTimeout = 2 * d.timeout()
	if err := c.Hello(d.helo()); err != nil {
		c.Close()
		return nil, false, err
	}
	return c, encrypted, nil
}

// auth logs in when we have credentials, TLS protects them, and the
// server offers a mechanism we know.
func (d *delivery) auth(c *smtp.Client, encrypted bool) error {
	if d.o.AuthUser == "" || !encrypted {
		return nil
	}
	switch {
	case c.SupportsAuth(sasl.Plain):
		return c.Auth(sasl.NewPlainClient("", d.o.AuthUser, d.o.AuthPass))
	case c.SupportsAuth(sasl.Login):
		return c.Auth(sasl.NewLoginClient(d.o.AuthUser, d.o.AuthPass))
	}
	return nil
}

// mailOptions picks the MAIL parameters the server and the message call
// for. go-smtp adds BODY=8BITMIME itself when the server offers it; an
// 8-bit message goes unchanged to a server that does not (most accept it).
func (d *delivery) mailOptions(c *smtp.Client, relay string) (*smtp.MailOptions, *Result) {
	opts := &smtp.MailOptions{Size: d.shape.size}
	if max, ok := c.MaxMessageSize(); ok && max > 0 && d.shape.size > int64(max) {
		return nil, &Result{Enhanced: "5.3.4", Relay: relay,
			Message: "Message size " + strconv.FormatInt(d.shape.size, 10) + " exceeds the limit of " + strconv.Itoa(max) + " of " + relay}
	}
	needUTF8 := !isASCII(d.from)
	for _, r := range d.rcpts {
		needUTF8 = needUTF8 || !isASCII(r)
	}
	if ok, _ := c.Extension("SMTPUTF8"); ok {
		opts.UTF8 = needUTF8 || d.shape.eightHeader
	} else if needUTF8 {
		return nil, &Result{Enhanced: "5.6.7", Relay: relay,
			Message: "SMTPUTF8 is required for a non-ASCII address, but was not offered by " + relay}
	}
	return opts, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
