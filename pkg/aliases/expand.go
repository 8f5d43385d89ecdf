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
}

// Expand expands addr (user or user@domain). Errors carry a sysexits code:
// NoUser for an unknown name, DataErr for a loop, TempFail when a file
// could not be read (the mail should wait for the administrator).
func (x *Expander) Expand(addr string) ([]Dest, error) {
	st := &expansion{x: x, seen: map[Dest]bool{}}
	if err := st.expand(Target{Kind: Address, Value: addr}, nil, x.DefaultPrivs, 0); err != nil {
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
// above it.
func (st *expansion) expand(t Target, chain []string, privs string, depth int) error {
	if depth > maxDepth {
		return sysexits.Wrap(sysexits.DataErr, fmt.Errorf("%w: nesting deeper than %d via %s", ErrLoop, maxDepth, strings.Join(chain, " -> ")))
	}
	switch t.Kind {
	case File, Pipe:
		st.add(Dest{Kind: t.Kind, Value: t.Value, Privs: privs})
		return nil
	case Include:
		targets, err := readTargets(t.Value, nil)
		if err != nil {
			return err
		}
		for _, sub := range targets {
			if err := st.expand(sub, chain, privs, depth+1); err != nil {
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
			return st.mailbox(local, chain)
		}
	}
	if t.NoExpand {
		return st.mailbox(local, chain)
	}
	chain = append(chain, name)
	if targets, ok := st.x.Map.Lookup(name); ok {
		for _, sub := range targets {
			if err := st.expand(sub, chain, st.x.DefaultPrivs, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	u, err := st.x.Users.Lookup(local)
	if err != nil {
		return err
	}
	fwd, err := forward(u)
	if err != nil {
		return err
	}
	if len(fwd) == 0 {
		st.add(Dest{Kind: Address, Value: u.Name, Local: true})
		return nil
	}
	for _, sub := range fwd {
		if err := st.expand(sub, chain, u.Name, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func (st *expansion) mailbox(local string, chain []string) error {
	u, err := st.x.Users.Lookup(local)
	if errors.Is(err, userdb.ErrNoUser) {
		return sysexits.Wrap(sysexits.DataErr, fmt.Errorf("%w: %s -> %s", ErrLoop, strings.Join(chain, " -> "), local))
	} else if err != nil {
		return err
	}
	st.add(Dest{Kind: Address, Value: u.Name, Local: true})
	return nil
}

// forward reads the user's ~/.forward. It is honoured only if it is a
// regular file (not a symlink) owned by the user and not writable by group
// or others, as sendmail and Postfix require; else it is ignored, as if
// absent. An unreadable home is a temporary failure.
func forward(u *userdb.User) ([]Target, error) {
	path := strings.TrimSuffix(u.Home, "/") + "/.forward"
	return readTargets(path, u)
}

// readTargets reads an include file or (owner != nil) a .forward file.
func readTargets(path string, owner *userdb.User) ([]Target, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if owner != nil && (errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ELOOP)) {
			return nil, nil
		}
		return nil, sysexits.Wrap(sysexits.TempFail, fmt.Errorf("read %s: %w", path, err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, sysexits.Wrap(sysexits.TempFail, fmt.Errorf("stat %s: %w", path, err))
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o022 != 0 ||
		(owner != nil && (st == nil || int(st.Uid) != owner.UID)) {
		if owner != nil {
			return nil, nil // an unsafe .forward is ignored
		}
		return nil, sysexits.Wrap(sysexits.DataErr, fmt.Errorf("include file %s is not a regular file or is writable by others", path))
	}
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
			return nil, sysexits.Wrap(sysexits.DataErr, &LineError{File: path, Line: i + 1, Msg: err.Error()})
		}
		out = append(out, ts...)
	}
	return out, nil
}
