package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// entry is one key's raw value and where it was set: "FILE:LINE",
// "-o KEY", or "" for a built-in default.
type entry struct {
	raw     string
	where   string
	literal bool // not subject to $name expansion (the system's host name)
}

// settings holds the raw values of every key until build expands them.
type settings struct {
	values map[string]entry
	final  map[string]string // expanded values, memoised
	active map[string]bool   // keys being expanded, to catch loops
}

func newSettings() *settings {
	s := &settings{values: make(map[string]entry, len(keys))}
	for _, k := range keys {
		s.values[k.name] = entry{raw: k.def}
	}
	return s
}

// parse reads the text of a configuration file. Format (unixmail.conf(5)):
// `key = value` lines; blank lines; `#` starts a comment when it begins a
// line or follows whitespace, so a value may contain "#" inside a word.
// Spaces around key and value are trimmed. The last setting of a key wins,
// as in Postfix's main.cf.
func (s *settings) parse(file, text string) error {
	for n := 1; text != ""; n++ {
		var line string
		line, text, _ = strings.Cut(text, "\n")
		line = stripComment(line)
		if line == "" {
			continue
		}
		where := file + ":" + strconv.Itoa(n)
		if err := s.set(line, where); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	return nil
}

// override applies -o arguments, each "key=value", after the file.
func (s *settings) override(args []string) error {
	for _, a := range args {
		name, _, _ := strings.Cut(a, "=")
		where := "-o " + strings.TrimSpace(name)
		if err := s.set(a, where); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	return nil
}

func (s *settings) set(line, where string) error {
	name, value, ok := strings.Cut(line, "=")
	if !ok {
		return fmt.Errorf("want key = value, not %q", line)
	}
	name = strings.TrimSpace(name)
	if _, known := lookupKey(name); !known {
		if name == "" {
			return errors.New("missing key before \"=\"")
		}
		return fmt.Errorf("unknown key %q", name)
	}
	s.values[name] = entry{raw: strings.TrimSpace(value), where: where}
	return nil
}

// stripComment trims line and cuts a comment: from a "#" that begins the
// line or follows a space or tab.
func stripComment(line string) string {
	for i := 0; i < len(line); i++ {
		if line[i] == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
			line = line[:i]
			break
		}
	}
	return strings.TrimSpace(line)
}

// errorf builds an error about key name, prefixed by where it was set.
func (s *settings) errorf(name, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	if where := s.values[name].where; where != "" {
		return fmt.Errorf("%s: %w", where, err)
	}
	return fmt.Errorf("default: %w", err)
}

// expand returns the final value of key name: its raw value with `$key`,
// `${key}` replaced by that key's final value and `$$` by "$".
func (s *settings) expand(name string) (string, error) {
	if v, ok := s.final[name]; ok {
		return v, nil
	}
	if s.final == nil {
		s.final = make(map[string]string, len(keys))
		s.active = make(map[string]bool)
	}
	e := s.values[name]
	if e.literal || !strings.Contains(e.raw, "$") {
		s.final[name] = e.raw
		return e.raw, nil
	}
	s.active[name] = true
	defer delete(s.active, name)

	var b strings.Builder
	raw := e.raw
	for {
		i := strings.IndexByte(raw, '$')
		if i < 0 {
			b.WriteString(raw)
			break
		}
		b.WriteString(raw[:i])
		ref, rest, err := splitReference(raw[i+1:])
		if err != nil {
			return "", s.errorf(name, "%s: %w", name, err)
		}
		raw = rest
		if ref == "$" {
			b.WriteByte('$')
			continue
		}
		if _, known := lookupKey(ref); !known {
			return "", s.errorf(name, "%s: $%s: unknown key", name, ref)
		}
		if s.active[ref] {
			return "", s.errorf(name, "%s: $%s: expansion loop", name, ref)
		}
		v, err := s.expand(ref)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
	}
	s.final[name] = b.String()
	return s.final[name], nil
}

// splitReference reads what follows a "$": "$", "{name}" or a name made of
// letters, digits and underscores. It returns the name ("$" for "$$") and the
// text after it.
func splitReference(s string) (ref, rest string, err error) {
	if strings.HasPrefix(s, "$") {
		return "$", s[1:], nil
	}
	if strings.HasPrefix(s, "{") {
		end := strings.IndexByte(s, '}')
		if end < 0 || !isName(s[1:end]) {
			return "", "", errors.New("bad ${...}")
		}
		return s[1:end], s[end+1:], nil
	}
	end := 0
	for end < len(s) && isNameByte(s[end]) {
		end++
	}
	if end == 0 {
		return "", "", errors.New("\"$\" must start $name, ${name} or $$")
	}
	return s[:end], s[end:], nil
}

func isName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return s != ""
}

func isNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
