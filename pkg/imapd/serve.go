// Package imapd serves IMAP4rev1 and IMAP4rev2 on one connection the
// daemon runtime hands it, with go-imap's imapserver over imapstore's mbox
// folders.
package imapd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-sasl"

	"unixmail/pkg/auth"
	"unixmail/pkg/config"
	"unixmail/pkg/daemon"
	"unixmail/pkg/imapstore"
	"unixmail/pkg/lock"
	"unixmail/pkg/stdioconn"
	"unixmail/pkg/userdb"
)

// Caps are the capabilities imapd offers beyond those the library adds by
// itself (IDLE, UNSELECT, ENABLE, SASL-IR, APPENDLIMIT) and those the
// filter adds (ID, STARTTLS, LOGINDISABLED; SORT and THREAD, which it
// runs through the library's SEARCH). IMAP4rev2 (RFC 9051) is offered
// beside IMAP4rev1: a client that sends ENABLE IMAP4rev2 gets ESEARCH
// results and no RECENT or UNSEEN in SELECT from the library, and no
// \Recent and a LIST in SELECT from the session (told by the filter).
var Caps = imap.CapSet{
	imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}, imap.CapNamespace: {}, imap.CapUIDPlus: {}, imap.CapESearch: {},
	imap.CapListExtended: {}, imap.CapListStatus: {}, imap.CapMove: {}, imap.CapStatusSize: {},
	imap.CapChildren: {}, imap.CapSpecialUse: {}, imap.CapLiteralPlus: {}, imap.CapBinary: {},
	imap.CapSearchRes: {},
}

// conn is one client's connection state, shared by the filter and the
// session.
type conn struct {
	c       *daemon.Client
	cfg     *config.Config
	authed  bool
	hangUp  bool
	filter  *filter
	preauth *userdb.User
	sess    *imapstore.Session
}

func (k *conn) conn() net.Conn              { return k.c.Conn }
func (k *conn) startTLS(buffered int) error { return k.c.StartTLS(buffered) }
func (k *conn) canStartTLS() bool           { return k.c.CanStartTLS() }
func (k *conn) authenticated() bool         { return k.authed }
func (k *conn) loginTimeout() time.Duration { return k.cfg.ClientLoginTimeout }
func (k *conn) idInfo() string              { return `("name" "unixmail imapd" "vendor" "unixmail")` }

// enabled hears what ENABLE turned on, as the library told the client.
func (k *conn) enabled(caps []string) {
	for _, c := range caps {
		if strings.EqualFold(c, string(imap.CapIMAP4rev2)) && k.sess != nil {
			k.sess.EnableIMAP4rev2()
		}
	}
}

func (k *conn) flushDue() time.Time {
	if k.sess == nil {
		return time.Time{}
	}
	return k.sess.FlushDue()
}

func (k *conn) flush() error { return k.written(k.sess.Flush) }
func (k *conn) check() error { return k.written(k.sess.Check) }

// written runs a write of the session's flag changes, logging its failure.
func (k *conn) written(write func() error) error {
	if k.sess == nil {
		return nil
	}
	err := write()
	if err != nil {
		k.c.Log.Warn("rip=%s: writing flag changes: %v", k.c.Peer, err)
	}
	return err
}
func (k *conn) unsynced() bool { return k.sess != nil && k.sess.Unsynced() }

func (k *conn) commit() error {
	if k.sess == nil {
		return nil
	}
	err := k.sess.Commit()
	if err != nil {
		k.c.Log.Error("rip=%s: hanging up, APPENDs not reported done: %v", k.c.Peer, err)
	}
	return err
}

func (k *conn) extraCaps(authed bool) ([]string, []string) {
	add := []string{"ID"}
	var remove []string
	if authed {
		for _, c := range orderCaps {
			add = append(add, string(c))
		}
	} else {
		if k.c.CanStartTLS() {
			add = append(add, "STARTTLS")
		}
		if !k.c.PlaintextOK() {
			add = append(add, "LOGINDISABLED")
			remove = append(remove, "AUTH=")
		}
	}
	return add, remove
}

// Serve runs the IMAP session on c. Run by a user other than root over a
// pipe (`ssh host imapd`), it greets PREAUTH as that user, as UW's imapd
// does; otherwise the client logs in, and imapd becomes the user before
// any mailbox is opened.
func Serve(c *daemon.Client) error {
	k := &conn{c: c, cfg: c.Config}
	if u, err := caller(c); err != nil {
		return err
	} else if u != nil && c.Peer == "local" {
		if _, err := c.Succeeded(u, "PREAUTH"); err != nil {
			return err
		}
		if err := c.BecomeUser(u); err != nil {
			return err
		}
		k.preauth, k.authed = u, true
	}
	k.filter = newFilter(k)
	srv := imapserver.New(&imapserver.Options{
		NewSession:   k.newSession,
		Caps:         Caps,
		Logger:       logger{k},
		InsecureAuth: true, // the filter and the session refuse plaintext where it is not OK
	})
	// SIGTERM or SIGHUP (a shutdown, a hung-up terminal or ssh) ends the
	// connection as a client's going away does: the session writes its
	// flag changes before the process exits.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go func() {
		if _, ok := <-sigs; ok {
			k.conn().Close()
		}
	}()
	err := srv.Serve(stdioconn.Listen(k.filter))
	srv.Close()
	return err
}

// caller is the user running imapd: of the users with its uid (virtual
// users may share one), the one LOGNAME names, else the first. Root on a
// pipe (a script of root's, never a network client) may name any user in
// LOGNAME but root, whom imapd then becomes.
func caller(c *daemon.Client) (*userdb.User, error) {
	u, err := c.Caller()
	if err != nil {
		return nil, err
	}
	if u == nil {
		name := os.Getenv("LOGNAME")
		if c.Peer != "local" || name == "" || name == "root" {
			return nil, nil
		}
		return c.Lookup(name)
	}
	if name := os.Getenv("LOGNAME"); name != "" && name != u.Name {
		if v, err := c.Lookup(name); err == nil && v.UID == u.UID {
			return v, nil
		}
	}
	return u, nil
}

func (k *conn) newSession(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	if k.preauth != nil {
		k.sess = imapstore.NewPreauthSession(k.store(k.preauth))
		k.sess.CutOff, k.sess.GroupCommit, k.sess.Direct = k.cutOff, true, k.filter
		return &session{Session: k.sess, k: k}, &imapserver.GreetingData{PreAuth: true}, nil
	}
	k.sess = imapstore.NewSession(k.login)
	k.sess.CutOff, k.sess.GroupCommit, k.sess.Direct = k.cutOff, true, k.filter
	s := &session{Session: k.sess, k: k}
	s.Hook = k.plaintextCheck
	return s, nil, nil
}

// cutOff hangs up in the middle of a response that cannot be finished.
func (k *conn) cutOff(why error) {
	k.c.Log.Warn("rip=%s: hanging up inside a FETCH response: %v", k.c.Peer, why)
	k.filter.cutOff()
}

func (k *conn) plaintextCheck() error {
	if !k.c.PlaintextOK() {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodePrivacyRequired, Text: "Use STARTTLS or imaps: no passwords in the clear here"}
	}
	return nil
}

func (k *conn) login(user, password, method string) (*imapstore.Store, error) {
	u, err := k.c.Authenticate(user, password, method)
	if errors.Is(err, auth.ErrBadCredentials) {
		if k.c.TooManyFailures() {
			k.filter.hangUpAfterReply("Too many login failures")
		}
		return nil, imapserver.ErrAuthFailed
	}
	if err != nil {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable, Text: "Cannot check passwords now, try later"}
	}
	if err := k.c.BecomeUser(u); err != nil {
		k.c.Log.Error("user=<%s>: %v", u.Name, err)
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable, Text: "Cannot serve this user now"}
	}
	k.authed = true
	return k.store(u), nil
}

func (k *conn) store(u *userdb.User) *imapstore.Store {
	return imapstore.New(imapstore.Options{
		Inbox:       u.Expand(k.cfg.Mailbox),
		FolderDir:   u.Expand(k.cfg.FolderDir),
		Owner:       u.UID,
		AppendLimit: k.cfg.MessageSizeLimit,
		Lock:        lock.Options{Timeout: k.cfg.LockTimeout},
		Log:         k.c.Log,
		Poll:        time.Second,
		// A process serves one connection; GOMEMLIMIT, when set, rules.
		LimitMemory: os.Getenv("GOMEMLIMIT") == "",
	})
}

// session adds AUTHENTICATE PLAIN (through the same checks as LOGIN, and
// logged as PLAIN), SORT and THREAD, and SEARCHRES to imapstore's session.
type session struct {
	*imapstore.Session
	k     *conn
	saved imap.UIDSet // SEARCHRES's $: the last result saved, as UIDs
}

func (s *session) AuthenticateMechanisms() []string { return []string{"PLAIN"} }

func (s *session) Authenticate(mech string) (sasl.Server, error) {
	if !strings.EqualFold(mech, "PLAIN") {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Unsupported mechanism"}
	}
	return sasl.NewPlainServer(func(identity, user, password string) error {
		if identity != "" && identity != user {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthorizationFailed, Text: "Cannot log in as another user"}
		}
		return s.LoginWith(user, password, "PLAIN")
	}), nil
}

// logger sends the library's complaints to the mail log.
type logger struct{ k *conn }

func (l logger) Printf(format string, args ...any) {
	l.k.c.Log.Warn("rip=%s: %s", l.k.c.Peer, fmt.Sprintf(format, args...))
}
