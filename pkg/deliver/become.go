package deliver

import (
	"fmt"
	"os"
	"syscall"

	"unixmail/pkg/lock"
	"unixmail/pkg/sysexits"
	"unixmail/pkg/userdb"
)

// become turns this process, run as root, into u for good: no
// supplementary groups, u's gid, u's uid, in that order (each call needs
// the privilege the next one drops). Go applies these calls to every
// thread on Linux, so nothing of u's that is opened afterwards is opened
// with root's rights, and a later bug cannot regain them. It saves the
// second process start a child costs for the one-recipient call nearly
// every MTA makes.
func become(u *userdb.User) error {
	fail := func(step string, err error) error {
		return sysexits.Wrap(sysexits.TempFail, fmt.Errorf("become %s (uid %d): %s: %w", u.Name, u.UID, step, err))
	}
	if err := syscall.Setgroups([]int{}); err != nil {
		return fail("setgroups", err)
	}
	// The mail group of a setgid deliver stays as the saved group, for
	// the dot-lock in /var/mail alone (see lock.DropGroup).
	if err := lock.SetGroup(u.GID); err != nil {
		return fail("setgid", err)
	}
	if err := syscall.Setuid(u.UID); err != nil {
		return fail("setuid", err)
	}
	// setuid from root sets the saved uid too; prove nothing is left.
	if os.Getuid() != u.UID || os.Geteuid() != u.UID || os.Getegid() != u.GID {
		return fail("check", fmt.Errorf("still uid %d euid %d egid %d", os.Getuid(), os.Geteuid(), os.Getegid()))
	}
	return nil
}
