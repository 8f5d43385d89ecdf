package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// key is one row of the key table: its name, its built-in default (before
// `$name` expansion) and how its final value is checked and stored. The
// table's order is the order of unixmail.conf(5) and of validation.
type key struct {
	name string
	def  string
	set  func(c *Config, v string) error
}

// hostnameKey's default is the system's host name, filled in by build.
const hostnameKey = "hostname"

var keys = []key{
	{hostnameKey, "", setHostname},
	{"mydestination", "$hostname, localhost", setMyDestination},
	{"user_db", "system", setUserDB},
	{"mailbox", "~/Mailbox", patternSetter(func(c *Config) *string { return &c.Mailbox })},
	{"folder_dir", "~/mail", patternSetter(func(c *Config) *string { return &c.FolderDir })},
	{"alias_maps", "/etc/aliases", pathSetter(func(c *Config) *string { return &c.AliasMaps }, true)},
	{"queue_directory", "/var/spool/unixmail", pathSetter(func(c *Config) *string { return &c.QueueDirectory }, false)},
	{"relayhost", "", setRelayhost},
	{"smtp_tls", "opportunistic", setSMTPTLS},
	{"smtp_auth_file", "", pathSetter(func(c *Config) *string { return &c.SMTPAuthFile }, true)},
	{"smtp_listen", "127.0.0.1:25", setSMTPListen},
	{"mynetworks", "127.0.0.0/8, [::1]/128", setMyNetworks},
	{"message_size_limit", "52428800", setMessageSizeLimit},
	{"maximal_queue_lifetime", "5d", setMaximalQueueLifetime},
	{"lock_timeout", "5m", setLockTimeout},
	{"tls_cert", "", pathSetter(func(c *Config) *string { return &c.TLSCert }, true)},
	{"tls_key", "", pathSetter(func(c *Config) *string { return &c.TLSKey }, true)},
	{"auth", "", setAuth},
	{"default_privs", "nobody", setDefaultPrivs},
	{"smtpd_user", "unixmail-smtpd", setSMTPDUser},
	{"log", "syslog", setLog},
	{"mailbox_transport", "", setMailboxTransport},
	{"client_connection_limit", "100", countSetter(func(c *Config) *int { return &c.ClientConnectionLimit })},
	{"client_connection_count_limit", "50", countSetter(func(c *Config) *int { return &c.ClientConnectionCountLimit })},
	{"client_busy_timeout", "10s", secondsSetter(func(c *Config) *time.Duration { return &c.ClientBusyTimeout })},
	{"client_login_timeout", "60s", waitSetter(func(c *Config) *time.Duration { return &c.ClientLoginTimeout })},
	{"client_auth_failure_limit", "3", countSetter(func(c *Config) *int { return &c.ClientAuthFailureLimit })},
	{"client_auth_failure_delay", "2s", secondsSetter(func(c *Config) *time.Duration { return &c.ClientAuthFailureDelay })},
	{"daemon_state_dir", "/run/unixmail", pathSetter(func(c *Config) *string { return &c.DaemonStateDir }, true)},
	{"apop_secrets", "", pathSetter(func(c *Config) *string { return &c.APOPSecrets }, true)},
	{"dns_resolver", "", setDNSResolver},
	{"dkim_keys", "", setDKIMKeys},
	{"msgauth_checks", "yes", choiceSetter(func(c *Config) *string { return &c.MsgAuthChecks }, "yes", "no")},
	{"spf_policy", "reject", choiceSetter(func(c *Config) *string { return &c.SPFPolicy }, "reject", "off")},
	{"dmarc_policy", "reject", choiceSetter(func(c *Config) *string { return &c.DMARCPolicy }, "reject", "header", "off")},
	{"dns_temperror_policy", "defer", choiceSetter(func(c *Config) *string { return &c.DNSTempErrorPolicy }, "defer", "accept")},
}

func lookupKey(name string) (*key, bool) {
	for i := range keys {
		if keys[i].name == name {
			return &keys[i], true
		}
	}
	return nil, false
}

// build turns settings into a Config: expands every value, validates it,
// then fills the defaults that depend on other keys.
func build(s *settings, host string) (*Config, error) {
	if e := s.values[hostnameKey]; e.where == "" {
		s.values[hostnameKey] = entry{raw: host, literal: true}
	}
	c := &Config{}
	for i := range keys {
		k := &keys[i]
		v, err := s.expand(k.name)
		if err != nil {
			return nil, err
		}
		if err := k.set(c, v); err != nil {
			return nil, s.errorf(k.name, "%s: %w", k.name, err)
		}
	}
	if c.Auth == "" {
		c.Auth = "userdb"
		if c.UserDB == "system" {
			c.Auth = "shadow"
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		name := "tls_cert" // the one that is set, to name its line
		if c.TLSCert == "" {
			name = "tls_key"
		}
		return nil, s.errorf(name, "tls_cert and tls_key must be set together")
	}
	return c, nil
}

// splitList splits a list value the way Postfix does: on commas and
// whitespace, dropping empty items.
func splitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t'
	})
}

func setHostname(c *Config, v string) error {
	if v == "" || strings.ContainsAny(v, " \t,/[]@:") {
		return fmt.Errorf("bad host name %q", v)
	}
	c.Hostname = v
	return nil
}

func setMyDestination(c *Config, v string) error {
	c.MyDestination = nil
	for _, d := range splitList(v) {
		if strings.ContainsAny(d, "/[]@:") {
			return fmt.Errorf("bad domain %q", d)
		}
		if d = strings.TrimSuffix(d, "."); d != "" {
			c.MyDestination = append(c.MyDestination, strings.ToLower(d))
		}
	}
	return nil
}

func setUserDB(c *Config, v string) error {
	if v != "system" && !strings.HasPrefix(v, "/") {
		return fmt.Errorf("want \"system\" or an absolute path, not %q", v)
	}
	c.UserDB = v
	return nil
}

// patternSetter stores a per-user path pattern. It must name an absolute
// path once expanded for a user: start with "/" or with "~" (the user's home).
func patternSetter(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error {
		if !strings.HasPrefix(v, "/") && v != "~" && !strings.HasPrefix(v, "~/") {
			return fmt.Errorf("want a path starting with \"/\" or \"~/\", not %q", v)
		}
		*field(c) = v
		return nil
	}
}

// pathSetter stores a file or directory name, which must be absolute so that
// it does not depend on the directory a command is started in.
func pathSetter(field func(*Config) *string, emptyOK bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		if v == "" && emptyOK {
			*field(c) = ""
			return nil
		}
		if !strings.HasPrefix(v, "/") {
			return fmt.Errorf("want an absolute path, not %q", v)
		}
		*field(c) = v
		return nil
	}
}

func setRelayhost(c *Config, v string) error {
	if v == "" {
		c.Relayhost = ""
		return nil
	}
	host, _, err := splitHostPort(v)
	if err != nil {
		return err
	}
	if host == "" {
		return fmt.Errorf("want host, host:port or [address]:port, not %q", v)
	}
	c.Relayhost = v
	return nil
}

func setSMTPTLS(c *Config, v string) error {
	switch v {
	case "none", "opportunistic", "starttls", "tls":
		c.SMTPTLS = v
		return nil
	}
	return fmt.Errorf("want none, opportunistic, starttls or tls, not %q", v)
}

func setSMTPListen(c *Config, v string) error {
	c.SMTPListen = nil
	for _, a := range splitList(v) {
		if _, hasPort, err := splitHostPort(a); err != nil || !hasPort {
			return fmt.Errorf("want address:port, not %q", a)
		}
		c.SMTPListen = append(c.SMTPListen, a)
	}
	if len(c.SMTPListen) == 0 {
		return errors.New("no address")
	}
	return nil
}

func setMyNetworks(c *Config, v string) error {
	c.MyNetworks = nil
	for _, n := range splitList(v) {
		p, err := parseNetwork(n)
		if err != nil {
			return err
		}
		c.MyNetworks = append(c.MyNetworks, p)
	}
	return nil
}

// parseNetwork accepts "127.0.0.0/8", "[::1]/128", "::1/128" and bare
// addresses ("10.1.2.3", "[::1]", "::1") as single-host networks. Host bits
// below the mask are cleared, as Postfix does.
func parseNetwork(s string) (netip.Prefix, error) {
	addr, bits, hasBits := strings.Cut(s, "/")
	if strings.HasPrefix(addr, "[") && strings.HasSuffix(addr, "]") {
		addr = addr[1 : len(addr)-1]
	}
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("bad network %q", s)
	}
	n := a.BitLen()
	if hasBits {
		n, err = strconv.Atoi(bits)
		if err != nil || n < 0 || n > a.BitLen() || bits != strconv.Itoa(n) {
			return netip.Prefix{}, fmt.Errorf("bad network %q", s)
		}
	}
	return netip.PrefixFrom(a, n).Masked(), nil
}

func setMessageSizeLimit(c *Config, v string) error {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || !isDigits(v) {
		return fmt.Errorf("want a number of bytes, not %q", v)
	}
	c.MessageSizeLimit = n
	return nil
}

func setMaximalQueueLifetime(c *Config, v string) error {
	d, err := parseDuration(v)
	if err != nil {
		return err
	}
	c.MaximalQueueLifetime = d
	return nil
}

func setLockTimeout(c *Config, v string) error {
	d, err := parseDuration(v)
	if err != nil {
		return err
	}
	if d <= 0 {
		return errors.New("want a time longer than 0")
	}
	c.LockTimeout = d
	return nil
}

// parseDuration reads a Postfix time value: a number with an optional unit,
// s, m, h, d or w; a plain number counts days, as Postfix's
// maximal_queue_lifetime does.
func parseDuration(v string) (time.Duration, error) {
	num, unit := v, 24*time.Hour
	if v != "" {
		if u, ok := durationUnits[v[len(v)-1]]; ok {
			num, unit = v[:len(v)-1], u
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || !isDigits(num) || n > int64(1<<63-1)/int64(unit) {
		return 0, fmt.Errorf("want a time like 5d, 12h, 30m or 90s, not %q", v)
	}
	return time.Duration(n) * unit, nil
}

var durationUnits = map[byte]time.Duration{
	's': time.Second, 'm': time.Minute, 'h': time.Hour,
	'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour,
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// countSetter stores a limit: a whole number, 0 meaning none.
func countSetter(field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || !isDigits(v) {
			return fmt.Errorf("want a whole number, not %q", v)
		}
		*field(c) = n
		return nil
	}
}

// secondsSetter stores a short time: a Postfix time value whose plain
// number means seconds, as in Postfix's smtpd_timeout.
func secondsSetter(field func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		if isDigits(v) {
			v += "s"
		}
		d, err := parseDuration(v)
		if err != nil {
			return err
		}
		*field(c) = d
		return nil
	}
}

// waitSetter stores how long a server waits for a client: as
// secondsSetter, but above 0, since no wait at all would end every session.
func waitSetter(field func(*Config) *time.Duration) func(*Config, string) error {
	seconds := secondsSetter(field)
	return func(c *Config, v string) error {
		if err := seconds(c, v); err != nil {
			return err
		}
		if *field(c) <= 0 {
			return fmt.Errorf("want a time above 0, not %q", v)
		}
		return nil
	}
}

func setAuth(c *Config, v string) error {
	switch v {
	case "", "shadow", "userdb", "pam":
		c.Auth = v
		return nil
	}
	return fmt.Errorf("want shadow, userdb or pam, not %q", v)
}

func setDefaultPrivs(c *Config, v string) error {
	if v == "" || v[0] == '-' || strings.ContainsAny(v, " \t:/") {
		return fmt.Errorf("bad user name %q", v)
	}
	c.DefaultPrivs = v
	return nil
}

// setSMTPDUser: the account sendmail -bd parses SMTP as; empty keeps
// root for it.
func setSMTPDUser(c *Config, v string) error {
	if v != "" {
		if err := setDefaultPrivs(&Config{}, v); err != nil {
			return err
		}
	}
	c.SMTPDUser = v
	return nil
}

func setLog(c *Config, v string) error {
	if v != "syslog" && v != "stderr" && !strings.HasPrefix(v, "/") {
		return fmt.Errorf("want syslog, stderr or an absolute path, not %q", v)
	}
	c.Log = v
	return nil
}

func setMailboxTransport(c *Config, v string) error {
	c.MailboxTransport = v
	if v == "" {
		return nil
	}
	rest, ok := strings.CutPrefix(v, "lmtp:")
	if !ok {
		return fmt.Errorf("want lmtp:HOST:PORT or lmtp:unix:PATH, not %q", v)
	}
	if path, ok := strings.CutPrefix(rest, "unix:"); ok {
		if !strings.HasPrefix(path, "/") {
			return fmt.Errorf("want an absolute socket path in %q", v)
		}
		return nil
	}
	host, hasPort, err := splitHostPort(rest)
	if err != nil || host == "" || !hasPort {
		return fmt.Errorf("want lmtp:HOST:PORT or lmtp:unix:PATH, not %q", v)
	}
	return nil
}

// splitHostPort splits "host", "host:port", "[addr]" and "[addr]:port"
// without importing net, which deliver must not pay for. A port must be a
// number from 1 to 65535.
func splitHostPort(s string) (host string, hasPort bool, err error) {
	bad := fmt.Errorf("bad address %q", s)
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", false, bad
		}
		host, rest := s[1:end], s[end+1:]
		if rest == "" {
			return host, false, nil
		}
		port, ok := strings.CutPrefix(rest, ":")
		if !ok || !validPort(port) {
			return "", false, bad
		}
		return host, true, nil
	}
	host, port, hasPort := strings.Cut(s, ":")
	if strings.ContainsAny(host, "[]/ \t") || (hasPort && !validPort(port)) {
		return "", false, bad
	}
	return host, hasPort, nil
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535 && p == strconv.Itoa(n)
}

// choiceSetter stores a value that must be one of choices.
func choiceSetter(field func(c *Config) *string, choices ...string) func(c *Config, v string) error {
	return func(c *Config, v string) error {
		for _, ch := range choices {
			if v == ch {
				*field(c) = v
				return nil
			}
		}
		return fmt.Errorf("want %s, not %q", strings.Join(choices, " or "), v)
	}
}

// setDNSResolver takes an address and port, not a name: the resolver
// cannot look up its own name.
func setDNSResolver(c *Config, v string) error {
	c.DNSResolver = v
	if v == "" {
		return nil
	}
	if _, err := netip.ParseAddrPort(v); err != nil {
		return fmt.Errorf("want ADDRESS:PORT ([ADDRESS]:PORT for IPv6), not %q", v)
	}
	return nil
}

// DKIMKey is one item of dkim_keys: mail whose From: is in Domain is
// signed with the key in File under Selector.
type DKIMKey struct {
	Domain, Selector, File string
}

// setDKIMKeys reads DOMAIN:SELECTOR:FILE items. The files are read by
// sendmail when it signs, not here: loading stays cheap, and only root may
// read them.
func setDKIMKeys(c *Config, v string) error {
	c.DKIMKeys = nil
	seen := map[string]bool{}
	for _, item := range splitList(v) {
		parts := strings.SplitN(item, ":", 3)
		if len(parts) != 3 || parts[0] == "" || parts[1] == "" || !strings.HasPrefix(parts[2], "/") ||
			strings.ContainsAny(parts[0], "/[]@") || strings.ContainsAny(parts[1], "/[]@") {
			return fmt.Errorf("want DOMAIN:SELECTOR:/path/to/key.pem, not %q", item)
		}
		d := strings.ToLower(strings.TrimSuffix(parts[0], "."))
		if seen[d] {
			return fmt.Errorf("domain %s has two keys", d)
		}
		seen[d] = true
		c.DKIMKeys = append(c.DKIMKeys, DKIMKey{Domain: d, Selector: parts[1], File: parts[2]})
	}
	return nil
}
