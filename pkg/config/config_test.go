package config

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"unixmail/pkg/sysexits"
)

// writeConf writes text to a fresh unixmail.conf and returns its path.
func writeConf(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "unixmail.conf")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsMatchTheSpecTable(t *testing.T) {
	c := Defaults()
	host, _ := os.Hostname()
	want := &Config{
		Hostname:             host,
		MyDestination:        []string{strings.ToLower(host), "localhost"},
		UserDB:               "system",
		Mailbox:              "~/Mailbox",
		FolderDir:            "~/mail",
		AliasMaps:            "/etc/aliases",
		QueueDirectory:       "/var/spool/unixmail",
		SMTPTLS:              "opportunistic",
		SMTPListen:           []string{"127.0.0.1:25"},
		MyNetworks:           []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		MessageSizeLimit:     52428800,
		MaximalQueueLifetime: 5 * 24 * time.Hour,
		LockTimeout:          5 * time.Minute,
		Auth:                 "shadow",
		DefaultPrivs:         "nobody",
		SMTPDUser:            "unixmail-smtpd",
		Log:                  "syslog",

		ClientConnectionLimit:      100,
		ClientConnectionCountLimit: 50,
		ClientBusyTimeout:          10 * time.Second,
		ClientLoginTimeout:         time.Minute,
		ClientAuthFailureLimit:     3,
		ClientAuthFailureDelay:     2 * time.Second,
		DaemonStateDir:             "/run/unixmail",
		MsgAuthChecks:              "yes",
		SPFPolicy:                  "reject",
		DMARCPolicy:                "reject",
		DNSTempErrorPolicy:         "defer",
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Defaults() =\n%+v\nwant\n%+v", c, want)
	}
}

func TestLoadReadsEveryKey(t *testing.T) {
	p := writeConf(t, `# a full file
hostname = mx.example.org
mydestination = $hostname, Example.ORG. localhost
user_db = /srv/mail/passwd
mailbox = /var/mail/%u
folder_dir = ~/Mail
alias_maps =
queue_directory = /srv/queue
relayhost = [192.0.2.1]:587
smtp_tls = starttls
smtp_auth_file = /etc/unixmail/relay-auth
smtp_listen = 127.0.0.1:25, [::1]:25
mynetworks = 10.0.0.0/8 192.168.1.7 [2001:db8::]/32 ::1/128 [::1]
message_size_limit = 1000
maximal_queue_lifetime = 12h
lock_timeout = 90s
tls_cert = /etc/ssl/mail.pem
tls_key = /etc/ssl/mail.key
auth = pam
default_privs = mail
smtpd_user = _smtp
log = /var/log/unixmail.log
mailbox_transport = lmtp:unix:/run/dovecot/lmtp
client_connection_limit = 20
client_connection_count_limit = 0
client_busy_timeout = 1m
client_login_timeout = 2m
client_auth_failure_limit = 5
client_auth_failure_delay = 3
daemon_state_dir = /var/lib/unixmail
apop_secrets = /etc/unixmail/apop
dns_resolver = [::1]:5353
dkim_keys = Example.ORG.:s1:/etc/unixmail/dkim/example.org.pem, example.net:2026:/k.pem
msgauth_checks = no
spf_policy = off
dmarc_policy = header
dns_temperror_policy = accept
`)
	c, err := Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Path:           p,
		Hostname:       "mx.example.org",
		MyDestination:  []string{"mx.example.org", "example.org", "localhost"},
		UserDB:         "/srv/mail/passwd",
		Mailbox:        "/var/mail/%u",
		FolderDir:      "~/Mail",
		QueueDirectory: "/srv/queue",
		Relayhost:      "[192.0.2.1]:587",
		SMTPTLS:        "starttls",
		SMTPAuthFile:   "/etc/unixmail/relay-auth",
		SMTPListen:     []string{"127.0.0.1:25", "[::1]:25"},
		MyNetworks: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"),
			netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("::1/128"),
			netip.MustParsePrefix("::1/128"),
		},
		MessageSizeLimit:     1000,
		MaximalQueueLifetime: 12 * time.Hour,
		LockTimeout:          90 * time.Second,
		TLSCert:              "/etc/ssl/mail.pem",
		TLSKey:               "/etc/ssl/mail.key",
		Auth:                 "pam",
		DefaultPrivs:         "mail",
		SMTPDUser:            "_smtp",
		Log:                  "/var/log/unixmail.log",
		MailboxTransport:     "lmtp:unix:/run/dovecot/lmtp",

		ClientConnectionLimit:  20,
		ClientBusyTimeout:      time.Minute,
		ClientLoginTimeout:     2 * time.Minute,
		ClientAuthFailureLimit: 5,
		ClientAuthFailureDelay: 3 * time.Second,
		DaemonStateDir:         "/var/lib/unixmail",
		APOPSecrets:            "/etc/unixmail/apop",
		DNSResolver:            "[::1]:5353",
		DKIMKeys: []DKIMKey{{Domain: "example.org", Selector: "s1", File: "/etc/unixmail/dkim/example.org.pem"},
			{Domain: "example.net", Selector: "2026", File: "/k.pem"}},
		MsgAuthChecks:      "no",
		SPFPolicy:          "off",
		DMARCPolicy:        "header",
		DNSTempErrorPolicy: "accept",
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load =\n%+v\nwant\n%+v", c, want)
	}
}

// TestLoadAcceptsValues checks one key at a time: the file text and the
// field it must produce.
func TestLoadAcceptsValues(t *testing.T) {
	tests := []struct {
		name string
		text string
		got  func(*Config) any
		want any
	}{
		{"trailing comment is cut", "mailbox = /var/mail/%u   # classic\n", mailbox, "/var/mail/%u"},
		{"hash inside a word is kept", "mailbox = /var/mail/#%u\n", mailbox, "/var/mail/#%u"},
		{"indented comment", "   # note\nmailbox=/m/%u\n", mailbox, "/m/%u"},
		{"no spaces around =", "mailbox=/m\n", mailbox, "/m"},
		{"value may hold =", "relayhost = smart\nmailbox = /m/a=b\n", mailbox, "/m/a=b"},
		{"CRLF line ends", "mailbox = /m/%u\r\n", mailbox, "/m/%u"},
		{"no final newline", "mailbox = /m/%u", mailbox, "/m/%u"},
		{"last setting wins", "mailbox = /a\nmailbox = /b\n", mailbox, "/b"},
		{"tilde alone", "mailbox = ~\n", mailbox, "~"},
		{"$name expands", "hostname = h.example\nmailbox = /m/$hostname/%u\n", mailbox, "/m/h.example/%u"},
		{"${name} expands", "hostname = h\nmailbox = /m/${hostname}x\n", mailbox, "/m/hx"},
		{"$$ is a dollar", "mailbox = /m/$$u\n", mailbox, "/m/$u"},
		{"expansion sees later lines", "mailbox = $folder_dir/in\nfolder_dir = /f\n", mailbox, "/f/in"},
		{"expansion chains", "mailbox = $folder_dir/in\nfolder_dir = $queue_directory/f\nqueue_directory = /q\n", mailbox, "/q/f/in"},
		{"expansion of a default", "mailbox = $queue_directory/x\n", mailbox, "/var/spool/unixmail/x"},
		{"empty mydestination", "mydestination =\n", func(c *Config) any { return c.MyDestination }, []string(nil)},
		{"mydestination lower-cased", "mydestination = A.Example, b.example.\n", func(c *Config) any { return c.MyDestination }, []string{"a.example", "b.example"}},
		{"empty mynetworks", "mynetworks =\n", func(c *Config) any { return c.MyNetworks }, []netip.Prefix(nil)},
		{"mynetworks host bits cleared", "mynetworks = 10.1.2.3/8\n", func(c *Config) any { return c.MyNetworks }, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
		{"relayhost bare host", "relayhost = smtp.example\n", relay, "smtp.example"},
		{"relayhost host:port", "relayhost = smtp.example:587\n", relay, "smtp.example:587"},
		{"relayhost [v6]:port", "relayhost = [2001:db8::1]:25\n", relay, "[2001:db8::1]:25"},
		{"smtp_listen any address", "smtp_listen = :2525\n", func(c *Config) any { return c.SMTPListen }, []string{":2525"}},
		{"lifetime seconds", "maximal_queue_lifetime = 90s\n", lifetime, 90 * time.Second},
		{"lifetime minutes", "maximal_queue_lifetime = 30m\n", lifetime, 30 * time.Minute},
		{"lifetime days", "maximal_queue_lifetime = 5d\n", lifetime, 5 * 24 * time.Hour},
		{"lifetime weeks", "maximal_queue_lifetime = 1w\n", lifetime, 7 * 24 * time.Hour},
		{"lifetime plain number is days", "maximal_queue_lifetime = 2\n", lifetime, 48 * time.Hour},
		{"lifetime zero", "maximal_queue_lifetime = 0\n", lifetime, time.Duration(0)},
		{"size limit zero", "message_size_limit = 0\n", func(c *Config) any { return c.MessageSizeLimit }, int64(0)},
		{"auth delay zero", "client_auth_failure_delay = 0\n", func(c *Config) any { return c.ClientAuthFailureDelay }, time.Duration(0)},
		{"busy timeout plain number is seconds", "client_busy_timeout = 30\n", func(c *Config) any { return c.ClientBusyTimeout }, 30 * time.Second},
		{"login timeout plain number is seconds", "client_login_timeout = 5\n", func(c *Config) any { return c.ClientLoginTimeout }, 5 * time.Second},
		{"auth default for a user_db file", "user_db = /srv/passwd\n", auth, "userdb"},
		{"auth default for system", "user_db = system\n", auth, "shadow"},
		{"auth empty means default", "auth =\n", auth, "shadow"},
		{"auth shadow kept with a file", "user_db = /p\nauth = shadow\n", auth, "shadow"},
		{"log stderr", "log = stderr\n", func(c *Config) any { return c.Log }, "stderr"},
		{"lmtp over TCP", "mailbox_transport = lmtp:127.0.0.1:24\n", transport, "lmtp:127.0.0.1:24"},
		{"lmtp over TCP v6", "mailbox_transport = lmtp:[::1]:24\n", transport, "lmtp:[::1]:24"},
		{"smtp_tls none", "smtp_tls = none\n", func(c *Config) any { return c.SMTPTLS }, "none"},
		{"smtp_tls tls", "smtp_tls = tls\n", func(c *Config) any { return c.SMTPTLS }, "tls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(writeConf(t, tt.text), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.got(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func mailbox(c *Config) any   { return c.Mailbox }
func relay(c *Config) any     { return c.Relayhost }
func lifetime(c *Config) any  { return c.MaximalQueueLifetime }
func auth(c *Config) any      { return c.Auth }
func transport(c *Config) any { return c.MailboxTransport }

// TestLoadRejectsBadFiles checks that every error names the file and line
// (":N: " after the path) and says what is wrong.
func TestLoadRejectsBadFiles(t *testing.T) {
	tests := []struct {
		name, text string
		line       string // "3" for FILE:3, or "" for no location
		msg        string
	}{
		{"unknown key", "# c\n\nmailboxes = /x\n", "3", `unknown key "mailboxes"`},
		{"line without =", "hostname\n", "1", "want key = value"},
		{"missing key", " = x\n", "1", "missing key"},
		{"key case matters", "Hostname = x\n", "1", "unknown key"},
		{"self reference", "mailbox = /m/$mailbox\n", "1", "$mailbox: expansion loop"},
		{"cycle of two", "mailbox = $folder_dir\nfolder_dir = $mailbox\n", "", "expansion loop"},
		{"unknown reference", "\nmailbox = /m/$home\n", "2", "$home: unknown key"},
		{"bare dollar", "mailbox = /m/$\n", "1", `"$" must start`},
		{"unclosed brace", "mailbox = /m/${hostname\n", "1", "bad ${...}"},
		{"empty brace", "mailbox = /m/${}\n", "1", "bad ${...}"},
		{"empty hostname", "hostname =\n", "1", "bad host name"},
		{"hostname with space", "hostname = a b\n", "1", "bad host name"},
		{"relative mailbox", "mailbox = Mailbox\n", "1", "mailbox: want a path"},
		{"tilde user mailbox", "mailbox = ~bob/Mailbox\n", "1", "mailbox: want a path"},
		{"empty mailbox", "mailbox =\n", "1", "mailbox: want a path"},
		{"relative folder_dir", "folder_dir = mail\n", "1", "folder_dir: want a path"},
		{"relative user_db", "user_db = passwd\n", "1", "user_db: want"},
		{"relative queue", "queue_directory = q\n", "1", "queue_directory: want an absolute path"},
		{"empty queue", "queue_directory =\n", "1", "queue_directory: want an absolute path"},
		{"relative alias_maps", "alias_maps = aliases\n", "1", "alias_maps"},
		{"relayhost empty host", "relayhost = :25\n", "1", "relayhost"},
		{"relayhost bad port", "relayhost = smtp:x\n", "1", "relayhost"},
		{"relayhost port zero", "relayhost = smtp:0\n", "1", "relayhost"},
		{"relayhost port too big", "relayhost = smtp:65536\n", "1", "relayhost"},
		{"relayhost unclosed bracket", "relayhost = [::1:25\n", "1", "relayhost"},
		{"relayhost junk after bracket", "relayhost = [::1]x\n", "1", "relayhost"},
		{"smtp_tls unknown", "smtp_tls = yes\n", "1", "smtp_tls: want none"},
		{"smtp_tls case", "smtp_tls = TLS\n", "1", "smtp_tls"},
		{"smtp_listen without port", "smtp_listen = 127.0.0.1\n", "1", "smtp_listen"},
		{"smtp_listen empty", "smtp_listen =\n", "1", "smtp_listen: no address"},
		{"mynetworks junk", "mynetworks = 10.0.0.0/8, localnet\n", "1", `bad network "localnet"`},
		{"mynetworks mask too long", "mynetworks = 10.0.0.0/33\n", "1", "bad network"},
		{"mynetworks negative mask", "mynetworks = 10.0.0.0/-1\n", "1", "bad network"},
		{"mynetworks zone", "mynetworks = fe80::1%eth0\n", "1", "bad network"},
		{"size not a number", "message_size_limit = 10M\n", "1", "message_size_limit"},
		{"size negative", "message_size_limit = -1\n", "1", "message_size_limit"},
		{"size plus sign", "message_size_limit = +1\n", "1", "message_size_limit"},
		{"connection limit negative", "client_connection_limit = -1\n", "1", "client_connection_limit"},
		{"auth failure limit not a number", "client_auth_failure_limit = three\n", "1", "client_auth_failure_limit"},
		{"busy timeout unit unknown", "client_busy_timeout = 5y\n", "1", "client_busy_timeout"},
		{"login timeout zero", "client_login_timeout = 0\n", "1", "client_login_timeout: want a time above 0"},
		{"login timeout zero with a unit", "client_login_timeout = 0s\n", "1", "client_login_timeout: want a time above 0"},
		{"state dir relative", "daemon_state_dir = run\n", "1", "daemon_state_dir"},
		{"lifetime unit unknown", "maximal_queue_lifetime = 5y\n", "1", "maximal_queue_lifetime"},
		{"lifetime empty", "maximal_queue_lifetime =\n", "1", "maximal_queue_lifetime"},
		{"lifetime only unit", "maximal_queue_lifetime = d\n", "1", "maximal_queue_lifetime"},
		{"lifetime negative", "maximal_queue_lifetime = -1d\n", "1", "maximal_queue_lifetime"},
		{"lifetime overflow", "maximal_queue_lifetime = 9999999999w\n", "1", "maximal_queue_lifetime"},
		{"lock timeout zero", "lock_timeout = 0\n", "1", "lock_timeout: want a time longer than 0"},
		{"lock timeout junk", "lock_timeout = soon\n", "1", "lock_timeout"},
		{"dns_resolver a name", "dns_resolver = ns.example.org:53\n", "1", "dns_resolver: want ADDRESS:PORT"},
		{"dns_resolver without port", "dns_resolver = 192.0.2.53\n", "1", "dns_resolver: want ADDRESS:PORT"},
		{"dkim_keys relative file", "dkim_keys = example.org:s1:k.pem\n", "1", "dkim_keys: want DOMAIN:SELECTOR:/path"},
		{"dkim_keys no selector", "dkim_keys = example.org:/k.pem\n", "1", "dkim_keys: want DOMAIN:SELECTOR:/path"},
		{"dkim_keys domain twice", "dkim_keys = a.org:s:/k, A.org.:t:/l\n", "1", "dkim_keys: domain a.org has two keys"},
		{"msgauth_checks unknown", "msgauth_checks = on\n", "1", "msgauth_checks: want yes or no"},
		{"spf_policy unknown", "spf_policy = quarantine\n", "1", "spf_policy: want reject or off"},
		{"dmarc_policy unknown", "dmarc_policy = none\n", "1", "dmarc_policy: want reject or header or off"},
		{"dns_temperror_policy unknown", "dns_temperror_policy = reject\n", "1", "dns_temperror_policy: want defer or accept"},
		{"auth unknown", "auth = ldap\n", "1", "auth: want shadow"},
		{"cert without key", "\ntls_cert = /c.pem\n", "", "tls_cert and tls_key must be set together"},
		{"key without cert", "tls_key = /k.pem\n", "1", "tls_cert and tls_key must be set together"},
		{"default_privs option-like", "default_privs = -x\n", "1", "default_privs"},
		{"default_privs empty", "default_privs =\n", "1", "default_privs"},
		{"relative log", "log = unixmail.log\n", "1", "log: want syslog"},
		{"transport not lmtp", "mailbox_transport = smtp:host:25\n", "1", "mailbox_transport"},
		{"transport without port", "mailbox_transport = lmtp:host\n", "1", "mailbox_transport"},
		{"transport relative socket", "mailbox_transport = lmtp:unix:lmtp\n", "1", "mailbox_transport"},
		{"transport empty host", "mailbox_transport = lmtp::24\n", "1", "mailbox_transport"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeConf(t, tt.text)
			_, err := Load(p, nil)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, p+":") {
				t.Errorf("error %q does not name the file", msg)
			}
			if tt.line != "" && !strings.HasPrefix(msg, p+":"+tt.line+": ") {
				t.Errorf("error %q does not name line %s", msg, tt.line)
			}
			if !strings.Contains(msg, tt.msg) {
				t.Errorf("error %q does not say %q", msg, tt.msg)
			}
			if code := sysexits.Code(err); code != sysexits.Config {
				t.Errorf("exit code %d, want %d", code, sysexits.Config)
			}
		})
	}
}

func TestOverridesWinOverTheFile(t *testing.T) {
	p := writeConf(t, "hostname = file.example\nmailbox = /m/%u\n")
	c, err := Load(p, []string{"hostname=cmd.example", " mailbox = /o/$hostname/%u "})
	if err != nil {
		t.Fatal(err)
	}
	if c.Hostname != "cmd.example" || c.Mailbox != "/o/cmd.example/%u" {
		t.Errorf("hostname %q mailbox %q", c.Hostname, c.Mailbox)
	}
	if !c.IsLocalDomain("CMD.example") {
		t.Errorf("mydestination %q does not follow the overridden hostname", c.MyDestination)
	}
}

func TestOverrideErrorsNameTheFlag(t *testing.T) {
	tests := []struct {
		arg, msg string
	}{
		{"nosuch=1", `-o nosuch: unknown key "nosuch"`},
		{"mailbox", `-o mailbox: want key = value`},
		{"smtp_tls=maybe", `-o smtp_tls: smtp_tls: want none`},
		{"mailbox=$mailbox", `-o mailbox: mailbox: $mailbox: expansion loop`},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			_, err := Load(writeConf(t, ""), []string{tt.arg})
			if err == nil || !strings.HasPrefix(err.Error(), tt.msg) {
				t.Errorf("Load(-o %s) error %v, want %q", tt.arg, err, tt.msg)
			}
		})
	}
}

func TestMissingDefaultFileMeansBuiltInDefaults(t *testing.T) {
	c, err := load(filepath.Join(t.TempDir(), "unixmail.conf"), false, []string{"log=stderr"})
	if err != nil {
		t.Fatal(err)
	}
	want := Defaults()
	want.Log = "stderr"
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v, want %+v", c, want)
	}
}

func TestMissingFileNamedByFlagIsAnError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nosuch.conf")
	_, err := Load(p, nil)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), p) {
		t.Errorf("Load(missing -C) = %v, want a not-exist error naming %s", err, p)
	}
}

func TestMissingFileNamedByEnvironmentIsAnError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nosuch.conf")
	t.Setenv(EnvVar, p)
	if _, err := Load("", nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load with missing $%s = %v, want a not-exist error", EnvVar, err)
	}
}

func TestFilePathPrefersFlagThenEnvironment(t *testing.T) {
	t.Setenv(EnvVar, "")
	if got := FilePath(""); got != DefaultPath {
		t.Errorf("FilePath with nothing set = %q", got)
	}
	t.Setenv(EnvVar, "/env.conf")
	if got := FilePath(""); got != "/env.conf" {
		t.Errorf("FilePath with $%s = %q", EnvVar, got)
	}
	if got := FilePath("/flag.conf"); got != "/flag.conf" {
		t.Errorf("FilePath with -C = %q", got)
	}
}

func TestLoadUsesTheEnvironmentFile(t *testing.T) {
	p := writeConf(t, "hostname = env.example\n")
	t.Setenv(EnvVar, p)
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != p || c.Hostname != "env.example" {
		t.Errorf("Path %q Hostname %q", c.Path, c.Hostname)
	}
}

func TestUnreadableFileIsAnError(t *testing.T) {
	dir := t.TempDir() // a directory cannot be read as a file, even by root
	if _, err := Load(dir, nil); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("Load(directory) = %v", err)
	}
}

func TestIsLocalDomainIgnoresCaseAndFinalDot(t *testing.T) {
	c, err := Load(writeConf(t, "hostname = Mx.Example.org\nmydestination = $hostname, localhost\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for domain, want := range map[string]bool{
		"mx.example.org": true, "MX.EXAMPLE.ORG.": true, "localhost": true,
		"example.org": false, "": false, "x.mx.example.org": false,
	} {
		if got := c.IsLocalDomain(domain); got != want {
			t.Errorf("IsLocalDomain(%q) = %v, want %v", domain, got, want)
		}
	}
}

func BenchmarkLoad(b *testing.B) {
	p := filepath.Join(b.TempDir(), "unixmail.conf")
	text := "hostname = mx.example.org\nuser_db = /srv/passwd\nmailbox = /var/mail/%u\nlog = stderr\n"
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Load(p, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func TestInMyNetworks(t *testing.T) {
	c, err := Load(writeConf(t, "mynetworks = 127.0.0.0/8, [::1]/128, 192.0.2.7, 2001:db8::/32\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"127.0.0.1": true, "127.255.0.9": true, "::1": true, "::ffff:127.0.0.1": true,
		"192.0.2.7": true, "192.0.2.8": false, "2001:db8:1::5": true, "fe80::1%eth0": false,
		"10.0.0.1": false, "::2": false,
	} {
		if got := c.InMyNetworks(netip.MustParseAddr(addr)); got != want {
			t.Errorf("InMyNetworks(%s) = %v, want %v", addr, got, want)
		}
	}
}
