package deliver

import (
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"unixmail/pkg/userdb"
)

// PrepareSpool makes u's missing mailbox in a system spool directory, as
// root, before the delivery drops to u: on Debian /var/mail is root:mail
// 2775, where u may not create a file. It is made the way mail.local and
// Debian's procmail make it: owned by u, the directory's group (mail),
// mode 0600. Only a spool directory qualifies: owned by root, so that no
// name in the path is u's to swap for a symbolic link, and writable by its
// group (mail), the mark of a spool; a mailbox elsewhere (~/Mailbox) u
// creates itself, or is refused. Anything that goes wrong is left for the delivery,
// running as u, to find and report.
func PrepareSpool(mailbox string, u *userdb.User) {
	if os.Geteuid() != 0 || u.UID == 0 {
		return
	}
	var dir unix.Stat_t
	if unix.Lstat(filepath.Dir(mailbox), &dir) != nil || dir.Mode&unix.S_IFMT != unix.S_IFDIR || dir.Uid != 0 || dir.Mode&0o020 == 0 {
		return
	}
	f, err := os.OpenFile(mailbox, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return // there already, or for the delivery to report
	}
	defer f.Close()
	if err := f.Chown(u.UID, int(dir.Gid)); err != nil {
		// A root-owned mailbox would be refused as the user's anyway;
		// leave no such file behind.
		os.Remove(mailbox)
		return
	}
	f.Sync()
	if d, err := os.Open(filepath.Dir(mailbox)); err == nil {
		d.Sync()
		d.Close()
	}
}
