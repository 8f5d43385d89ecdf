package daemon

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"unixmail/pkg/auth"
	"unixmail/pkg/config"
	"unixmail/pkg/lock"
	"unixmail/pkg/maillog"
	"unixmail/pkg/throttle"
	"unixmail/pkg/userdb"
)

// ErrNotCaller is wrapped when a non-root server is asked to serve someone
// other than the user running it.
var ErrNotCaller = errors.New("this server serves only the user running it")

// Client is one connection being served.
type Client struct {
	// Conn is the connection: after StartTLS, the TLS one.
	Conn net.Conn
	// Peer is the client's IP address, or "local" for a pipe or a Unix
	// socket, as it appears in the log (rip=).
	Peer   string
	Log    *maillog.Logger
	Config *config.Config

	local    bool
	tlsConf  *tls.Config
	tlsState *tls.ConnectionState
	auth     auth.Authenticator
	db       *userdb.DB
	store    *failureStore // nil: no count across connections
	session  *throttle.Session
	hangUp   bool
	maxDelay time.Duration
	// sleep waits out a failure's delay; tests make it record instead.
	sleep func(time.Duration)
}

// TLS reports whether the connection is encrypted.
func (c *Client) TLS() bool { return c.tlsState != nil }

// TLSConfig is the server's TLS configuration (TLS 1.2 and later), nil
// when tls_cert and tls_key are not set: a library that does STARTTLS
// itself (go-imap's imapserver) gets it.
func (c *Client) TLSConfig() *tls.Config { return c.tlsConf }

// CanStartTLS reports whether STLS/STARTTLS may be offered: a certificate
// is configured and the connection is not encrypted yet.
func (c *Client) CanStartTLS() bool { return c.tlsConf != nil && !c.TLS() }

// PlaintextOK reports whether a password may be sent in the clear here:
// over TLS, from this host (loopback) or over a pipe. Elsewhere it could be
// read on the way, so USER/PASS, LOGIN and AUTH PLAIN are refused.
func (c *Client) PlaintextOK() bool {
	if c.TLS() || c.local {
		return true
	}
	a, err := netip.ParseAddr(c.Peer)
	return err == nil && a.IsLoopback()
}

// StartTLS makes the connection TLS (STLS, STARTTLS) once the server has
// sent its go-ahead. buffered is how many bytes the server's reader still
// holds past the command: they came in the clear and may have been
// injected, so anything buffered is an error (CVE-2011-0411) and the
// server must answer it as a protocol error; it makes a new reader on
// c.Conn in any case.
func (c *Client) StartTLS(buffered int) error {
	if !c.CanStartTLS() {
		return errors.New("TLS is not available here")
	}
	if buffered > 0 {
		return fmt.Errorf("%d bytes sent after the command, before the TLS handshake", buffered)
	}
	return c.handshake()
}

func (c *Client) handshake() error {
	tc := tls.Server(c.Conn, c.tlsConf)
	tc.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	tc.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	c.Conn, c.tlsState = tc, &st
	return nil
}

// Authenticate checks a user's password through pkg/auth and logs the
// outcome as method (USER, PLAIN, LOGIN...). A wrong password, an unknown
// user and, when not root, any user but the caller all give an error
// wrapping auth.ErrBadCredentials, after a delay that grows with each
// failure on this connection and from this address. Other errors (the
// user database cannot be read) mean "try later".
func (c *Client) Authenticate(user, password, method string) (*userdb.User, error) {
	u, err := c.auth.Authenticate(user, password)
	switch {
	case errors.Is(err, auth.ErrBadCredentials):
		return nil, c.Failed(user, method, "bad user name or password")
	case err != nil:
		c.Log.Error("login failed user=<%s> rip=%s method=%s: %v", user, c.Peer, method, err)
		return nil, err
	}
	return c.Succeeded(u, method)
}

// Failed records a failed login that the server checked itself (APOP): it
// logs it with reason, waits the growing delay (client_auth_failure_delay,
// doubled for each recent failure from this address, here and, as root,
// on other connections), and returns an error wrapping
// auth.ErrBadCredentials.
func (c *Client) Failed(user, method, reason string) error {
	d, hangUp, n := c.session.Fail()
	if c.store != nil {
		before := c.store.fail(c.Peer)
		for i := 0; i < before && d < c.maxDelay; i++ {
			d *= 2
		}
		d = min(d, c.maxDelay)
		n += before
	}
	c.hangUp = c.hangUp || hangUp
	c.Log.Warn("login failed user=<%s> rip=%s method=%s tls=%s reason=%s (failures %d)", user, c.Peer, method, yesNo(c.TLS()), reason, n)
	c.wait(d)
	return auth.ErrBadCredentials
}

// Succeeded records a successful login of u. Run by anyone but root, the
// server serves only the user running it: anyone else counts as a failure.
func (c *Client) Succeeded(u *userdb.User, method string) (*userdb.User, error) {
	if uid := os.Getuid(); uid != 0 && u.UID != uid {
		return nil, c.Failed(u.Name, method, "not the user running the server")
	}
	c.Log.Info("login user=<%s> rip=%s method=%s tls=%s", u.Name, c.Peer, method, yesNo(c.TLS()))
	return u, nil
}

// Lookup finds a user in user_db (for APOP, whose secrets are elsewhere).
func (c *Client) Lookup(name string) (*userdb.User, error) { return c.db.Lookup(name) }

// TooManyFailures reports whether the server should close the connection:
// it has had client_auth_failure_limit failures.
func (c *Client) TooManyFailures() bool { return c.hangUp }

// Caller is the user running the server when it is not root (the one user
// it may serve), or nil when it is root.
func (c *Client) Caller() (*userdb.User, error) {
	uid := os.Getuid()
	if uid == 0 {
		return nil, nil
	}
	return c.db.LookupUID(uid)
}

// BecomeUser gives up root for good and becomes u: supplementary groups
// cleared to u's group, then the group, then the user. Call it after a
// login and before opening anything of u's. Run by u already it does
// nothing; run by anyone else but root it fails.
func (c *Client) BecomeUser(u *userdb.User) error {
	uid := os.Getuid()
	switch {
	case uid == u.UID && os.Geteuid() == u.UID:
		return nil
	case uid != 0:
		return fmt.Errorf("user %s: %w", u.Name, ErrNotCaller)
	}
	if err := unix.Setgroups([]int{u.GID}); err != nil {
		return fmt.Errorf("setgroups for %s: %w", u.Name, err)
	}
	// The mail group of an ipop3d or imapd installed setgid stays as the
	// saved group, for the dot-lock and journal in /var/mail alone (see
	// lock.DropGroup).
	if err := lock.SetGroup(u.GID); err != nil {
		return fmt.Errorf("setgid %d for %s: %w", u.GID, u.Name, err)
	}
	if err := unix.Setuid(u.UID); err != nil {
		return fmt.Errorf("setuid %d for %s: %w", u.UID, u.Name, err)
	}
	if unix.Setuid(0) == nil {
		return fmt.Errorf("setuid %d for %s: root could be regained", u.UID, u.Name)
	}
	return nil
}

func (c *Client) wait(d time.Duration) {
	if c.sleep != nil {
		c.sleep(d)
		return
	}
	time.Sleep(d)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
