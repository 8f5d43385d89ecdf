package mailx

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"unixmail/pkg/mbox"
	"unixmail/pkg/mimeview"
)

const tildeHelp = `-------------------- ~ESCAPES ----------------------------
~~              a line beginning with one ~
~. or ~x        send the message / abandon it (not saved)
~q              abandon it, saved to DEAD
~!command       run a shell command
~: or ~_ cmd    run a mail command
~? help         this list
~a ~A           insert the sign / Sign variable
~b ~c ~t names  add Bcc / Cc / To recipients
~s subject      set the subject
~h              edit To, Subject, Cc and Bcc
~d              read in the dead.letter file
~e ~v           edit the message with EDITOR / VISUAL
~f ~F msgs      read in messages (F: all header fields)
~m ~M msgs      read in messages, indented (M: all fields)
~i variable     insert a variable's value
~p              print the message so far
~r file         read in a file (~r !command: its output)
~w file         write the message body to a file
~| command      pipe the body through a command, replacing it
~@ files        attach files
-----------------------------------------------------------`

// tilde runs one escape (the line after the escape character). done is
// set by ~.; ~q and ~x return ErrNotSent.
func (s *Session) tilde(d *Draft, line string) (done bool, err error) {
	c, arg := line[0], strings.TrimSpace(line[1:])
	if strings.HasPrefix(line, s.escapeChar()) {
		// ~~: the line itself, one escape character removed.
		d.body.WriteString(line + "\n")
		return false, nil
	}
	switch c {
	case '.':
		return true, nil
	case 'x':
		return false, ErrNotSent
	case 'q':
		s.saveDead(d.body.Bytes())
		return false, ErrNotSent
	case '!':
		if err := s.shellRun(s.bang(arg), nil); err != nil {
			return false, err
		}
		fmt.Fprintln(s.out, "!")
	case ':', '_':
		s.execute(arg)
	case '?':
		fmt.Fprintln(s.out, tildeHelp)
	case 'a', 'A':
		name := "sign"
		if c == 'A' {
			name = "Sign"
		}
		s.insertVar(d, name)
	case 'b':
		d.Bcc = append(d.Bcc, splitAddrs(arg)...)
	case 'c':
		d.Cc = append(d.Cc, splitAddrs(arg)...)
	case 't':
		d.To = append(d.To, splitAddrs(arg)...)
	case 's':
		d.Subject, d.HasSubject = arg, true
	case 'h':
		return false, s.editHeaders(d)
	case 'd':
		b, err := s.readDead()
		if err != nil {
			return false, fmt.Errorf("~d: %w", err)
		}
		s.insertText(d, s.setting("DEAD"), b)
		return false, nil
	case 'r', '<':
		return false, s.insertFile(d, arg)
	case 'e', 'v':
		editor := s.setting("EDITOR")
		if c == 'v' {
			editor = s.setting("VISUAL")
		}
		return false, s.editBody(d, editor)
	case 'f', 'F', 'm', 'M':
		return false, s.insertMessages(d, c, arg)
	case 'i':
		s.insertVar(d, arg)
	case 'p':
		return false, s.printDraft(d)
	case 'w':
		p, err := s.expandPath(arg)
		if err != nil {
			return false, err
		}
		if err := appendFile(p, d.body.Bytes()); err != nil {
			return false, fmt.Errorf("~w: %w", err)
		}
		fmt.Fprintf(s.out, "%q %d/%d\n", arg, bytes.Count(d.body.Bytes(), []byte("\n")), d.body.Len())
	case '|':
		cmd := exec.Command(s.setting("SHELL"), "-c", arg)
		cmd.Stdin, cmd.Stderr = bytes.NewReader(d.body.Bytes()), s.errw
		out, err := cmd.Output()
		if err != nil {
			return false, fmt.Errorf("~|: %q failed (%v); the message is unchanged", arg, err)
		}
		d.body.Reset()
		d.body.Write(out)
	case '@':
		for _, f := range strings.Fields(arg) {
			p, err := s.expandPath(f)
			if err != nil {
				return false, err
			}
			if _, err := os.Stat(p); err != nil {
				return false, fmt.Errorf("~@: %w", err)
			}
			d.Attach = append(d.Attach, p)
		}
	default:
		return false, fmt.Errorf("unknown tilde escape ~%c (~? for help)", c)
	}
	return false, nil
}

// editHeaders asks for each of To, Subject, Cc and Bcc; an empty answer
// keeps the field, "-" clears it.
func (s *Session) editHeaders(d *Draft) error {
	ask := func(name, cur string) (string, error) {
		if !s.o.Terminal {
			fmt.Fprintf(s.out, "%s: %s\n", name, cur)
		}
		v, err := s.in.ReadLine(name + ": [" + cur + "] ")
		if err != nil {
			return cur, err
		}
		switch strings.TrimSpace(v) {
		case "":
			return cur, nil
		case "-":
			return "", nil
		}
		return strings.TrimSpace(v), nil
	}
	to, err := ask("To", strings.Join(d.To, ", "))
	if err != nil {
		return err
	}
	subj, err := ask("Subject", d.Subject)
	if err != nil {
		return err
	}
	cc, err := ask("Cc", strings.Join(d.Cc, ", "))
	if err != nil {
		return err
	}
	bcc, err := ask("Bcc", strings.Join(d.Bcc, ", "))
	if err != nil {
		return err
	}
	d.To, d.Subject, d.HasSubject, d.Cc, d.Bcc = splitAddrs(to), subj, true, splitAddrs(cc), splitAddrs(bcc)
	return nil
}

func (s *Session) insertFile(d *Draft, name string) error {
	if name == "" {
		return fmt.Errorf("~r: no file named")
	}
	b, err := s.readDraftFile(name)
	if err != nil {
		return fmt.Errorf("~r: %w", err)
	}
	s.insertText(d, name, b)
	return nil
}

// insertText adds text read from name to the body, ending it with a
// newline, and says how much it was.
func (s *Session) insertText(d *Draft, name string, b []byte) {
	d.body.Write(b)
	if len(b) > 0 && b[len(b)-1] != '\n' {
		d.body.WriteByte('\n')
	}
	fmt.Fprintf(s.out, "%q %d/%d\n", name, bytes.Count(b, []byte("\n")), len(b))
}

// readDead is what ~d reads in: the last draft saved in DEAD, without the
// From_ line mail writes it with (a dead.letter not in mbox form, as BSD
// mail writes it, is read whole).
func (s *Session) readDead() ([]byte, error) {
	p, err := s.expandPath(s.setting("DEAD"))
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil || !bytes.HasPrefix(b, []byte("From ")) {
		return b, err
	}
	var last *mbox.Message
	for sc := mbox.NewScanner(bytes.NewReader(b)); sc.Next(); {
		m := *sc.Message()
		last = &m
	}
	if last == nil {
		return b, nil
	}
	return io.ReadAll(last.Content(bytes.NewReader(b)))
}

// editBody runs an editor on the body so far.
func (s *Session) editBody(d *Draft, editor string) error {
	tmp, err := os.CreateTemp("", "mail-draft-")
	if err != nil {
		return fmt.Errorf("edit: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(d.body.Bytes())
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("edit: %w", err)
	}
	cmd := exec.Command(s.setting("SHELL"), "-c", editor+` "$1"`, "sh", tmp.Name())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, s.out, s.errw
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("edit: %w", err)
	}
	b, err := os.ReadFile(tmp.Name())
	if err != nil {
		return fmt.Errorf("edit: %w", err)
	}
	d.body.Reset()
	d.body.Write(b)
	fmt.Fprintln(s.out, "(continue)")
	return nil
}

// insertMessages reads messages into the body: f/F as they are shown
// (F with every field), m/M indented with indentprefix.
func (s *Session) insertMessages(d *Draft, c byte, arg string) error {
	if s.f == nil {
		return fmt.Errorf("~%c: no folder is open", c)
	}
	words, err := splitWords(arg)
	if err != nil {
		return err
	}
	list, err := parseList(s.f, words, false)
	if err != nil {
		return err
	}
	show := s.showHeader
	if c == 'F' || c == 'M' {
		show = nil
	}
	prefix := ""
	if c == 'm' || c == 'M' {
		prefix = s.vars["indentprefix"]
	}
	for _, i := range list {
		var buf bytes.Buffer
		if err := mimeview.Render(&buf, s.f.content(i), mimeview.Options{ShowHeader: show, Width: s.o.Width}); err != nil {
			return err
		}
		// POSIX: only non-empty lines get the indentprefix.
		for _, l := range strings.SplitAfter(buf.String(), "\n") {
			if l != "\n" && l != "" {
				l = prefix + l
			}
			d.body.WriteString(l)
		}
		s.markRead(i) // these escapes make a message read (POSIX)
		fmt.Fprintf(s.out, "Interpolating: %d\n", i+1)
	}
	fmt.Fprintln(s.out, "(continue)")
	return nil
}

// printDraft shows the message so far (~p).
func (s *Session) printDraft(d *Draft) error {
	var b bytes.Buffer
	fmt.Fprintln(&b, "-------\nMessage contains:")
	fmt.Fprintf(&b, "To: %s\n", strings.Join(d.To, ", "))
	if d.Subject != "" {
		fmt.Fprintf(&b, "Subject: %s\n", d.Subject)
	}
	if len(d.Cc) > 0 {
		fmt.Fprintf(&b, "Cc: %s\n", strings.Join(d.Cc, ", "))
	}
	if len(d.Bcc) > 0 {
		fmt.Fprintf(&b, "Bcc: %s\n", strings.Join(d.Bcc, ", "))
	}
	for _, a := range d.Attach {
		fmt.Fprintf(&b, "Attachment: %s\n", a)
	}
	fmt.Fprintln(&b)
	b.Write(d.body.Bytes())
	// Longer than crt lines, it goes through PAGER (POSIX ~p).
	if err := s.pageOut(b.Bytes(), false); err != nil {
		return err
	}
	fmt.Fprintln(s.out, "(continue)")
	return nil
}

// insertVar adds a variable's value and a newline to the body (~i, ~a,
// ~A), with \t and \n standing for a tab and a newline as POSIX says of
// sign and Sign. An unset or empty variable changes nothing.
func (s *Session) insertVar(d *Draft, name string) {
	v := s.vars[name]
	if v == "" {
		return
	}
	d.body.WriteString(strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(v) + "\n")
}

// appendFile appends b to the file at path, made 0600 when new (~w and
// write add to an existing file, as POSIX says).
func appendFile(path string, b []byte) error {
	fl, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	_, err = fl.Write(b)
	if cerr := fl.Close(); err == nil {
		err = cerr
	}
	return err
}
