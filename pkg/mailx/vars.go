package mailx

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// envVars are the variables POSIX mailx takes from the environment.
var envVars = []string{"DEAD", "EDITOR", "LISTER", "MBOX", "PAGER", "SHELL", "VISUAL"}

// defaultVars are the variables set before any start-up file is read.
func defaultVars(o Options) map[string]string {
	v := map[string]string{
		"asksub":       "",
		"header":       "",
		"save":         "",
		"escape":       "~",
		"indentprefix": "\t",
		"prompt":       "? ",
		"toplines":     "5",
		"DEAD":         filepath.Join(o.Home, "dead.letter"),
		"MBOX":         filepath.Join(o.Home, "mbox"),
	}
	for name, prog := range progDefaults {
		v[name] = prog
	}
	if o.Sendmail != "" {
		v["sendmail"] = o.Sendmail
	}
	for _, name := range envVars {
		if e := o.Getenv(name); e != "" {
			v[name] = e
		}
	}
	return v
}

// escapeChar is what starts a tilde escape: ~ when escape is unset,
// nothing (escapes off) when it is set empty (POSIX).
func (s *Session) escapeChar() string {
	if v, ok := s.vars["escape"]; ok {
		return v
	}
	return "~"
}

// progDefaults are the programs mail runs when their variable is unset or
// null (POSIX: more, ls, vi, sh; ed for EDITOR on XSI systems).
var progDefaults = map[string]string{"EDITOR": "ed", "VISUAL": "vi", "PAGER": "more", "LISTER": "ls", "SHELL": "/bin/sh"}

// setting is the value of one of the progDefaults variables, MBOX or
// DEAD, falling back on its default when unset or null (POSIX).
func (s *Session) setting(name string) string {
	if v := s.vars[name]; v != "" {
		return v
	}
	switch name {
	case "MBOX":
		return filepath.Join(s.o.Home, "mbox")
	case "DEAD":
		return filepath.Join(s.o.Home, "dead.letter")
	}
	return progDefaults[name]
}

func (s *Session) isSet(name string) bool {
	_, ok := s.vars[name]
	return ok
}

// intVar is a numeric variable's value, or def when unset or not a number.
func (s *Session) intVar(name string, def int) int {
	if n, err := strconv.Atoi(s.vars[name]); err == nil && n > 0 {
		return n
	}
	return def
}

// expandPath expands a file name as mailx does: ~ is $HOME, +name is in
// the folder directory, % the system mailbox, %user that user's (same
// pattern), & the MBOX file, # the previous folder. Then, as POSIX asks
// for shell word expansion (BSD mail and s-nail run it through the shell),
// $VAR and ${VAR} are replaced from the environment and a pattern that
// matches one file names it.
func (s *Session) expandPath(name string) (string, error) {
	p, err := s.expandSpecial(s.expandVars(name))
	if err != nil || !strings.ContainsAny(p, "*?[") {
		return p, err
	}
	switch m, _ := filepath.Glob(p); len(m) {
	case 0:
		return p, nil
	case 1:
		return m[0], nil
	default:
		return "", fmt.Errorf("%s: ambiguous, %d files match", name, len(m))
	}
}

// expandVars replaces $VAR and ${VAR} with the environment's values.
func (s *Session) expandVars(w string) string {
	if !strings.Contains(w, "$") {
		return w
	}
	return os.Expand(w, s.o.Getenv)
}

// expandSpecial is expandPath's mailx part: % & # + and ~.
func (s *Session) expandSpecial(name string) (string, error) {
	switch {
	case name == "%":
		return s.o.SystemMailbox, nil
	case strings.HasPrefix(name, "%") && s.o.UserMailbox != nil:
		return s.o.UserMailbox(name[1:])
	case name == "&":
		return s.expandSpecial(s.setting("MBOX"))
	case name == "#":
		if s.prev == "" {
			return "", fmt.Errorf("no previous file")
		}
		return s.prev, nil
	case strings.HasPrefix(name, "+"):
		return filepath.Join(s.folderDir(), name[1:]), nil
	case name == "~" || strings.HasPrefix(name, "~/"):
		return filepath.Join(s.o.Home, name[1:]), nil
	}
	return name, nil
}

// folderDir is the folder variable (relative to HOME) or the configured
// folder_dir.
func (s *Session) folderDir() string {
	d := s.vars["folder"]
	switch {
	case d == "":
		return s.o.FolderDir
	case strings.HasPrefix(d, "~/"):
		return filepath.Join(s.o.Home, d[2:])
	case !filepath.IsAbs(d):
		return filepath.Join(s.o.Home, d)
	}
	return d
}

func cmdSet(s *Session, a *args) error {
	if len(a.words) == 0 {
		names := make([]string, 0, len(s.vars))
		for n := range s.vars {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			if v := s.vars[n]; v != "" {
				fmt.Fprintf(s.out, "%s\t%q\n", n, v)
			} else {
				fmt.Fprintln(s.out, n)
			}
		}
		return nil
	}
	for _, w := range a.words {
		name, val, hasVal := strings.Cut(w, "=")
		if name == "" {
			return fmt.Errorf("bad variable %q", w)
		}
		if !hasVal && strings.HasPrefix(name, "no") && len(name) > 2 {
			s.unsetVar(name[2:])
			continue
		}
		// ask and asksub are one variable under two names (POSIX).
		if name == "ask" {
			name = "asksub"
		}
		s.vars[name] = val
	}
	return nil
}

func cmdUnset(s *Session, a *args) error {
	for _, n := range a.words {
		s.unsetVar(n)
	}
	return nil
}

// unsetVar erases a variable; ask is asksub.
func (s *Session) unsetVar(name string) {
	if name == "ask" {
		name = "asksub"
	}
	delete(s.vars, name)
}

func (s *Session) sourceIfExists(path string) {
	if _, err := os.Stat(path); err == nil {
		if err := s.source(path); err != nil {
			s.warn("%v", err)
		}
	}
}

// source runs the commands in a file. An unclosed if is an error. In a
// start-up file the first failing command ends the file (POSIX allows
// this or exiting; BSD mail does this).
func (s *Session) source(path string) error {
	if slices.Contains(s.sources, path) {
		return fmt.Errorf("source %s: already being read", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	defer f.Close()
	s.sources = append(s.sources, path)
	defer func() { s.sources = s.sources[:len(s.sources)-1] }()
	depth := len(s.conds)
	sc := bufio.NewScanner(f)
	var cont string
	failedBefore := s.errored
	s.errored = false
	defer func() { s.errored = s.errored || failedBefore }()
	for sc.Scan() && !s.exiting && !(s.startup && s.errored) {
		line := sc.Text()
		// A backslash at the end continues the line (BSD and s-nail).
		if strings.HasSuffix(line, "\\") {
			cont += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		if line := cont + line; strings.TrimSpace(line) != "" {
			s.execute(line) // a blank line is no command here (POSIX), not next
		}
		cont = ""
	}
	if len(s.conds) != depth {
		s.conds = s.conds[:depth]
		return fmt.Errorf("%s: missing endif", path)
	}
	return sc.Err()
}

func cmdSource(s *Session, a *args) error {
	p, err := s.expandPath(a.words[0])
	if err != nil {
		return err
	}
	return s.source(p)
}

// running reports whether commands run, i.e. no enclosing if is false.
func (s *Session) running() bool { return !slices.Contains(s.conds, false) }

func cmdIf(s *Session, a *args) error {
	var ok bool
	switch strings.ToLower(a.words[0]) {
	case "r", "receive":
		ok = !s.sendMode
	case "s", "send":
		ok = s.sendMode
	case "t", "term":
		ok = s.o.Terminal
	default:
		s.conds = append(s.conds, false)
		return fmt.Errorf("if: unknown condition %q", a.words[0])
	}
	s.conds = append(s.conds, ok)
	return nil
}

func cmdElse(s *Session, _ *args) error {
	if len(s.conds) == 0 {
		return fmt.Errorf("else without if")
	}
	s.conds[len(s.conds)-1] = !s.conds[len(s.conds)-1]
	return nil
}

func cmdEndif(s *Session, _ *args) error {
	if len(s.conds) == 0 {
		return fmt.Errorf("endif without if")
	}
	s.conds = s.conds[:len(s.conds)-1]
	return nil
}
