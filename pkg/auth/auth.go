// Package auth checks users' passwords for SMTP AUTH (sendmail -bd), and
// for ipop3d and imapd: against crypt(3) hashes from /etc/shadow or a
// user_db file, or through PAM in a build with the pam tag.
//
// Hash formats understood by Verify: SHA-crypt $5$ and $6$ (Ulrich
// Drepper's "Unix crypt using SHA-256 and SHA-512"), md5-crypt $1$
// (Poul-Henning Kamp's FreeBSD scheme), bcrypt $2a$/$2b$/$2y$, and
// yescrypt $y$ (Debian 12's default), the last two through libraries.
//
// Nothing here ever logs a password or puts one into an error.
package auth

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"unixmail/pkg/config"
	"unixmail/pkg/userdb"
)

// ErrBadCredentials is returned for a wrong password, an unknown user and
// a locked account alike, so that a client cannot tell them apart.
var ErrBadCredentials = errors.New("authentication failed")

// Authenticator checks a user's password and returns the account.
type Authenticator interface {
	Authenticate(user, password string) (*userdb.User, error)
}

// New returns the authenticator named by cfg.Auth: "shadow" (system users,
// hashes from /etc/shadow through db), "userdb" (the hash field of the
// user_db file) or "pam" (only in a build with the pam tag).
func New(cfg *config.Config, db *userdb.DB) (Authenticator, error) {
	switch cfg.Auth {
	case "shadow", "userdb":
		// userdb already reads the hash from the right place for its
		// kind of database: /etc/shadow for "system", inline for a file.
		return &hashAuth{db: db}, nil
	case "pam":
		return newPAM(db)
	}
	return nil, fmt.Errorf("auth = %q: want shadow, userdb or pam", cfg.Auth)
}

// hashAuth checks passwords against the crypt(3) hash of the account.
type hashAuth struct {
	db *userdb.DB
	// decoy is the hash of the last real account checked: an unknown or
	// locked user is checked against it, so that the answer takes as long
	// as for a real one of the same kind (yescrypt is far slower than
	// SHA-crypt) and timing does not tell who exists.
	decoy atomic.Pointer[string]
}

// defaultDecoy is used until a real hash has been seen: SHA-512 with the
// default 5000 rounds, the hash of a random password nobody knows.
const defaultDecoy = "$6$decoydecoy$Uq1aHZugU3XdOcuSmPn1nBfAVOOfmLu3TBsjxVa8dsiEEcRLuCIEcR9Y03RkfuomSiO9NEuoAb7MRz/qyyEe10"

func (a *hashAuth) Authenticate(user, password string) (*userdb.User, error) {
	u, err := a.db.Lookup(user)
	if errors.Is(err, userdb.ErrNoUser) {
		a.waste(password)
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, fmt.Errorf("look up user: %w", err)
	}
	if Locked(u.Hash) {
		a.waste(password)
		return nil, ErrBadCredentials
	}
	ok, err := Verify(u.Hash, password)
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", u.Name, err)
	}
	a.decoy.Store(&u.Hash)
	if !ok {
		return nil, ErrBadCredentials
	}
	return u, nil
}

// waste does the work of one check whose result is thrown away.
func (a *hashAuth) waste(password string) {
	h := defaultDecoy
	if p := a.decoy.Load(); p != nil {
		h = *p
	}
	Verify(h, password) //nolint:errcheck // only the time it takes matters
}

// Locked reports whether a hash field can never match: empty, "x" (the
// password is elsewhere), "*", or starting with "!" (usermod -L, "!!" from
// useradd).
func Locked(hash string) bool {
	return hash == "" || hash == "x" || hash == "*" || strings.HasPrefix(hash, "!")
}

// Verify reports whether password matches hash, a crypt(3) string. A
// locked hash (see Locked) never matches. An error means the hash is
// malformed or of a scheme we cannot compute; it never holds the password.
func Verify(hash, password string) (bool, error) {
	if Locked(hash) {
		return false, nil
	}
	var (
		computed string
		err      error
	)
	switch {
	case strings.HasPrefix(hash, "$6$"), strings.HasPrefix(hash, "$5$"):
		computed, err = shaCrypt(hash, password)
	case strings.HasPrefix(hash, "$1$"):
		computed, err = md5Crypt(hash, password)
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		return bcryptVerify(hash, password)
	case strings.HasPrefix(hash, "$y$"):
		computed, err = yescryptHash(hash, password)
	default:
		return false, fmt.Errorf("unsupported hash scheme %s", schemeName(hash))
	}
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare([]byte(computed), []byte(hash)) == 1, nil
}

// schemeName names a hash's scheme for an error without quoting the hash.
func schemeName(hash string) string {
	if strings.HasPrefix(hash, "$") {
		if id, _, ok := strings.Cut(hash[1:], "$"); ok && len(id) <= 8 && isAlnum(id) {
			return "$" + id + "$"
		}
		return "(malformed)"
	}
	if len(hash) == 13 {
		return "DES"
	}
	return "(unknown)"
}

func isAlnum(s string) bool {
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
