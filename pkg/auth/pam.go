//go:build pam

package auth

import (
	"errors"
	"fmt"

	"github.com/msteinert/pam/v2"

	"unixmail/pkg/userdb"
)

// pamService is the name under /etc/pam.d that configures us.
const pamService = "unixmail"

// pamAuth asks PAM (pam_unix, LDAP, ...) and then finds the account in
// the user database, which mail delivery needs anyway.
type pamAuth struct{ db *userdb.DB }

func newPAM(db *userdb.DB) (Authenticator, error) { return &pamAuth{db: db}, nil }

func (a *pamAuth) Authenticate(user, password string) (*userdb.User, error) {
	t, err := pam.StartFunc(pamService, user, func(s pam.Style, _ string) (string, error) {
		switch s {
		case pam.PromptEchoOff:
			return password, nil
		case pam.PromptEchoOn:
			return user, nil
		case pam.ErrorMsg, pam.TextInfo:
			return "", nil
		}
		return "", errors.New("unexpected PAM conversation")
	})
	if err != nil {
		return nil, fmt.Errorf("pam start: %w", err)
	}
	defer t.End()
	// PAM's own errors say nothing that would tell a client more than
	// "no": unknown user, wrong password and expired account look alike.
	if err := t.Authenticate(pam.DisallowNullAuthtok); err != nil {
		return nil, ErrBadCredentials
	}
	if err := t.AcctMgmt(pam.DisallowNullAuthtok); err != nil {
		return nil, ErrBadCredentials
	}
	u, err := a.db.Lookup(user)
	if errors.Is(err, userdb.ErrNoUser) {
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, fmt.Errorf("look up user: %w", err)
	}
	return u, nil
}
