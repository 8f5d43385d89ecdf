package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"unixmail/internal/testbin"
)

// make install puts every program, the mailq and newaliases links and the
// man pages where packagers expect them, under DESTDIR.
func TestMakeInstallLaysOutTheToolchain(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	if _, err := os.Stat(filepath.Join(testbin.Root(), "bin", "sendmail")); err != nil && os.Getenv("CI") == "" {
		t.Skip("bin/ is not built: run make test")
	}
	dest := t.TempDir()
	// -o all: install what make test built; rebuilding bin/ now would
	// swap binaries under the tests running beside this one.
	cmd := exec.Command("make", "-o", "all", "install", "DESTDIR="+dest, "PREFIX=/usr")
	cmd.Dir = testbin.Root()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	for _, f := range []string{"usr/sbin/sendmail", "usr/sbin/deliver", "usr/sbin/deliver-lmtp", "usr/bin/mail",
		"usr/share/man/man1/mail.1", "usr/share/man/man5/unixmail.conf.5", "usr/share/man/man5/aliases.5",
		"usr/share/man/man8/deliver.8", "usr/share/man/man8/deliver-lmtp.8", "usr/share/man/man8/sendmail.8",
		"usr/lib/systemd/system/ipop3d.socket", "usr/lib/systemd/system/ipop3d@.service",
		"usr/share/unixmail/xinetd.d/ipop3d", "usr/share/unixmail/inetd.conf"} {
		if _, err := os.Stat(filepath.Join(dest, f)); err != nil {
			t.Errorf("%s is not installed: %v", f, err)
		}
	}
	if unit, _ := os.ReadFile(filepath.Join(dest, "usr/lib/systemd/system/ipop3d@.service")); !strings.Contains(string(unit), "ExecStart=/usr/sbin/ipop3d\n") {
		t.Errorf("ipop3d@.service does not start the installed ipop3d:\n%s", unit)
	}
	for link, want := range map[string]string{"usr/bin/mailq": "../sbin/sendmail", "usr/bin/newaliases": "../sbin/sendmail",
		"usr/bin/mailx": "mail", "usr/share/man/man1/mailx.1": "mail.1"} {
		target, err := os.Readlink(filepath.Join(dest, link))
		if err != nil || target != want {
			t.Errorf("%s -> %q (%v), want %s", link, target, err, want)
		}
	}
	// mailq is sendmail -bp by its name.
	out, err := exec.Command(filepath.Join(dest, "usr/bin/mailq"), "-o", "queue_directory="+t.TempDir()).CombinedOutput()
	if err != nil || string(out) != "Mail queue is empty\n" {
		t.Errorf("mailq: %v %q", err, out)
	}
}
