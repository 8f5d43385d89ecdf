package msgauth

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"unixmail/pkg/config"
	"unixmail/pkg/sysexits"
)

// Key algorithms of GenerateKey.
const (
	RSA     = "rsa"
	Ed25519 = "ed25519"
)

// GenerateKey makes a signing key, RSA of minRSABits or Ed25519, and
// returns it as a PKCS #8 PEM block.
func GenerateKey(alg string) ([]byte, error) {
	var key any
	var err error
	switch alg {
	case RSA:
		key, err = rsa.GenerateKey(rand.Reader, minRSABits)
	case Ed25519:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("key type %q: want %s or %s", alg, RSA, Ed25519)
	}
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// TXTRecord is the DNS record publishing key's public half (RFC 6376
// 3.6.1): the SubjectPublicKeyInfo for RSA, the raw 32 bytes for Ed25519
// (RFC 8463 4.2).
func TXTRecord(key crypto.Signer) (string, error) {
	switch pub := key.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	}
	return "", fmt.Errorf("key type %T: want RSA or Ed25519", key.Public())
}

// ZoneLine is the record as a zone file line, its text cut into quoted
// strings of at most 255 octets, as one TXT record must be (RFC 1035
// 3.3.14); a resolver joins them again.
func ZoneLine(domain, selector, record string) string {
	var parts []string
	for len(record) > 250 {
		parts = append(parts, `"`+record[:250]+`"`)
		record = record[250:]
	}
	parts = append(parts, `"`+record+`"`)
	return fmt.Sprintf("%s._domainkey.%s.\tIN\tTXT\t( %s )", selector, domain, strings.Join(parts, " "))
}

// KeyRecord is `sendmail -bk`: for domain's entry of dkim_keys it makes
// the key file (an alg key, mode 0600) unless it exists, and returns the
// zone file line publishing it. made says the key is new.
func KeyRecord(keys []config.DKIMKey, domain, alg string) (line string, made bool, err error) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	i := slices.IndexFunc(keys, func(k config.DKIMKey) bool { return k.Domain == domain })
	if i < 0 {
		return "", false, sysexits.Wrap(sysexits.Config, fmt.Errorf("dkim_keys has no entry for %s", domain))
	}
	k := keys[i]
	if _, err := os.Lstat(k.File); errors.Is(err, fs.ErrNotExist) {
		pemKey, err := GenerateKey(alg)
		if err != nil {
			return "", false, sysexits.Wrap(sysexits.Usage, err)
		}
		if err := writeNew(k.File, pemKey); err != nil {
			return "", false, sysexits.Wrap(sysexits.CantCreat, err)
		}
		made = true
	}
	priv, err := ReadKey(k.File)
	if err != nil {
		return "", false, sysexits.Wrap(sysexits.Config, err)
	}
	record, err := TXTRecord(priv)
	if err != nil {
		return "", false, sysexits.Wrap(sysexits.Config, err)
	}
	return ZoneLine(k.Domain, k.Selector, record), made, nil
}

// writeNew makes a file only its owner may read, refusing to replace
// anything, and syncs it.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
