package mailx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"unixmail/pkg/mbox"
	"unixmail/pkg/mimeview"
)

// appendMessages appends messages to the mbox file path (made 0600 when
// new), each with its From_ line and its state now plus extra, all or
// nothing per message, under the locks. It prints `"file" [New file|Appended] L/B`.
func (s *Session) appendMessages(path string, list []int, show string, extra mbox.Flags) error {
	mb, err := mbox.Open(path, mbox.OpenOptions{Create: true, Owner: -1, NoDotLockOK: true, Lock: s.o.Lock, Warn: s.warn})
	if err != nil {
		return err
	}
	defer mb.Close()
	lines, bytesN, err := s.appendTo(mb, list, extra)
	if err != nil {
		return err
	}
	if show != "" {
		state := "Appended"
		if mb.Created() {
			state = "New file"
		}
		fmt.Fprintf(s.out, "%q [%s] %d/%d\n", show, state, lines, bytesN)
	}
	return nil
}

// appendTo appends messages to mb, open for writing, and says how many
// lines and bytes it wrote.
func (s *Session) appendTo(mb *mbox.Mailbox, list []int, extra mbox.Flags) (lines int, bytesN int64, err error) {
	for _, i := range list {
		m := &s.f.msgs[i]
		from, err := s.fromLineOf(i)
		if err != nil {
			return lines, bytesN, err
		}
		// The copy records the flags now and keeps the IMAP keywords:
		// WithState writes X-Keywords from st alone.
		st := mbox.State{Flags: m.flags | mbox.Old | extra, Keywords: s.f.keywords(i)}
		err = mb.Append(context.Background(), func(w io.Writer) error {
			n, err := mbox.WriteMessage(w, from, mbox.WithState(s.f.content(i), st))
			bytesN += n
			return err
		})
		if err != nil {
			return lines, bytesN, err
		}
		lines += int(m.lines)
	}
	return lines, bytesN, nil
}

// fromLineOf is message i's own From_ line, kept as it was.
func (s *Session) fromLineOf(i int) (string, error) {
	m := &s.f.msgs[i]
	b := make([]byte, m.fromLen)
	if _, err := s.f.file.ReadAt(b, m.off); err != nil {
		return "", fmt.Errorf("read %s: %w", s.f.path, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// saveTo appends to a file named by the user, marking the messages read
// (POSIX's copy; BSD mail and s-nail mark saved ones read too) and, when
// mark is set, saved (so they leave the system mailbox at quit unless
// keepsave).
func (s *Session) saveTo(name string, list []int, mark bool) error {
	path, err := s.expandPath(name)
	if err != nil {
		return err
	}
	return s.saveToPath(path, name, strings.HasPrefix(name, "+"), list, mark)
}

// saveToAuthor is Save and Copy: the file is named after the first
// message's author (see authorPath).
func (s *Session) saveToAuthor(list []int, mark bool) error {
	name := authorName(s.f.summary(list[0]).from)
	path, inFolder := s.authorPath(name)
	return s.saveToPath(path, name, inFolder, list, mark)
}

func (s *Session) saveToPath(path, show string, inFolder bool, list []int, mark bool) error {
	if inFolder {
		// The folder directory is made on first use, as imapd would.
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fmt.Errorf("save: %w", err)
		}
	}
	// The copies are written read, as the messages now are (BSD mail).
	if err := s.appendMessages(path, list, show, mbox.Seen); err != nil {
		return err
	}
	for _, i := range list {
		if mark {
			s.f.msgs[i].mark |= mSaved
		}
		s.markRead(i)
	}
	return nil
}

// fileArg is the file a save-like command names, or MBOX when none.
func (s *Session) fileArg(a *args) string {
	if len(a.words) > 0 {
		return a.words[0]
	}
	return s.setting("MBOX")
}

func cmdSave(s *Session, a *args) error { return s.saveTo(s.fileArg(a), a.list, true) }
func cmdCopy(s *Session, a *args) error { return s.saveTo(s.fileArg(a), a.list, false) }

// authorPath is where a file named after an address goes: the current
// directory (POSIX), or the folder directory when outfolder is set. The
// name is used as it is: a sender chooses it, so it never goes through
// expandPath (a From of ".bashr?@evil.example" or "$HOME/x" must not
// reach ~/.bashrc).
func (s *Session) authorPath(name string) (path string, inFolder bool) {
	if s.isSet("outfolder") {
		return filepath.Join(s.folderDir(), name), true
	}
	return name, false
}

// authorName is a file name made of an address's login-name part (POSIX),
// with nothing in it that could leave the directory or make a dot-file: a
// '/' or control character becomes '_', and so does a leading dot.
func authorName(addr string) string {
	name, _, _ := strings.Cut(mimeview.Skin(addr), "@")
	name = strings.Map(func(r rune) rune {
		if r == '/' || r < ' ' || r == 0x7f {
			return '_'
		}
		return r
	}, name)
	if strings.HasPrefix(name, ".") {
		name = "_" + name[1:]
	}
	if name == "" {
		name = "unknown"
	}
	return name
}

func cmdSaveUser(s *Session, a *args) error { return s.saveToAuthor(a.list, true) }
func cmdCopyUser(s *Session, a *args) error { return s.saveToAuthor(a.list, false) }

// cmdWrite saves the messages' bodies, decoded, without their headers.
func cmdWrite(s *Session, a *args) error {
	if len(a.words) == 0 {
		return fmt.Errorf("write: no file named")
	}
	path, err := s.expandPath(a.words[0])
	if err != nil {
		return err
	}
	var out bytes.Buffer
	for _, i := range a.list {
		var buf bytes.Buffer
		if err := mimeview.Render(&buf, s.f.content(i), mimeview.Options{ShowHeader: func(string) bool { return false }, Width: s.o.Width}); err != nil {
			return err
		}
		out.Write(bytes.TrimPrefix(buf.Bytes(), []byte("\n")))
	}
	if err := appendFile(path, out.Bytes()); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	for _, i := range a.list {
		s.f.msgs[i].mark |= mSaved
		s.markRead(i)
	}
	fmt.Fprintf(s.out, "%q %d/%d\n", a.words[0], bytes.Count(out.Bytes(), []byte("\n")), out.Len())
	return nil
}

// cmdPipe sends each message, as shown, to a shell command (the cmd
// variable when none is given).
func cmdPipe(s *Session, a *args) error {
	command := strings.Join(a.words, " ")
	if command == "" {
		command = s.vars["cmd"]
	}
	if command == "" {
		return fmt.Errorf("pipe: no command (set cmd)")
	}
	var buf bytes.Buffer
	for _, i := range a.list {
		if err := s.render(&buf, i, false); err != nil {
			return err
		}
		if s.isSet("page") {
			buf.WriteString("\f")
		}
		s.markRead(i)
	}
	return s.shellRun(command, &buf)
}

// shellRun runs a command line the user typed through $SHELL, sharing the
// session's output.
func (s *Session) shellRun(command string, stdin io.Reader) error {
	cmd := exec.Command(s.setting("SHELL"), "-c", command)
	if stdin == nil {
		stdin = os.Stdin
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, s.out, s.errw
	err := cmd.Run()
	if s.interrupted() {
		return errInterrupted
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return fmt.Errorf("%q exited %d", command, exit.ExitCode())
	}
	return err
}

// cmdAttachments lists a message's parts, or with a part number saves
// that part's decoded body to a file (default: its own name, without any
// directory, in the current directory).
func cmdAttachments(s *Session, a *args) error {
	words := a.words
	var listWords []string
	if len(words) > 0 && isNumberish(words[0]) {
		listWords, words = words[:1], words[1:]
	}
	list, err := parseList(s.f, listWords, false)
	if err != nil {
		return err
	}
	i := list[0]
	s.f.dot = i
	if len(words) == 0 {
		parts, err := mimeview.Parts(s.f.content(i))
		if err != nil {
			return err
		}
		for _, p := range parts {
			fmt.Fprintf(s.out, "%-5s %-30s %8d  %s\n", p.Num, p.Type, p.Size, p.Name)
		}
		return nil
	}
	num := words[0]
	if _, err := strconv.ParseFloat(strings.ReplaceAll(num, ".", ""), 64); err != nil {
		return fmt.Errorf("attachments: %q is not a part number", num)
	}
	var path string
	if len(words) > 1 {
		if path, err = s.expandPath(words[1]); err != nil {
			return err
		}
	} else {
		parts, err := mimeview.Parts(s.f.content(i))
		if err != nil {
			return err
		}
		for _, p := range parts {
			if p.Num == num {
				path = filepath.Base(p.Name)
			}
		}
		if path == "" || path == "." || path == "/" {
			return fmt.Errorf("attachments: part %s has no name; give a file", num)
		}
	}
	fl, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("attachments: %w", err)
	}
	var buf bytes.Buffer
	perr := mimeview.WritePart(&buf, s.f.content(i), num)
	_, werr := fl.Write(buf.Bytes())
	if cerr := fl.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("attachments: write %s: %w", path, werr)
	}
	fmt.Fprintf(s.out, "%q %d bytes\n", path, buf.Len())
	return perr
}

// recordTo appends an outgoing message to the record file: the record
// variable's name, expanded, or (byAuthor) a name made from an address,
// used literally (see authorPath).
func (s *Session) recordTo(name string, byAuthor bool, msg []byte) error {
	var path string
	if byAuthor {
		path, _ = s.authorPath(name)
	} else {
		var err error
		if path, err = s.expandPath(name); err != nil {
			return err
		}
		if !filepath.IsAbs(path) && !strings.HasPrefix(name, "./") && s.isSet("outfolder") {
			path = filepath.Join(s.folderDir(), path)
		}
	}
	mb, err := mbox.Open(path, mbox.OpenOptions{Create: true, Owner: -1, NoDotLockOK: true, Lock: s.o.Lock, Warn: s.warn})
	if err != nil {
		return err
	}
	defer mb.Close()
	return mb.Append(context.Background(), func(w io.Writer) error {
		_, err := mbox.WriteMessage(w, mbox.FromLine(s.o.User, time.Now()), bytes.NewReader(msg))
		return err
	})
}
