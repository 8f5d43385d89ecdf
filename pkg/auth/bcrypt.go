package auth

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// bcryptMaxPassword: bcrypt reads at most 72 bytes of the password, and
// crypt(3) ignores the rest, so a longer password must still match.
const bcryptMaxPassword = 72

func bcryptVerify(hash, password string) (bool, error) {
	p := []byte(password)
	if len(p) > bcryptMaxPassword {
		p = p[:bcryptMaxPassword]
	}
	err := bcrypt.CompareHashAndPassword([]byte(hash), p)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, nil
	}
	return false, fmt.Errorf("bcrypt hash: %w", err)
}
