package sandbox

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PostfixOptions says what a private Postfix does besides listening.
type PostfixOptions struct {
	Hostname  string   // myhostname; "postfix.example" when ""
	Relayhost string   // where mail it does not deliver itself goes, e.g. "[127.0.0.1]:2525"
	Domain    string   // a domain it delivers itself, into Users' mailboxes
	Users     []string // the users of Domain; anyone else there gets 550 5.1.1
	Main      []string // extra main.cf lines, "key = value"
}

// Postfix is a private Postfix instance run as a peer: its own config
// directory, queue, data directory and log under a test's temporary
// directory, its smtpd on a free loopback port. The machine's own Postfix
// is neither read nor touched.
type Postfix struct {
	Dir    string // the top directory
	Config string // its config directory, for `postfix -c` and `sendmail -C`
	Addr   string // host:port of its smtpd
	t      testing.TB
	bin    string // the directory of postfix(1) and its sendmail(1)
}

// The uid and gid Postfix's virtual(8) delivers as: nobody's, since it
// refuses root and the test's files must not belong to a real user.
const postfixMailUID = 65534

// A private master.cf: every service a mail system needs, none chrooted
// (a chroot would need a copy of /etc under the queue), and postlogd so
// maillog_file works without syslog.
const postfixMasterCf = `%s inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
smtp      unix  - - n -  - smtp
relay     unix  - - n -  - smtp
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
local     unix  - n n -  - local
virtual   unix  - n n -  - virtual
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
`

// PostfixCommand returns the path of Postfix's postfix(1), skipping the
// test when Postfix is missing or we are not root (it only starts as
// root), outside CI; in CI both are failures.
func PostfixCommand(t testing.TB) string {
	t.Helper()
	fail := t.Skipf
	if os.Getenv("CI") != "" {
		fail = t.Fatalf
	}
	p, err := exec.LookPath("postfix")
	if err != nil {
		p = "/usr/sbin/postfix"
	}
	if _, err := os.Stat(p); err != nil {
		fail("peer postfix is not installed: .ci/run must install it")
	}
	if os.Geteuid() != 0 {
		fail("a private Postfix starts only as root")
	}
	return p
}

// StartPostfix makes and starts a private Postfix, waits until its smtpd
// greets, and stops it (and any process it left) at the end of the test.
// On failure the test log gets Postfix's maillog.
func StartPostfix(t testing.TB, opts PostfixOptions) *Postfix {
	t.Helper()
	postfix := PostfixCommand(t)
	p := &Postfix{Dir: t.TempDir(), t: t, Addr: FreePort(t), bin: filepath.Dir(postfix)}
	p.Config = filepath.Join(p.Dir, "etc")
	// Postfix's daemons run as postfix and nobody and must reach their
	// directories through ours.
	for _, d := range []string{filepath.Dir(p.Dir), p.Dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{p.Config, p.mailDir()} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(p.mailDir(), postfixMailUID, postfixMailUID); err != nil {
		t.Fatal(err)
	}
	queue := p.queueDir()
	if err := os.Mkdir(queue, 0o755); err != nil {
		t.Fatal(err)
	}
	p.writeFile("main.cf", p.mainCf(queue, opts))
	p.writeFile("master.cf", fmt.Sprintf(postfixMasterCf, p.Addr))
	var mailboxes strings.Builder
	for _, u := range opts.Users {
		fmt.Fprintf(&mailboxes, "%s@%s %s\n", u, opts.Domain, u)
	}
	p.writeFile("vmailbox", mailboxes.String())

	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("postfix maillog:\n%s", p.Log())
		}
	})
	if out, err := exec.Command(postfix, "-c", p.Config, "start").CombinedOutput(); err != nil {
		t.Fatalf("postfix -c %s start: %v\n%s\nmaillog:\n%s", p.Config, err, out, p.Log())
	}
	t.Cleanup(p.stop)
	p.waitFor("postfix smtpd on "+p.Addr+" to greet", p.greets)
	return p
}

func (p *Postfix) mainCf(queue string, opts PostfixOptions) string {
	host := opts.Hostname
	if host == "" {
		host = "postfix.example"
	}
	lines := []string{
		"compatibility_level = 3.6",
		"queue_directory = " + queue,
		"data_directory = " + filepath.Join(p.Dir, "data"),
		"mail_owner = postfix",
		"setgid_group = postdrop",
		// maillog_file must sit under one of these prefixes.
		"maillog_file_prefixes = " + p.Dir,
		"maillog_file = " + filepath.Join(p.Dir, "maillog"),
		"inet_interfaces = 127.0.0.1",
		"inet_protocols = ipv4",
		"myhostname = " + host,
		"mydomain = " + host,
		"myorigin = " + host,
		"mydestination =",
		"mynetworks = 127.0.0.0/8",
		"relayhost = " + opts.Relayhost,
		"smtpd_relay_restrictions = permit_mynetworks reject_unauth_destination",
		// Nothing of the machine's: no /etc/aliases, no TLS keys.
		"alias_maps =",
		"alias_database =",
		"smtpd_tls_security_level = none",
		"smtp_tls_security_level = none",
		"smtp_dns_support_level = disabled",
		"biff = no",
	}
	if opts.Domain != "" {
		// virtual(8) delivers into mbox files named by the map, so no
		// system user is needed; texthash needs no postmap.
		lines = append(lines,
			"virtual_mailbox_domains = "+opts.Domain,
			"virtual_mailbox_base = "+p.mailDir(),
			"virtual_mailbox_maps = texthash:"+filepath.Join(p.Config, "vmailbox"),
			fmt.Sprintf("virtual_uid_maps = static:%d", postfixMailUID),
			fmt.Sprintf("virtual_gid_maps = static:%d", postfixMailUID),
			"virtual_minimum_uid = 1",
		)
	}
	lines = append(lines, opts.Main...)
	return strings.Join(lines, "\n") + "\n"
}

// queueDir is the queue directory. Postfix's sockets live under it and a
// unix socket path holds at most 107 bytes, so a long test name moves it to
// a short directory of its own.
func (p *Postfix) queueDir() string {
	q := filepath.Join(p.Dir, "spool")
	if len(q+"/private/proxywrite") < 100 {
		return q
	}
	short, err := os.MkdirTemp("", "pfq")
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { os.RemoveAll(short) })
	if err := os.Chmod(short, 0o755); err != nil {
		p.t.Fatal(err)
	}
	return filepath.Join(short, "spool")
}

func (p *Postfix) mailDir() string { return filepath.Join(p.Dir, "mail") }

func (p *Postfix) writeFile(name, content string) {
	p.t.Helper()
	if err := os.WriteFile(filepath.Join(p.Config, name), []byte(content), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// waitFor polls cond until it holds, failing the test with the maillog
// after a minute. It is for "until ready" or "until delivered", never a
// speed check.
func (p *Postfix) waitFor(what string, cond func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out waiting for %s; postfix maillog:\n%s", what, p.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// greets tells whether the smtpd answers 220: `postfix start` returns
// when master has forked, not when it listens.
func (p *Postfix) greets() bool {
	c, err := net.DialTimeout("tcp", p.Addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 512)
	n, _ := c.Read(b)
	c.Write([]byte("QUIT\r\n"))
	return bytes.HasPrefix(b[:n], []byte("220 "))
}

// stop asks master to stop, then kills whatever of this instance is still
// there: the processes whose environment names our config directory.
func (p *Postfix) stop() {
	if out, err := exec.Command(filepath.Join(p.bin, "postfix"), "-c", p.Config, "stop").CombinedOutput(); err != nil {
		p.t.Logf("postfix -c %s stop: %v\n%s", p.Config, err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := p.processes()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, pid := range left {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *Postfix) processes() []int {
	mark := []byte("MAIL_CONFIG=" + p.Config + "\x00")
	envs, _ := filepath.Glob("/proc/[0-9]*/environ")
	var pids []int
	for _, e := range envs {
		b, err := os.ReadFile(e)
		if err != nil || !bytes.Contains(b, mark) {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(e, "/proc/%d/environ", &pid); err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Port is the port of the smtpd.
func (p *Postfix) Port() string {
	_, port, _ := net.SplitHostPort(p.Addr)
	return port
}

// Log is Postfix's maillog so far.
func (p *Postfix) Log() string {
	b, _ := os.ReadFile(filepath.Join(p.Dir, "maillog"))
	return string(b)
}

// WaitLog waits until the maillog holds every one of wants and returns
// it: postlogd writes a delivery's line after the mailbox has the mail.
func (p *Postfix) WaitLog(wants ...string) string {
	p.t.Helper()
	var log string
	p.waitFor(fmt.Sprintf("%q in the maillog", wants), func() bool {
		log = p.Log()
		for _, w := range wants {
			if !strings.Contains(log, w) {
				return false
			}
		}
		return true
	})
	return log
}

// Mailbox is the mbox virtual(8) delivers a user of Domain into.
func (p *Postfix) Mailbox(user string) string { return filepath.Join(p.mailDir(), user) }

// WaitMail waits until user's mailbox holds want messages and returns it.
func (p *Postfix) WaitMail(user string, want int) string {
	p.t.Helper()
	var mbox string
	p.waitFor(fmt.Sprintf("%d messages for %s", want, user), func() bool {
		b, _ := os.ReadFile(p.Mailbox(user))
		mbox = string(b)
		return CountMessages(mbox) >= want
	})
	return mbox
}

// Sendmail prepares Postfix's own sendmail(1) for this instance.
func (p *Postfix) Sendmail(args ...string) *exec.Cmd {
	return exec.Command(filepath.Join(p.bin, "sendmail"), append([]string{"-C", p.Config}, args...)...)
}
