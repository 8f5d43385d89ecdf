package auth

import (
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"hash"
	"strconv"
	"strings"
)

// SHA-crypt, after Ulrich Drepper's specification "Unix crypt using
// SHA-256 and SHA-512" (the $5$ and $6$ schemes of glibc and libxcrypt).
const (
	shaSaltMax      = 16
	shaRoundsPrefix = "rounds="
	shaRoundsDef    = 5000
	shaRoundsMin    = 1000
	shaRoundsMax    = 999999999
)

// The order in which the digest's bytes are encoded, from the specification.
var (
	sha256Groups = [][3]int{
		{0, 10, 20}, {21, 1, 11}, {12, 22, 2}, {3, 13, 23}, {24, 4, 14},
		{15, 25, 5}, {6, 16, 26}, {27, 7, 17}, {18, 28, 8}, {9, 19, 29},
	}
	sha512Groups = [][3]int{
		{0, 21, 42}, {22, 43, 1}, {44, 2, 23}, {3, 24, 45}, {25, 46, 4},
		{47, 5, 26}, {6, 27, 48}, {28, 49, 7}, {50, 8, 29}, {9, 30, 51},
		{31, 52, 10}, {53, 11, 32}, {12, 33, 54}, {34, 55, 13}, {56, 14, 35},
		{15, 36, 57}, {37, 58, 16}, {59, 17, 38}, {18, 39, 60}, {40, 61, 19},
		{62, 20, 41},
	}
)

var errBadRounds = errors.New("SHA-crypt rounds malformed or out of range")

// shaCrypt computes the full $5$ or $6$ string for password with the
// parameters (rounds, salt) taken from setting, which may be a whole hash.
func shaCrypt(setting, password string) (string, error) {
	id, rest := setting[:3], setting[3:]
	newHash := sha512.New
	if id == "$5$" {
		newHash = sha256.New
	}
	rounds, custom := shaRoundsDef, false
	if after, ok := strings.CutPrefix(rest, shaRoundsPrefix); ok {
		digits, tail, found := strings.Cut(after, "$")
		// libxcrypt refuses what it would not write (glibc clamps
		// instead); either way such a hash can never match, and refusing
		// spares us a billion rounds.
		n, err := strconv.Atoi(digits)
		if !found || err != nil || digits[0] < '1' || digits[0] > '9' || n < shaRoundsMin || n > shaRoundsMax {
			return "", errBadRounds
		}
		rounds, custom, rest = n, true, tail
	}
	salt, _, _ := strings.Cut(rest, "$")
	if len(salt) > shaSaltMax {
		salt = salt[:shaSaltMax]
	}
	sum := shaDigest(newHash, []byte(password), []byte(salt), rounds)

	var b strings.Builder
	b.WriteString(id)
	if custom {
		b.WriteString(shaRoundsPrefix + strconv.Itoa(rounds) + "$")
	}
	b.WriteString(salt)
	b.WriteByte('$')
	if id == "$5$" {
		b.WriteString(encodeGroups(sum, sha256Groups, []int{31, 30}, 3))
	} else {
		b.WriteString(encodeGroups(sum, sha512Groups, []int{63}, 2))
	}
	return b.String(), nil
}

// shaDigest is steps 1 to 21 of the specification.
func shaDigest(newHash func() hash.Hash, p, s []byte, rounds int) []byte {
	// Digest B: password, salt, password.
	h := newHash()
	h.Write(p)
	h.Write(s)
	h.Write(p)
	b := h.Sum(nil)

	// Digest A: password, salt, then B stretched over the password's
	// length, then B or the password for each bit of that length.
	h = newHash()
	h.Write(p)
	h.Write(s)
	h.Write(repeatTo(b, len(p)))
	for n := len(p); n > 0; n >>= 1 {
		if n&1 != 0 {
			h.Write(b)
		} else {
			h.Write(p)
		}
	}
	a := h.Sum(nil)

	// Digest DP: the password once per byte of it; P is DP stretched to
	// the password's length.
	h = newHash()
	for range len(p) {
		h.Write(p)
	}
	pSeq := repeatTo(h.Sum(nil), len(p))

	// Digest DS: the salt 16 + A[0] times; S is DS cut to the salt's length.
	h = newHash()
	for range 16 + int(a[0]) {
		h.Write(s)
	}
	sSeq := repeatTo(h.Sum(nil), len(s))

	c := a
	for i := range rounds {
		h.Reset()
		if i&1 != 0 {
			h.Write(pSeq)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(sSeq)
		}
		if i%7 != 0 {
			h.Write(pSeq)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(pSeq)
		}
		c = h.Sum(c[:0])
	}
	return c
}

// repeatTo returns n bytes made of d repeated (and cut).
func repeatTo(d []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, d[:min(len(d), n-len(out))]...)
	}
	return out
}
