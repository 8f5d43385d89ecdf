package auth

import (
	"crypto/md5"
	"strings"
)

// md5-crypt, Poul-Henning Kamp's $1$ scheme from FreeBSD, as described in
// its public algorithm: still found in old shadow files and `openssl
// passwd -1`.
const (
	md5Magic   = "$1$"
	md5SaltMax = 8
)

var md5Groups = [][3]int{{0, 6, 12}, {1, 7, 13}, {2, 8, 14}, {3, 9, 15}, {4, 10, 5}}

// md5Crypt computes the full $1$ string for password with the salt from
// setting, which may be a whole hash.
func md5Crypt(setting, password string) (string, error) {
	salt, _, _ := strings.Cut(setting[len(md5Magic):], "$")
	if len(salt) > md5SaltMax {
		salt = salt[:md5SaltMax]
	}
	p, s := []byte(password), []byte(salt)

	h := md5.New()
	h.Write(p)
	h.Write(s)
	h.Write(p)
	alt := h.Sum(nil)

	h.Reset()
	h.Write(p)
	h.Write([]byte(md5Magic))
	h.Write(s)
	h.Write(repeatTo(alt, len(p)))
	// The original's quirk: a NUL for each set bit of the length, the
	// password's first byte for each clear one.
	for n := len(p); n > 0; n >>= 1 {
		if n&1 != 0 {
			h.Write([]byte{0})
		} else {
			h.Write(p[:1])
		}
	}
	sum := h.Sum(nil)

	for i := range 1000 {
		h.Reset()
		if i&1 != 0 {
			h.Write(p)
		} else {
			h.Write(sum)
		}
		if i%3 != 0 {
			h.Write(s)
		}
		if i%7 != 0 {
			h.Write(p)
		}
		if i&1 != 0 {
			h.Write(sum)
		} else {
			h.Write(p)
		}
		sum = h.Sum(sum[:0])
	}
	return md5Magic + salt + "$" + encodeGroups(sum, md5Groups, []int{11}, 2), nil
}
