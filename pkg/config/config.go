// Package config reads unixmail's one configuration file, unixmail.conf(5):
// `key = value` lines in the style of Postfix's main.cf, built-in defaults for
// every key, `$name` expansion of other keys, and `-o key=value` overrides
// from the command line. Every binary loads it on start, deliver once per
// delivery, so loading must stay cheap: no DNS, no exec, nothing beyond
// reading one small file.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strings"
	"time"

	"unixmail/pkg/sysexits"
)

// DefaultPath is read when neither -C nor $UNIXMAIL_CONF names a file.
const DefaultPath = "/etc/unixmail.conf"

// EnvVar names the configuration file when -C does not.
const EnvVar = "UNIXMAIL_CONF"

// Config is the loaded configuration, every value final: defaults applied,
// `$name` expanded, validated. The keys are documented in unixmail.conf(5).
type Config struct {
	Path                 string // file actually loaded; "" when built-in defaults only
	Hostname             string
	MyDestination        []string // lower-cased domains, $hostname expanded
	UserDB               string   // "system" or an absolute file path
	Mailbox              string   // pattern for userdb.User.Expand, e.g. "~/Mailbox" or "/var/mail/%u"
	FolderDir            string   // pattern, as Mailbox
	AliasMaps            string   // "" = no aliases
	QueueDirectory       string
	Relayhost            string // "" = deliver by MX
	SMTPTLS              string // none|opportunistic|starttls|tls
	SMTPAuthFile         string
	SMTPListen           []string
	MyNetworks           []netip.Prefix
	MessageSizeLimit     int64 // bytes; 0 = no limit
	MaximalQueueLifetime time.Duration
	LockTimeout          time.Duration // how long to try for a mailbox's locks
	TLSCert, TLSKey      string
	Auth                 string // shadow|userdb|pam; never "" after Load or Defaults
	DefaultPrivs         string
	SMTPDUser            string
	Log                  string // syslog|stderr|absolute file path
	MailboxTransport     string // ""|lmtp:HOST:PORT|lmtp:unix:PATH

	// Limits shared by the servers (sendmail -bd, ipop3d, imapd); 0 = none.
	ClientConnectionLimit      int // connections at once, in total
	ClientConnectionCountLimit int // connections at once from one address
	ClientBusyTimeout          time.Duration
	ClientLoginTimeout         time.Duration // how long ipop3d and imapd wait for a login; never 0
	ClientAuthFailureLimit     int           // failed logins before a connection is closed
	ClientAuthFailureDelay     time.Duration

	DaemonStateDir     string // "" = no failure counts across connections
	APOPSecrets        string // "" = APOP off
	DNSResolver        string // ""= the system's, else ADDRESS:PORT
	DKIMKeys           []DKIMKey
	MsgAuthChecks      string // yes|no
	SPFPolicy          string // reject|off
	DMARCPolicy        string // reject|header|off
	DNSTempErrorPolicy string // defer|accept
}

// FilePath picks the configuration file: flag (from -C) if non-empty, else
// $UNIXMAIL_CONF, else DefaultPath.
func FilePath(flag string) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv(EnvVar); env != "" {
		return env
	}
	return DefaultPath
}

// Load reads the file chosen by FilePath(flag) and applies overrides, each
// "key=value" from a -o flag. A missing DefaultPath means built-in defaults;
// a missing file named by -C or $UNIXMAIL_CONF is an error. Errors name
// FILE:LINE (or "-o KEY") and carry sysexits.Config.
func Load(flag string, overrides []string) (*Config, error) {
	explicit := flag != "" || os.Getenv(EnvVar) != ""
	c, err := load(FilePath(flag), explicit, overrides)
	return c, sysexits.Wrap(sysexits.Config, err)
}

// Defaults is the configuration used when there is no file at all.
func Defaults() *Config {
	c, err := build(newSettings(), hostname())
	if err != nil {
		// The built-in defaults are constants checked by the tests; only a
		// host name that breaks validation can land here.
		c, _ = build(newSettings(), "localhost")
	}
	return c
}

// IsLocalDomain reports whether mail for domain is delivered on this host,
// comparing case-insensitively with MyDestination and ignoring a final dot.
func (c *Config) IsLocalDomain(domain string) bool {
	domain = strings.TrimSuffix(domain, ".")
	for _, d := range c.MyDestination {
		if strings.EqualFold(d, domain) {
			return true
		}
	}
	return false
}

// InMyNetworks reports whether a client at addr may relay without
// authenticating. IPv4-mapped IPv6 addresses count as IPv4.
func (c *Config) InMyNetworks(addr netip.Addr) bool {
	addr = addr.Unmap().WithZone("")
	for _, p := range c.MyNetworks {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func load(path string, mustExist bool, overrides []string) (*Config, error) {
	s := newSettings()
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := s.parse(path, string(data)); err != nil {
			return nil, err
		}
	case errors.Is(err, fs.ErrNotExist) && !mustExist:
		path = ""
	default:
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := s.override(overrides); err != nil {
		return nil, err
	}
	c, err := build(s, hostname())
	if err != nil {
		return nil, err
	}
	c.Path = path
	return c, nil
}

// hostname is the default for the hostname key. os.Hostname reads the
// kernel's name (uname), which costs no DNS lookup.
func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}
