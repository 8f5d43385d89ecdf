package mailx

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// Version is mail's version, shown by the version command.
const Version = "unixmail mail 1.0"

// isMe reports whether addr is the user: the login name, name@anything
// local, or one of the alternates.
func (s *Session) isMe(addr string) bool {
	if addr == "" {
		return false
	}
	if fromUser(addr, s.o.User) && (!strings.Contains(addr, "@") || strings.HasSuffix(strings.ToLower(addr), "@"+strings.ToLower(s.o.Hostname))) {
		return true
	}
	for _, a := range s.alts {
		if strings.EqualFold(a, addr) || fromUser(addr, a) && !strings.Contains(a, "@") {
			return true
		}
	}
	return false
}

func cmdAlias(s *Session, a *args) error {
	switch len(a.words) {
	case 0:
		names := make([]string, 0, len(s.aliases))
		for n := range s.aliases {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			fmt.Fprintf(s.out, "%s\t%s\n", n, strings.Join(s.aliases[n], " "))
		}
	case 1:
		if v, ok := s.aliases[a.words[0]]; ok {
			fmt.Fprintf(s.out, "%s\t%s\n", a.words[0], strings.Join(v, " "))
		} else {
			return fmt.Errorf("%q: no such alias", a.words[0])
		}
	default:
		for _, w := range a.words[1:] {
			if strings.HasPrefix(w, "-") {
				return fmt.Errorf("alias: refusing address %q", w)
			}
		}
		s.aliases[a.words[0]] = append(s.aliases[a.words[0]], a.words[1:]...)
	}
	return nil
}

func cmdUnalias(s *Session, a *args) error {
	for _, w := range a.words {
		delete(s.aliases, w)
	}
	return nil
}

func cmdAlternates(s *Session, a *args) error {
	if len(a.words) == 0 {
		fmt.Fprintln(s.out, strings.Join(s.alts, " "))
		return nil
	}
	s.alts = append([]string(nil), a.words...)
	return nil
}

// fieldList runs ignore/retain: list the set, or add to it.
func (s *Session) fieldList(set map[string]bool, words []string) {
	if len(words) == 0 {
		names := make([]string, 0, len(set))
		for n := range set {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			fmt.Fprintln(s.out, n)
		}
		return
	}
	for _, w := range words {
		set[strings.ToLower(w)] = true
	}
}

func cmdIgnore(s *Session, a *args) error { s.fieldList(s.ignore, a.words); return nil }
func cmdRetain(s *Session, a *args) error { s.fieldList(s.retain, a.words); return nil }

func cmdUnignore(s *Session, a *args) error {
	for _, w := range a.words {
		delete(s.ignore, strings.ToLower(w))
	}
	return nil
}

func cmdUnretain(s *Session, a *args) error {
	for _, w := range a.words {
		delete(s.retain, strings.ToLower(w))
	}
	return nil
}

func cmdCd(s *Session, a *args) error {
	dir := s.o.Home
	if len(a.words) > 0 {
		d, err := s.expandPath(a.words[0])
		if err != nil {
			return err
		}
		dir = d
	}
	if err := os.Chdir(dir); err != nil {
		return fmt.Errorf("cd: %w", err)
	}
	return nil
}

func cmdShell(s *Session, _ *args) error {
	cmd := exec.Command(s.setting("SHELL"))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, s.out, s.errw
	return cmd.Run()
}

func cmdShellCmd(s *Session, a *args) error {
	if a.raw == "" {
		return cmdShell(s, a)
	}
	if err := s.shellRun(s.bang(a.raw), nil); err != nil {
		return err
	}
	fmt.Fprintln(s.out, "!")
	return nil
}

// bang is the command line of ! or ~!: with the bang variable set, each
// ! not escaped by a backslash stands for the previous such command
// (POSIX). It remembers the result as the previous command.
func (s *Session) bang(command string) string {
	if s.isSet("bang") {
		var b strings.Builder
		for i := 0; i < len(command); i++ {
			switch {
			case command[i] == '\\' && i+1 < len(command) && command[i+1] == '!':
				b.WriteByte('!')
				i++
			case command[i] == '!':
				b.WriteString(s.lastShell)
			default:
				b.WriteByte(command[i])
			}
		}
		command = b.String()
	}
	s.lastShell = command
	return command
}

// cmdEcho prints its words as the shell's echo would: with environment
// variables, and + and ~ names, expanded.
func cmdEcho(s *Session, a *args) error {
	for i, w := range a.words {
		a.words[i] = s.expandVars(w)
		if p, err := s.expandSpecial(a.words[i]); err == nil && (strings.HasPrefix(w, "+") || strings.HasPrefix(w, "~")) {
			a.words[i] = p
		}
	}
	fmt.Fprintln(s.out, strings.Join(a.words, " "))
	return nil
}

func cmdVersion(s *Session, _ *args) error {
	fmt.Fprintln(s.out, Version)
	return nil
}

// cmdFile shows the folder, or switches to another (quitting this one).
func cmdFile(s *Session, a *args) error {
	if len(a.words) == 0 {
		if s.f == nil {
			return fmt.Errorf("no folder is open")
		}
		s.announce()
		return nil
	}
	path, err := s.expandPath(a.words[0])
	if err != nil {
		return err
	}
	if err := s.setFolder(path, path == s.o.SystemMailbox); err != nil {
		return err
	}
	s.announce()
	return nil
}

// cmdFolders lists the folder directory with $LISTER.
func cmdFolders(s *Session, _ *args) error {
	dir := s.folderDir()
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("folders: %w", err)
	}
	cmd := exec.Command(s.setting("SHELL"), "-c", s.setting("LISTER")+` "$1"`, "sh", dir)
	cmd.Stdout, cmd.Stderr = s.out, s.errw
	return cmd.Run()
}

// cmdNewmail reads in the messages delivered since the folder was opened.
func cmdNewmail(s *Session, _ *args) error {
	before := len(s.f.msgs)
	if err := s.f.scan(); err != nil {
		return err
	}
	n := len(s.f.msgs) - before
	if n == 0 {
		fmt.Fprintln(s.out, "No new mail.")
		return nil
	}
	fmt.Fprintf(s.out, "New mail has arrived: %d message%s.\n", n, plural(n))
	return s.listHeaders(before, len(s.f.msgs))
}

// viewIn lets the user edit messages in an editor. When the text comes
// back changed, it replaces the message: read from now on, copied by save,
// and written into the folder at quit (as BSD mail and s-nail do).
func (s *Session) viewIn(editor string, list []int) error {
	for _, i := range list {
		old, err := io.ReadAll(s.f.content(i))
		if err != nil {
			return fmt.Errorf("edit: %w", err)
		}
		text, err := s.editText(editor, old)
		if err != nil {
			return err
		}
		s.markRead(i)
		if bytes.Equal(text, old) {
			continue
		}
		if s.f.readOnly {
			return fmt.Errorf("edit: %s is read-only; message %d is unchanged", s.f.path, i+1)
		}
		if len(text) > 0 && text[len(text)-1] != '\n' {
			text = append(text, '\n')
		}
		if s.f.edits == nil {
			s.f.edits = map[int][]byte{}
		}
		s.f.edits[i] = text
		s.f.msgs[i].lines = int32(bytes.Count(text, []byte("\n")))
	}
	return nil
}

// editText runs editor on a temporary file holding text and returns what
// the file holds afterwards.
func (s *Session) editText(editor string, text []byte) ([]byte, error) {
	tmp, err := os.CreateTemp("", "mail-edit-")
	if err != nil {
		return nil, fmt.Errorf("edit: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(text)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("edit: %w", err)
	}
	cmd := exec.Command(s.setting("SHELL"), "-c", editor+` "$1"`, "sh", tmp.Name())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, s.out, s.errw
	err = cmd.Run()
	if s.interrupted() {
		return nil, errInterrupted
	}
	if err != nil {
		return nil, fmt.Errorf("edit: %s: %w; the message is unchanged", editor, err)
	}
	b, err := os.ReadFile(tmp.Name())
	if err != nil {
		return nil, fmt.Errorf("edit: %w", err)
	}
	return b, nil
}

func cmdEdit(s *Session, a *args) error   { return s.viewIn(s.setting("EDITOR"), a.list) }
func cmdVisual(s *Session, a *args) error { return s.viewIn(s.setting("VISUAL"), a.list) }
