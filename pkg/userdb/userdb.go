// Package userdb looks up mail users: the system's accounts in /etc/passwd
// (with hashes from /etc/shadow when readable) or virtual users in a file of
// the same passwd(5) form, and expands per-user paths such as the mailbox.
//
// It reads the files itself rather than through os/user or NSS: unixmail is
// built without cgo, and deliver, which looks up a user on every delivery,
// must start in about a millisecond.
package userdb

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"unixmail/pkg/sysexits"
)

// ErrNoUser is wrapped by every "user not found" error; test with errors.Is.
// Such errors carry sysexits.NoUser. Any other lookup error (the file cannot
// be read, the user's entry is malformed) carries sysexits.TempFail, since
// the mail should wait for the administrator rather than bounce.
var ErrNoUser = errors.New("no such user")

// User is one account, the seven fields of a passwd(5) line.
type User struct {
	Name, Hash, Gecos, Home, Shell string
	UID, GID                       int
}

// DB is a user database: the system's or a passwd-form file. The file is
// read on each lookup, so edits take effect at once, as with /etc/passwd.
type DB struct {
	passwd string
	shadow string // "" for a user_db file, whose hashes are inline
}

// Open returns the database named by the config's user_db value: "system"
// for /etc/passwd (and /etc/shadow), else a file in passwd(5) form. Nothing
// is read until a lookup.
func Open(spec string) *DB {
	if spec == "system" {
		return &DB{passwd: "/etc/passwd", shadow: "/etc/shadow"}
	}
	return &DB{passwd: spec}
}

// WithoutHashes is db for a program that never checks a password (the
// delivery agent): its lookups leave a system user's hash as passwd's "x"
// rather than reading /etc/shadow as well, which costs a file and keeps
// the hashes out of its memory.
func (db *DB) WithoutHashes() *DB {
	return &DB{passwd: db.passwd}
}

// Lookup finds a user by name, case-sensitively. Names that could play
// tricks in a path ("", ".", "..", "/", a leading "-", control characters)
// are never found.
func (db *DB) Lookup(name string) (*User, error) {
	if !validName(name) {
		return nil, noUser("user " + strconv.Quote(name))
	}
	u, err := db.scan(true, func(line string) bool {
		field, _, _ := strings.Cut(line, ":")
		return field == name
	})
	if err != nil || u == nil {
		return nil, orNoUser(err, "user "+strconv.Quote(name))
	}
	db.fillHash(u)
	return u, nil
}

// Caller finds the user running a program as uid: the first of names
// (the caller's $LOGNAME and $USER) that is an account of uid, since
// several users may share one uid, as virtual users of a user_db do; else
// the first account of uid. With anyUID, a named account of any uid
// stands for the caller (root reading mail as whom it names).
func (db *DB) Caller(uid int, anyUID bool, names ...string) (*User, error) {
	for _, name := range names {
		if name == "" {
			continue
		}
		if u, err := db.Lookup(name); err == nil && (u.UID == uid || anyUID) {
			return u, nil
		}
	}
	return db.LookupUID(uid)
}

// LookupUID finds the first user with the given uid. Malformed lines are
// skipped, since they cannot be told apart from lines for other uids.
func (db *DB) LookupUID(uid int) (*User, error) {
	want := strconv.Itoa(uid)
	u, err := db.scan(false, func(line string) bool {
		f := strings.SplitN(line, ":", 4)
		return len(f) == 4 && f[2] == want
	})
	if err != nil || u == nil {
		return nil, orNoUser(err, "uid "+want)
	}
	db.fillHash(u)
	return u, nil
}

// scan streams the passwd file and returns the user on the first line that
// match selects, stopping there; nil if none. A selected line that does not
// parse is an error naming FILE:LINE when strict, else skipped.
func (db *DB) scan(strict bool, match func(line string) bool) (*User, error) {
	f, err := os.Open(db.passwd)
	if err != nil {
		return nil, sysexits.Wrap(sysexits.TempFail, fmt.Errorf("userdb: %w", err))
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue // NIS compat lines (+, -) need NSS, which we do not use
		}
		if !match(line) {
			continue
		}
		u, err := parseLine(line)
		if err != nil && !strict {
			continue
		}
		if err != nil {
			return nil, sysexits.Wrap(sysexits.TempFail, fmt.Errorf("userdb: %s:%d: %w", db.passwd, n, err))
		}
		return u, nil
	}
	if err := sc.Err(); err != nil {
		return nil, sysexits.Wrap(sysexits.TempFail, fmt.Errorf("userdb: read %s: %w", db.passwd, err))
	}
	return nil, nil
}

func orNoUser(err error, what string) error {
	if err != nil {
		return err
	}
	return noUser(what)
}

func noUser(what string) error {
	return sysexits.Wrap(sysexits.NoUser, fmt.Errorf("%s: %w", what, ErrNoUser))
}

// parseLine reads one passwd(5) line, name:hash:uid:gid:gecos:home:shell.
// The home must be absolute, since mailbox paths are built from it, and the
// name must be one that Lookup could find.
func parseLine(line string) (*User, error) {
	f := strings.Split(line, ":")
	if len(f) != 7 {
		return nil, fmt.Errorf("want 7 fields name:hash:uid:gid:gecos:home:shell, found %d", len(f))
	}
	if !validName(f[0]) {
		return nil, fmt.Errorf("bad user name %q", f[0])
	}
	uid, err := parseID(f[2])
	if err != nil {
		return nil, fmt.Errorf("bad uid %q", f[2])
	}
	gid, err := parseID(f[3])
	if err != nil {
		return nil, fmt.Errorf("bad gid %q", f[3])
	}
	if !strings.HasPrefix(f[5], "/") {
		return nil, fmt.Errorf("home %q is not an absolute path", f[5])
	}
	return &User{Name: f[0], Hash: f[1], UID: uid, GID: gid, Gecos: f[4], Home: f[5], Shell: f[6]}, nil
}

// parseID reads a uid or gid: decimal digits, below 2^32-1 ((uid_t)-1 means
// "no change" to chown and setreuid, so it is never a real id).
func parseID(s string) (int, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 1<<32-1 || s[0] == '+' {
		return 0, errors.New("bad id")
	}
	return int(n), nil
}

// validName reports whether name may be looked up and put into a path.
func validName(name string) bool {
	if name == "" || name == "." || name == ".." || name[0] == '-' {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == 0x7f || c == '/' || c == ':' {
			return false
		}
	}
	return true
}

// fillHash replaces a system user's "x" with the hash from the shadow file.
func (db *DB) fillHash(u *User) {
	if db.shadow == "" || u.Hash != "x" {
		return
	}
	if h, ok := shadowHash(db.shadow, u.Name); ok {
		u.Hash = h
	}
}

// shadowHash reads name's hash from a shadow(5) file. A file that cannot be
// read (we are not root) is not an error: the caller keeps the passwd "x",
// which matches no password.
func shadowHash(path, name string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.SplitN(sc.Text(), ":", 3)
		if len(fields) >= 2 && fields[0] == name {
			return fields[1], true
		}
	}
	return "", false
}

// Expand makes a per-user path from a pattern (the config's mailbox and
// folder_dir): a leading "~" or "~/" is the user's home, "%u" the user name,
// "%%" a "%". Other "%" sequences are left as they are. The home itself is
// never %-expanded.
func (u *User) Expand(pattern string) string {
	prefix, rest := "", pattern
	switch {
	case pattern == "~":
		return u.Home
	case strings.HasPrefix(pattern, "~/"):
		prefix, rest = strings.TrimSuffix(u.Home, "/"), pattern[1:]
	}
	if !strings.Contains(rest, "%") {
		return prefix + rest
	}
	var b strings.Builder
	b.WriteString(prefix)
	for i := 0; i < len(rest); i++ {
		if rest[i] == '%' && i+1 < len(rest) {
			switch rest[i+1] {
			case 'u':
				b.WriteString(u.Name)
				i++
				continue
			case '%':
				b.WriteByte('%')
				i++
				continue
			}
		}
		b.WriteByte(rest[i])
	}
	return b.String()
}

// FullName is the user's real name from the GECOS field: the text before
// the first ",", with "&" standing for the login name capitalised (the BSD
// rule used by finger and sendmail).
func (u *User) FullName() string {
	name, _, _ := strings.Cut(u.Gecos, ",")
	if !strings.Contains(name, "&") || u.Name == "" {
		return name
	}
	r, size := utf8.DecodeRuneInString(u.Name)
	login := string(unicode.ToUpper(r)) + u.Name[size:]
	return strings.ReplaceAll(name, "&", login)
}
