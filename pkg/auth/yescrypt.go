package auth

import (
	"fmt"

	"github.com/go-crypt/x/yescrypt"
)

// yescryptHash computes the full $y$ string. The algorithm is Solar
// Designer's own Go port (kept in go-crypt/x), which covers the parameter
// range libxcrypt generates, Debian's /etc/shadow default included.
func yescryptHash(setting, password string) (string, error) {
	h, err := yescrypt.Hash([]byte(password), []byte(setting))
	if err != nil {
		return "", fmt.Errorf("yescrypt hash: %w", err)
	}
	return string(h), nil
}
