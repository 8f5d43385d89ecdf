// Package mailx is the mail(1) session: the POSIX mailx command language
// (IEEE Std 1003.1, mailx) over an mbox folder, with the everyday BSD and
// s-nail extras. Messages are read through pkg/mimeview (RFC 2045-2047
// decoding) and composed through pkg/compose (RFC 5322 and MIME); the folder
// is listed by streaming pkg/mbox's Scanner and rewritten at quit with
// mbox.Rewrite, so flags agree with mutt, Dovecot and imapd.
//
// The command table is data (cmdtab.go); execute parses message lists and
// enforces each command's flags in one place.
package mailx

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"golang.org/x/term"
)

// Options is what the command line and the environment give a session.
type Options struct {
	User          string // login name: the sender, "me" in message lists
	Home          string // $HOME: ~/mbox, ~/.mailrc, ~/dead.letter
	Hostname      string // for Message-ID
	SystemMailbox string // the user's INBOX
	FolderDir     string // where +name lives unless the folder variable says
	Sendmail      string // default for the sendmail variable
	SystemRC      string // the system mail.rc ("" = none)
	Getenv        func(string) string

	In       io.Reader
	Out, Err io.Writer
	// Terminal is set when standard input and output are terminals: then
	// prompts are shown, lines are edited with history, and long output
	// goes through the pager.
	Terminal bool
	InFd     int // the terminal's descriptor, when Terminal
	Width    int // screen columns; 0 = 80
	Height   int // screen rows; 0 = 24

	SendMode  bool // mail was run to send: the if condition "send" holds
	NoRC      bool // -n: skip the system mail.rc
	NoHeaders bool // -N
	ReadOnly  bool // -R
	IgnoreInt bool // -i
	// LimitMemory sets the process's soft memory limit from the size of
	// each folder opened (see openFolder); for the mail command, not for
	// a program that embeds a session.
	LimitMemory bool
}

// Session is one run of mail: variables, aliases, the open folder and the
// state of the command reader.
type Session struct {
	o        Options
	in       lineReader
	out      io.Writer
	errw     io.Writer
	vars     map[string]string
	aliases  map[string][]string
	alts     []string
	ignore   map[string]bool
	retain   map[string]bool
	f        *folder
	prev     string      // the previous folder, for "file #"
	conds    []bool      // if/else/endif: whether each open branch runs
	exiting  bool        // quit or exit was given
	sendMode bool        // mail was run to send, not to read: the if condition "send"
	sending  bool        // in compose mode (~: may run only some commands)
	errored  bool        // a command failed; the exit status says so in scripts
	sources  []string    // files being sourced, to refuse loops
	intr     atomic.Bool // an interrupt arrived (SIGINT, or ^C typed)
}

// errInterrupted ends a command the user interrupted.
var errInterrupted = errors.New("interrupted")

// interrupted reports whether the user interrupted the current command.
func (s *Session) interrupted() bool { return s.intr.Load() }

// ErrNoMail is returned by Read when there is no mail, as POSIX mailx
// reports "No mail for user" and exits 1.
var ErrNoMail = errors.New("no mail")

// New makes a session and reads its start-up files: the system mail.rc
// (unless -n) and then $MAILRC or ~/.mailrc.
func New(o Options) *Session {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Width <= 0 {
		o.Width = 80
	}
	if o.Height <= 0 {
		o.Height = 24
	}
	s := &Session{
		o: o, out: o.Out, errw: o.Err,
		aliases: map[string][]string{}, ignore: map[string]bool{}, retain: map[string]bool{},
	}
	s.sendMode = o.SendMode
	s.in = newLineReader(o)
	s.vars = defaultVars(o)
	if !o.NoRC && o.SystemRC != "" {
		s.sourceIfExists(o.SystemRC)
	}
	rc := o.Getenv("MAILRC")
	if rc == "" {
		rc = filepath.Join(o.Home, ".mailrc")
	}
	s.sourceIfExists(rc)
	return s
}

// Failed reports whether any command failed, for the exit status.
func (s *Session) Failed() bool { return s.errored }

// warn reports a command's failure to the user.
func (s *Session) warn(format string, a ...any) {
	s.errored = true
	fmt.Fprintf(s.errw, format+"\n", a...)
}

// lineReader gives the session its input lines, with a prompt and editing
// on a terminal.
type lineReader interface {
	ReadLine(prompt string) (string, error)
}

func newLineReader(o Options) lineReader {
	if o.Terminal {
		return &termReader{fd: o.InFd, t: term.NewTerminal(struct {
			io.Reader
			io.Writer
		}{o.In, o.Out}, "")}
	}
	return &plainReader{r: bufio.NewReader(o.In)}
}

type plainReader struct{ r *bufio.Reader }

func (p *plainReader) ReadLine(string) (string, error) {
	line, err := p.r.ReadString('\n')
	if err != nil && line == "" {
		return "", err
	}
	return strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"), nil
}

// termReader edits lines with history (golang.org/x/term), in raw mode only
// while a line is being read, so pagers and editors get a normal terminal.
type termReader struct {
	fd int
	t  *term.Terminal
}

func (r *termReader) ReadLine(prompt string) (string, error) {
	old, err := term.MakeRaw(r.fd)
	if err != nil {
		return "", fmt.Errorf("terminal: %w", err)
	}
	defer term.Restore(r.fd, old)
	r.t.SetPrompt(prompt)
	return r.t.ReadLine()
}

// Loop reads and runs commands until quit, exit or the end of input (which
// quits, unless ignoreeof is set on a terminal).
func (s *Session) Loop() error {
	for !s.exiting {
		prompt := ""
		if s.o.Terminal {
			prompt = s.vars["prompt"]
		}
		line, err := s.in.ReadLine(prompt)
		if err == io.EOF {
			if s.o.Terminal && s.isSet("ignoreeof") {
				fmt.Fprintln(s.out, `Use "quit" to quit.`)
				continue
			}
			return s.quit()
		}
		if err != nil {
			return err
		}
		s.execute(line)
	}
	return nil
}
