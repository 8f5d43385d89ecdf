package msgauth

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/emersion/go-msgauth/dkim"

	"unixmail/pkg/config"
)

// minRSABits is the smallest RSA key we sign with: RFC 8301 asks for at
// least 1024 and large receivers distrust anything under 2048.
const minRSABits = 2048

// signedHeaders are the fields RFC 6376 5.4.1 recommends signing, with
// the MIME fields that change how the body reads.
var signedHeaders = []string{
	"From", "Reply-To", "Subject", "Date", "To", "Cc", "Resent-Date",
	"Resent-From", "Resent-To", "Resent-Cc", "In-Reply-To", "References",
	"List-Id", "List-Help", "List-Unsubscribe", "List-Subscribe",
	"List-Post", "List-Owner", "List-Archive", "Message-ID", "MIME-Version",
	"Content-Type", "Content-Transfer-Encoding",
}

// overSigned are signed once more than they occur (RFC 6376 8.15), so
// that nobody can add a second one to a signed message.
var overSigned = []string{"From", "Subject", "To"}

// Signer signs mail for the domains of dkim_keys.
type Signer struct {
	keys map[string]signingKey // by lower-case domain
}

type signingKey struct {
	selector string
	signer   crypto.Signer
}

// LoadSigner reads the keys of dkim_keys. A key file must belong to root
// (or to the user running us, in a sandbox) and be readable by its owner
// alone; RSA keys need 2048 bits or more.
func LoadSigner(keys []config.DKIMKey) (*Signer, error) {
	s := &Signer{keys: map[string]signingKey{}}
	for _, k := range keys {
		priv, err := ReadKey(k.File)
		if err != nil {
			return nil, fmt.Errorf("dkim_keys %s: %w", k.Domain, err)
		}
		s.keys[k.Domain] = signingKey{selector: k.Selector, signer: priv}
	}
	return s, nil
}

// ReadKey reads a PEM private key (PKCS #8, or PKCS #1 for RSA) from a
// file that only its owner, root or us, may read.
func ReadKey(path string) (crypto.Signer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.Mode().IsRegular() || !ok {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if uid := int(st.Uid); (uid != 0 && uid != os.Geteuid()) || fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: owner uid %d mode %04o: refused, a private key must be owned by root and mode 0600 or 0400",
			path, st.Uid, fi.Mode().Perm())
	}
	data, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return nil, err
	}
	key, err := ParseKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

// ParseKey reads a PEM private key for signing: RSA of minRSABits or
// more, or Ed25519 (RFC 8463).
func ParseKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q: want PRIVATE KEY or RSA PRIVATE KEY", block.Type)
	}
	if err != nil {
		return nil, err
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < minRSABits {
			return nil, fmt.Errorf("RSA key of %d bits: refused, want %d or more", bits, minRSABits)
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("key type %T: want RSA or Ed25519", key)
}

// Sign returns the DKIM-Signature field for msg, with msg's own line
// endings, and the domain it signs for; nil and "" when no key is
// configured for the domain of its From: (or it has no single author
// domain).
func (s *Signer) Sign(msg []byte) (sig []byte, domain string, err error) {
	if s == nil || len(s.keys) == 0 {
		return nil, "", nil
	}
	fields, _ := splitHeader(msg)
	from := fromDomains(fields)
	if len(from) != 1 {
		return nil, "", nil
	}
	k, ok := s.keys[from[0]]
	if !ok {
		return nil, "", nil
	}
	opts := &dkim.SignOptions{
		Domain:                 from[0],
		Selector:               k.selector,
		Signer:                 k.signer,
		Hash:                   crypto.SHA256,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             headerKeys(fields),
	}
	signer, err := dkim.NewSigner(opts)
	if err != nil {
		return nil, "", fmt.Errorf("dkim: %w", err)
	}
	if _, err := signer.Write(msg); err != nil {
		signer.Close()
		return nil, "", fmt.Errorf("dkim: %w", err)
	}
	if err := signer.Close(); err != nil {
		return nil, "", fmt.Errorf("dkim: %w", err)
	}
	sig = []byte(signer.Signature())
	if lineEnding(msg) == "\n" {
		sig = bytes.ReplaceAll(sig, []byte("\r\n"), []byte("\n"))
	}
	return sig, from[0], nil
}

// headerKeys are the h= list: each recommended field as often as msg has
// it, and the oversigned ones once more.
func headerKeys(fields []field) []string {
	count := map[string]int{}
	for _, f := range fields {
		count[strings.ToLower(f.name())]++
	}
	var keys []string
	for _, name := range signedHeaders {
		for range count[strings.ToLower(name)] {
			keys = append(keys, name)
		}
	}
	return append(keys, overSigned...)
}
