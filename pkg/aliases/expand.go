package aliases

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"unixmail/pkg/sysexits"
	"unixmail/pkg/userdb"
)

// Dest is one final destination of a recipient.
type Dest struct {
	Kind  Kind   // Address (a local user's mailbox when Local, else remote), File or Pipe
	Value string // user name, remote address, path or command
	Local bool   // Address: Value is a local user name
	// Privs is the user whose ids run a File or Pipe: default_privs for
	// the aliases file and its include files, the user for a .forward.
	Privs string
}

// maxDepth bounds nesting; deeper is taken for a loop, as sendmail's
// MAXRCRSN.
const maxDepth = 20

// ErrLoop is wrapped when an expansion comes back to where it started.
var ErrLoop = errors.New("mail forwarding loop")

// Expander turns a local recipient into its destinations.
type Expander struct {
	Map          *Map
	Users        *userdb.DB
	DefaultPrivs string
	IsLocal      func(domain string) bool
	// Privs finds the default_privs user, whose rights an include named
	// in the aliases file is read with; nil allows only includes owned by
	// root.
	Privs func(name string) (*userdb.User, error)
	// Warn, when set, hears why a ~/.forward was ignored: the user who
	// wrote it expects it to work, and only the log can say it did not.
	Warn func(format string, args ...any)
}

// Expand expands addr (user or user@domain). Errors carry a sysexits code:
// NoUser for an unknown name, DataErr for a loop, TempFail when a file
// could not be read (the mail should wait for the administrator).
func (x *Expander) Expand(addr string) ([]Dest, error) {
	st := &expansion{x: x, seen: map[Dest]bool{}}
	if err := st.expand(Target{Kind: Address, Value: addr}, nil, x.DefaultPrivs, nil, 0); err != nil {
		return nil, err
	}
	return st.out, nil
}

type expansion struct {
	x    *Expander
	out  []Dest
	seen map[Dest]bool
}

func (st *expansion) add(d Dest) {
	if !st.seen[d] {
		st.seen[d] = true
		st.out = append(st.out, d)
	}
}

// expand follows one target; chain holds the local names being expanded
// above it, fwd the user whose .forward it came from (nil: the aliases
// file or the recipient).
func (st *expansion) expand(t Target, chain []string, privs string, fwd *userdb.User, depth int) error {
	if depth > maxDepth {
		return sysexits.Wrap(sysexits.DataErr, fmt.Errorf("%w: nesting deeper than %d%s", ErrLoop, maxDepth, at(t)))
	}
	switch t.Kind {
	case File, Pipe:
		st.add(Dest{Kind: t.Kind, Value: t.Value, Privs: privs})
		return nil
	case Include:
		targets, err := st.x.readInclude(t, fwd)
		if err != nil {
			return err
		}
		for _, sub := range targets {
			if err := st.expand(sub, chain, privs, fwd, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	local, domain, hasDomain := strings.Cut(t.Value, "@")
	if hasDomain && !st.x.IsLocal(domain) {
		st.add(Dest{Kind: Address, Value: t.Value})
		return nil
	}
	name := strings.ToLower(local)
	for _, c := range chain {
		if c == name {
			// A name in its own expansion (bob: bob, other) means its
			// mailbox, as in sendmail; a name that is not a user is a
			// loop.
			return st.mailbox(t, local, chain)
		}
	}
	if t.NoExpand {
		return st.mailbox(t, local, chain)
	}
	chain = append(chain, name)
	if targets, ok := st.x.Map.Lookup(name); ok {
		for _, sub := range targets {
			if err := st.expand(sub, chain, st.x.DefaultPrivs, nil, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	u, err := st.x.Users.Lookup(local)
	if err != nil {
		return blame(t, err)
	}
	targets, err := st.x.forward(u)
	if err != nil {
		return err
	}
	if len(targets) == 0 {
		st.add(Dest{Kind: Address, Value: u.Name, Local: true})
		return nil
	}
	for _, sub := range targets {
		if err := st.expand(sub, chain, u.Name, u, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// at is " at FILE line N" for a target read from a file.
func at(t Target) string {
	if t.Where == "" {
		return ""
	}
	return " at " + t.Where
}

// blame turns a failed user lookup for t into an error that names the
// place t was read from instead of t's text, keeping its sysexits code and
// userdb.ErrNoUser.
func blame(t Target, err error) error {
	if t.Where == "" {
		return err
	}
	if errors.Is(err, userdb.ErrNoUser) {
		return sysexits.Wrap(sysexits.NoUser, fmt.Errorf("%s: %w", t.Where, userdb.ErrNoUser))
	}
	return sysexits.Wrap(sysexits.Code(err), fmt.Errorf("%s: looking up the user failed", t.Where))
}

func (st *expansion) mailbox(t Target, local string, chain []string) error {
	u, err := st.x.Users.Lookup(local)
	if errors.Is(err, userdb.ErrNoUser) {
		if t.Where != "" {
			return sysexits.Wrap(sysexits.DataErr, fmt.Errorf("%w%s", ErrLoop, at(t)))
		}
		return sysexits.Wrap(sysexits.DataErr, fmt.Errorf("%w: %s -> %s", ErrLoop, strings.Join(chain, " -> "), local))
	} else if err != nil {
		return blame(t, err)
	}
	st.add(Dest{Kind: Address, Value: u.Name, Local: true})
	return nil
}

// forward reads the user's ~/.forward. It is honoured only if it is a
// regular file (not a symlink) owned by the user and not writable by group
// or others, as sendmail and Postfix require; else it is ignored, as if
// absent, with a warning naming the file and the reason. An unreadable
// home is a temporary failure.
func (x *Expander) forward(u *userdb.User) ([]Target, error) {
	path := strings.TrimSuffix(u.Home, "/") + "/.forward"
	f, st, err := openTargets(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, nil
	case errors.Is(err, syscall.ELOOP):
		return x.ignore(path, "it is a symbolic link")
	case errors.Is(err, errNotRegular):
		return x.ignore(path, "it is not a regular file")
	case err != nil:
		return nil, sysexits.Wrap(sysexits.TempFail, err)
	}
	defer f.Close()
	switch {
	case int(st.Uid) != u.UID:
		return x.ignore(path, fmt.Sprintf("it is owned by uid %d, not by %s (uid %d)", st.Uid, u.Name, u.UID))
	case !safeFile(st):
		return x.ignore(path, fmt.Sprintf("group or others may write it (mode %04o)", st.Mode&0o7777))
	}
	return readTargets(f, path)
}

// ignore skips an unsafe .forward, saying why.
func (x *Expander) ignore(path, why string) ([]Target, error) {
	if x.Warn != nil {
		x.Warn("ignoring %s: %s", path, why)
	}
	return nil, nil
}

// readInclude reads the file of an :include: target with the rights of
// whoever named it, as sendmail does: one named in a .forward (fwd) must
// belong to that user; one named in the aliases file must belong to root
// or be readable by default_privs. sendmail switches ids to open it; a
// Go process cannot (setuid applies to every thread), so the same rule is
// checked on the opened file.
func (x *Expander) readInclude(t Target, fwd *userdb.User) ([]Target, error) {
	f, st, err := openTargets(t.Value)
	if err != nil {
		code := sysexits.TempFail // the administrator may fix it in time
		if errors.Is(err, errNotRegular) {
			code = sysexits.DataErr
		}
		return nil, sysexits.Wrap(code, fmt.Errorf("include file%s: %w", at(t), errors.Unwrap(err)))
	}
	defer f.Close()
	var ok bool
	var whose string
	switch {
	case fwd != nil:
		ok, whose = int(st.Uid) == fwd.UID, "owned by "+fwd.Name
	case st.Uid == 0:
		ok = true
	default:
		whose = "readable by " + x.DefaultPrivs
		if x.Privs != nil {
			if dp, err := x.Privs(x.DefaultPrivs); err == nil {
				ok = readableBy(st, dp)
			}
		}
	}
	if !safeFile(st) {
		return nil, sysexits.Wrap(sysexits.DataErr, fmt.Errorf("include file%s is not a regular file or is writable by others", at(t)))
	}
	if !ok {
		return nil, sysexits.Wrap(sysexits.NoPerm, fmt.Errorf("include file%s is not %s", at(t), whose))
	}
	return readTargets(f, t.Value)
}

var errNotRegular = errors.New("not a regular file")

// openTargets opens a .forward or include file without following a final
// symlink or blocking on a FIFO, and never opens a device: opening some
// has effects (a tape rewinds).
func openTargets(path string) (*os.File, *syscall.Stat_t, error) {
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() && fi.Mode()&os.ModeSymlink == 0 {
		return nil, nil, &os.PathError{Op: "open", Path: path, Err: errNotRegular}
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("stat %s: %w", path, err)
	}
	return f, &st, nil
}

// safeFile: a regular file no group or other may write.
func safeFile(st *syscall.Stat_t) bool {
	return st.Mode&syscall.S_IFMT == syscall.S_IFREG && st.Mode&0o022 == 0
}

// readableBy applies the permission bits to u (its primary group only).
func readableBy(st *syscall.Stat_t, u *userdb.User) bool {
	switch {
	case int(st.Uid) == u.UID:
		return st.Mode&0o400 != 0
	case int(st.Gid) == u.GID:
		return st.Mode&0o040 != 0
	}
	return st.Mode&0o004 != 0
}

// readTargets parses a .forward or include file, one or more targets a
// line. A line that does not parse is named by number only.
func readTargets(f *os.File, path string) ([]Target, error) {
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, sysexits.Wrap(sysexits.TempFail, fmt.Errorf("read %s: %w", path, err))
	}
	var out []Target
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		ts, err := ParseTargets(line)
		if err != nil {
			return nil, sysexits.Wrap(sysexits.DataErr, &LineError{File: path, Line: i + 1, Msg: "not a list of targets"})
		}
		for j := range ts {
			ts[j].Where = where(path, i+1)
		}
		out = append(out, ts...)
	}
	return out, nil
}
