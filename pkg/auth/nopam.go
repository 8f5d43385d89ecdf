//go:build !pam

package auth

import (
	"errors"

	"unixmail/pkg/userdb"
)

func newPAM(*userdb.DB) (Authenticator, error) {
	return nil, errors.New("auth = pam: this build has no PAM support; rebuild with -tags pam (needs cgo and libpam0g-dev)")
}
