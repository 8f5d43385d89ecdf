// Package aliases reads aliases(5) files and ~/.forward files and expands a
// local recipient into what finally receives the message: mailboxes, files,
// programs and remote addresses.
//
// The file is the text form sendmail and Postfix read, `name: target, ...`
// with continuation lines, parsed directly (no database file): it is read
// once per queue run and parsing a few thousand lines takes microseconds.
package aliases

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Kind says what a target is.
type Kind int

// Target kinds.
const (
	Address Kind = iota // an address: a local name (expanded again) or user@domain
	File                // /path: append the message to this file
	Pipe                // |command: run it with the message on stdin
	Include             // :include:/path: targets listed in that file
)

// Target is one right-hand side item.
type Target struct {
	Kind  Kind
	Value string // the address, path or command (without "|" or ":include:")
	// NoExpand is set by a leading backslash (\user): deliver to the
	// user's mailbox, no further alias or .forward.
	NoExpand bool
	// Where is the file and line the target was read from ("/etc/aliases
	// line 7"), "" for a recipient. Errors about a target read from a file
	// name the place, never the text: the file may be one the reader of
	// the error could not read (an :include: of /etc/shadow).
	Where string
}

func (t Target) String() string {
	switch t.Kind {
	case File:
		return t.Value
	case Pipe:
		return "|" + t.Value
	case Include:
		return ":include:" + t.Value
	}
	if t.NoExpand {
		return `\` + t.Value
	}
	return t.Value
}

func where(file string, line int) string { return fmt.Sprintf("%s line %d", file, line) }

// LineError is a problem on one line of a file.
type LineError struct {
	File string
	Line int
	Msg  string
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// Map is a parsed aliases file. Names are case-insensitive.
type Map struct {
	entries map[string][]Target
}

// Len is the number of aliases.
func (m *Map) Len() int {
	if m == nil {
		return 0
	}
	return len(m.entries)
}

// Lookup returns the targets of name.
func (m *Map) Lookup(name string) ([]Target, bool) {
	if m == nil {
		return nil, false
	}
	t, ok := m.entries[strings.ToLower(name)]
	return t, ok
}

// Load reads an aliases file; a missing file is an empty map. Lines with
// errors are skipped and returned, each as a *LineError, so that one typo
// does not stop mail to every other alias (newaliases reports them).
func Load(path string) (*Map, []error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return &Map{entries: map[string][]Target{}}, nil
	} else if err != nil {
		return &Map{entries: map[string][]Target{}}, []error{err}
	}
	defer f.Close()
	return Parse(f, path)
}

// Parse reads an aliases file from r; name is used in errors.
func Parse(r io.Reader, name string) (*Map, []error) {
	m := &Map{entries: map[string][]Target{}}
	var errs []error
	bad := func(line int, format string, args ...any) {
		errs = append(errs, &LineError{File: name, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	for _, ent := range logicalLines(r, func(err error) { errs = append(errs, err) }) {
		key, rhs, ok := strings.Cut(ent.text, ":")
		key = strings.TrimSpace(key)
		if strings.HasPrefix(key, `"`) && strings.HasSuffix(key, `"`) && len(key) >= 2 {
			key = key[1 : len(key)-1]
		}
		switch {
		case !ok:
			bad(ent.line, "missing colon after alias name")
			continue
		case key == "" || strings.ContainsAny(key, " \t,@") || strings.HasPrefix(key, "-"):
			bad(ent.line, "bad alias name %q", key)
			continue
		}
		targets, err := ParseTargets(rhs)
		if err != nil {
			bad(ent.line, "alias %s: %v", key, err)
			continue
		}
		if len(targets) == 0 {
			bad(ent.line, "alias %s: no targets", key)
			continue
		}
		lk := strings.ToLower(key)
		if _, dup := m.entries[lk]; dup {
			bad(ent.line, "alias %s: defined again (the first definition is used)", key)
			continue
		}
		for i := range targets {
			targets[i].Where = where(name, ent.line)
		}
		m.entries[lk] = targets
	}
	return m, errs
}

type logical struct {
	line int
	text string
}

// logicalLines joins continuation lines (starting with blank space) and
// drops comments and blank lines.
func logicalLines(r io.Reader, fail func(error)) []logical {
	var out []logical
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		s := strings.TrimRight(sc.Text(), " \t\r")
		trim := strings.TrimSpace(s)
		if trim == "" || strings.HasPrefix(trim, "#") {
			continue
		}
		if (s[0] == ' ' || s[0] == '\t') && len(out) > 0 {
			out[len(out)-1].text += " " + trim
			continue
		}
		out = append(out, logical{line: n, text: s})
	}
	if err := sc.Err(); err != nil {
		fail(fmt.Errorf("line %d: %w", n+1, err))
	}
	return out
}

// ParseTargets splits a comma-separated list of targets. Double quotes
// protect commas and blanks, as in `"|/usr/bin/vacation -a x, y"`.
func ParseTargets(s string) ([]Target, error) {
	var out []Target
	var cur strings.Builder
	inQuote := false
	flush := func() error {
		item := strings.TrimSpace(cur.String())
		cur.Reset()
		if item == "" {
			return nil
		}
		t, err := parseTarget(item)
		if err != nil {
			return err
		}
		out = append(out, t)
		return nil
	}
	for _, c := range s {
		switch {
		case c == '"':
			inQuote = !inQuote
			cur.WriteRune(c)
		case c == ',' && !inQuote:
			if err := flush(); err != nil {
				return nil, err
			}
		default:
			cur.WriteRune(c)
		}
	}
	if inQuote {
		return nil, errors.New("unbalanced double quote")
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

func parseTarget(item string) (Target, error) {
	if len(item) >= 2 && item[0] == '"' && item[len(item)-1] == '"' {
		item = strings.TrimSpace(item[1 : len(item)-1])
	}
	if strings.ContainsAny(item, "\x00\n") {
		return Target{}, errors.New("control character in target")
	}
	switch {
	case strings.HasPrefix(item, "|"):
		cmd := strings.TrimSpace(item[1:])
		if cmd == "" {
			return Target{}, errors.New("empty command")
		}
		return Target{Kind: Pipe, Value: cmd}, nil
	case strings.HasPrefix(strings.ToLower(item), ":include:"):
		p := strings.TrimSpace(item[len(":include:"):])
		if !strings.HasPrefix(p, "/") {
			return Target{}, fmt.Errorf("include file %q is not an absolute path", p)
		}
		return Target{Kind: Include, Value: p}, nil
	case strings.HasPrefix(item, "/"):
		return Target{Kind: File, Value: item}, nil
	}
	t := Target{Kind: Address}
	if strings.HasPrefix(item, `\`) {
		t.NoExpand, item = true, item[1:]
	}
	item = strings.TrimSuffix(strings.TrimPrefix(item, "<"), ">")
	if item == "" || strings.ContainsAny(item, " \t<>\"") || strings.HasPrefix(item, "-") {
		return Target{}, fmt.Errorf("bad address %q", item)
	}
	if strings.Count(item, "@") > 1 || strings.HasSuffix(item, "@") || strings.HasPrefix(item, "@") {
		return Target{}, fmt.Errorf("bad address %q", item)
	}
	t.Value = item
	return t, nil
}
