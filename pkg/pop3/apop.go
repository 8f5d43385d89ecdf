package pop3

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// LoadAPOPSecrets reads the apop_secrets file: "user:secret" lines, "#"
// comments. APOP needs each secret in the clear on the server, so the file
// must be a regular file of root's (or, for a server run by a user, of
// that user's) that no one else may read or write.
func LoadAPOPSecrets(path string) (map[string]string, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("apop_secrets: %w", err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, fmt.Errorf("apop_secrets: %w", err)
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return nil, fmt.Errorf("apop_secrets %s: not a regular file", path)
	case int(st.Uid) != os.Geteuid():
		return nil, fmt.Errorf("apop_secrets %s: owned by uid %d, must be %d", path, st.Uid, os.Geteuid())
	case st.Mode&0o077 != 0:
		return nil, fmt.Errorf("apop_secrets %s: mode %04o lets others in; chmod 600 it", path, st.Mode&0o7777)
	}
	secrets := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		user, secret, ok := strings.Cut(line, ":")
		if !ok || user == "" || secret == "" {
			// The line may hold a secret: name it, never quote it.
			return nil, fmt.Errorf("apop_secrets %s line %d: want user:secret", path, n)
		}
		secrets[user] = secret
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("apop_secrets %s: %w", path, err)
	}
	return secrets, nil
}
