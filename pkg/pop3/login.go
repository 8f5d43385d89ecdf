package pop3

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/emersion/go-sasl"

	"unixmail/pkg/auth"
	"unixmail/pkg/userdb"
)

// refusePlain is Dovecot's answer where passwords may not travel in the
// clear (RFC 2595 2.3: a client should not send one there).
const refusePlain = "-ERR [AUTH] plaintext authentication is refused on a connection without TLS: use STLS first"

func (ss *session) cmdUser(args string) error {
	if !ss.c.PlaintextOK() {
		return ss.badClose(refusePlain)
	}
	if args == "" || len(args) > 255 {
		return ss.badClose("-ERR USER needs a name")
	}
	ss.user = args
	ss.reply("+OK send PASS")
	return nil
}

func (ss *session) cmdPass(args string) error {
	if !ss.c.PlaintextOK() {
		return ss.badClose(refusePlain)
	}
	if ss.user == "" {
		return ss.badClose("-ERR send USER first")
	}
	user := ss.user
	ss.user = ""
	// The whole rest of the line is the password: it may hold spaces.
	u, err := ss.c.Authenticate(user, args, "USER")
	return ss.login(u, err)
}

// login finishes a login attempt: on success it becomes the user and opens
// the maildrop; on failure it answers, and closes after too many.
func (ss *session) login(u *userdb.User, err error) error {
	switch {
	case errors.Is(err, auth.ErrBadCredentials):
		ss.reply("-ERR [AUTH] authentication failed")
		if ss.c.TooManyFailures() {
			ss.reply("-ERR [AUTH] too many failures, closing")
			return errClose
		}
		return nil
	case err != nil:
		ss.reply("-ERR [SYS/TEMP] cannot check passwords now, try later")
		return errClose
	}
	if err := ss.c.BecomeUser(u); err != nil {
		ss.c.Log.Error("user=<%s> rip=%s: %v", u.Name, ss.c.Peer, err)
		ss.reply("-ERR [SYS/PERM] this account cannot be served")
		return errClose
	}
	drop, err := ss.srv.Open(u)
	switch {
	case errors.Is(err, ErrInUse):
		ss.c.Log.Warn("user=<%s> rip=%s: maildrop in use by another session", u.Name, ss.c.Peer)
		ss.reply("-ERR [IN-USE] your maildrop is in use by another session")
		return errClose
	case err != nil:
		ss.c.Log.Error("user=<%s> rip=%s: open maildrop: %v", u.Name, ss.c.Peer, err)
		ss.reply("-ERR [SYS/TEMP] cannot open your maildrop, try later")
		return errClose
	}
	ss.name, ss.drop, ss.state = u.Name, drop, transaction
	ss.msgs = unknownSizes(drop.Count())
	ss.deleted = make([]bool, len(ss.msgs))
	ss.retrieved = make([]bool, len(ss.msgs))
	// No octets here: counting them exactly reads every message, which
	// waits for a client that asks (STAT, LIST).
	ss.reply("+OK %s has %d messages", u.Name, len(ss.msgs))
	return nil
}

// cmdAPOP checks MD5(banner + secret), RFC 1939 7, against the secrets
// file. Off unless the administrator has given one.
func (ss *session) cmdAPOP(args string) error {
	if ss.srv.APOP == nil {
		return ss.badClose("-ERR APOP is not offered here")
	}
	name, digest, ok := strings.Cut(args, " ")
	if !ok || name == "" || len(digest) != 32 {
		return ss.badClose("-ERR usage: APOP name digest")
	}
	secret, known := ss.srv.APOP[name]
	if !known {
		// Compare anyway, so the answer takes as long for a stranger.
		secret = "\x00"
	}
	sum := md5.Sum([]byte(ss.banner + secret))
	want := hex.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(digest))) != 1 || !known {
		return ss.login(nil, ss.c.Failed(name, "APOP", "bad digest"))
	}
	u, err := ss.c.Lookup(name)
	if err != nil {
		return ss.login(nil, ss.c.Failed(name, "APOP", "no such user"))
	}
	return ss.login(ss.c.Succeeded(u, "APOP"))
}

// cmdAuth runs a SASL exchange, RFC 5034; PLAIN is the one mechanism.
func (ss *session) cmdAuth(args string) error {
	if args == "" {
		// Not in RFC 5034, but clients (fetchmail) ask this way, as RFC
		// 1734 servers answered.
		ss.reply("+OK")
		if ss.c.PlaintextOK() {
			ss.reply("PLAIN")
		}
		ss.reply(".")
		return nil
	}
	mech, initial, hasInitial := strings.Cut(args, " ")
	if !strings.EqualFold(mech, "PLAIN") {
		return ss.badClose("-ERR unsupported authentication mechanism")
	}
	if !ss.c.PlaintextOK() {
		return ss.badClose(refusePlain)
	}
	if !hasInitial {
		ss.reply("+ ")
		if err := ss.flush(); err != nil {
			return errClose
		}
		line, err := ss.readLine()
		if err != nil {
			return errClose
		}
		initial = line
	}
	if initial == "*" {
		return ss.badClose("-ERR authentication cancelled")
	}
	if initial == "=" {
		initial = ""
	}
	resp, err := base64.StdEncoding.DecodeString(initial)
	if err != nil {
		return ss.badClose("-ERR invalid base64 in the response")
	}
	var (
		u       *userdb.User
		authErr error
		tried   bool
	)
	server := sasl.NewPlainServer(func(identity, username, password string) error {
		tried = true
		if identity != "" && identity != username {
			authErr = ss.c.Failed(username, "PLAIN", "acting for another user is not allowed")
			return authErr
		}
		u, authErr = ss.c.Authenticate(username, password, "PLAIN")
		return authErr
	})
	if _, _, err := server.Next(resp); !tried {
		return ss.badClose("-ERR malformed PLAIN response: " + oneLine(err))
	}
	return ss.login(u, authErr)
}

// cmdSTLS starts TLS, RFC 2595 4. Anything the client sent behind the
// command came in the clear: the session is closed rather than read it.
func (ss *session) cmdSTLS(string) error {
	if !ss.c.CanStartTLS() {
		return ss.badClose("-ERR STLS is not available")
	}
	ss.reply("+OK begin TLS negotiation")
	buffered := ss.r.Buffered()
	ss.w.Flush()
	if err := ss.c.StartTLS(buffered); err != nil {
		ss.c.Log.Warn("STLS rip=%s: %v", ss.c.Peer, err)
		return errClose
	}
	ss.reset()
	ss.user = ""
	return nil
}
