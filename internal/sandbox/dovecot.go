package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
)

// DovecotIMAP opens mailbox (an mbox file's bytes, as INBOX) with Dovecot's
// imap, pre-authenticated under a private configuration as TARGETS.md
// describes, sends the IMAP commands (tagged by the caller, CRLF added) and
// returns the transcript and the mailbox as Dovecot left it. As root it
// runs Dovecot as uid 65534, which owns the home it gets.
func DovecotIMAP(t testing.TB, mailbox []byte, commands ...string) (transcript string, after []byte) {
	t.Helper()
	out, after := dovecot(t, "imap", "", mailbox, commands)
	if !strings.Contains(out, "* PREAUTH") {
		t.Fatalf("dovecot imap did not start:\n%s", out)
	}
	return out, after
}

// DovecotPOP3 is DovecotIMAP for Dovecot's pop3, with extra lines for its
// configuration (such as pop3_uidl_format). It sends no greeting.
func DovecotPOP3(t testing.TB, mailbox []byte, conf string, commands ...string) (transcript string, after []byte) {
	t.Helper()
	return dovecot(t, "pop3", conf, mailbox, commands)
}

// dovecot runs one of Dovecot's protocol binaries pre-authenticated.
func dovecot(t testing.TB, protocol, extra string, mailbox []byte, commands []string) (string, []byte) {
	t.Helper()
	bin := "/usr/lib/dovecot/" + protocol
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("dovecot %s is not installed: .ci/run must install it", protocol)
		}
		t.Skipf("dovecot %s is not installed", protocol)
	}
	home := PeerHome(t, mailbox)
	dir, box := filepath.Dir(home), filepath.Join(home, "Mailbox")
	conf := filepath.Join(dir, "dovecot.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("protocols = %s\nssl = no\nmail_location = mbox:~/mail:INBOX=~/Mailbox\nlog_path = %s/dovecot.log\n%s", protocol, dir, extra)), 0o644)
	argv := []string{bin, "-c", conf}
	name := os.Getenv("USER")
	if u, err := user.Current(); name == "" && err == nil {
		name = u.Username
	}
	if os.Getuid() == 0 {
		argv = append([]string{NeedPeer(t, "setpriv"), "--reuid=65534", "--regid=65534", "--clear-groups"}, argv...)
		name = "nobody"
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = []string{"HOME=" + home, "USER=" + name, "PATH=/usr/bin:/bin"}
	cmd.Stdin = strings.NewReader(strings.Join(commands, "\r\n") + "\r\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
		t.Fatalf("dovecot %s: %v\n%s\n%s", protocol, err, out, log)
	}
	after, _ := os.ReadFile(box)
	return string(out), after
}

// PeerHome makes a home directory whose Mailbox holds mailbox, for a peer
// program (Dovecot, mutt) to open: on a path everyone may search, and, when
// we are root, owned by uid 65534, which the peer then runs as. It is
// outside t.TempDir so that no test-private mode is in the way.
func PeerHome(t testing.TB, mailbox []byte) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "unixmail-peer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	home := filepath.Join(dir, "home")
	box := filepath.Join(home, "Mailbox")
	os.Mkdir(home, 0o700)
	if err := os.WriteFile(box, mailbox, 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() == 0 {
		os.Chmod(dir, 0o755)
		for _, p := range []string{home, box} {
			if err := os.Chown(p, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}
	}
	return home
}
