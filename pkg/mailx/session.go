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
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"

	"golang.org/x/term"

	"unixmail/pkg/lock"
)

// Options is what the command line and the environment give a session.
type Options struct {
	User          string // login name: the sender, "me" in message lists
	Home          string // $HOME: ~/mbox, ~/.mailrc, ~/dead.letter
	Hostname      string // for Message-ID
	SystemMailbox string // the user's INBOX
	// UserMailbox is another user's INBOX, for the file name %user.
	UserMailbox func(user string) (string, error)
	FolderDir   string // where +name lives unless the folder variable says
	Sendmail    string // default for the sendmail variable
	SystemRC    string // the system mail.rc ("" = none)
	Getenv      func(string) string
	Lock        lock.Options // lock_timeout, for every mailbox opened

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
	// RecordByRecipient is -F: record each message sent in a file named
	// after its first recipient's login name.
	RecordByRecipient bool
	// LimitMemory sets the process's soft memory limit from the size of
	// each folder opened (see openFolder); for the mail command, not for
	// a program that embeds a session.
	LimitMemory bool
}

// Session is one run of mail: variables, aliases, the open folder and the
// state of the command reader.
type Session struct {
	o         Options
	in        lineReader
	out       io.Writer
	errw      io.Writer
	vars      map[string]string
	aliases   map[string][]string
	alts      []string
	ignore    map[string]bool
	retain    map[string]bool
	f         *folder
	prev      string      // the previous folder, for "file #"
	conds     []bool      // if/else/endif: whether each open branch runs
	exiting   bool        // quit or exit was given
	sendMode  bool        // mail was run to send, not to read: the if condition "send"
	sending   bool        // in compose mode (~: may run only some commands)
	errored   bool        // a command failed; the exit status says so in scripts
	sources   []string    // files being sourced, to refuse loops
	prevCmd   string      // the command run before this one (next looks)
	startup   bool        // reading the start-up files
	lastShell string      // the previous ! or ~! command, for bang
	intr      atomic.Bool // an interrupt arrived (SIGINT, or ^C typed)
}

// errInterrupted ends a command the user interrupted.
var errInterrupted = errors.New("interrupted")

// ErrKilled is returned when the user killed the letter being composed with
// two interrupts in a row; in send mode mail then exits non-zero (POSIX
// mailx, ASYNCHRONOUS EVENTS).
var ErrKilled = fmt.Errorf("letter killed: %w", errInterrupted)

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
	if o.IgnoreInt {
		// -i sets the ignore variable, as in BSD mail and s-nail.
		s.vars["ignore"] = ""
	}
	s.startup = true
	if !o.NoRC && o.SystemRC != "" {
		s.sourceIfExists(o.SystemRC)
	}
	rc := o.Getenv("MAILRC")
	if rc == "" {
		rc = filepath.Join(o.Home, ".mailrc")
	}
	s.sourceIfExists(rc)
	s.startup = false
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
		}{&ctrlCReader{r: o.In}, o.Out}, "")}
	}
	return &plainReader{r: bufio.NewReader(o.In)}
}

// ctrlCReader turns a ^C typed while a line is read in raw mode (where
// the terminal sends it as a byte, not as SIGINT) into the erasing of the
// line (^E ^U) and then errInterrupted from the next Read, which
// term.Terminal returns from ReadLine. term.Terminal's own handling of ^C
// cannot be used: it keeps the ^C in its buffer, so every later ReadLine
// would end at once.
type ctrlCReader struct {
	r       io.Reader
	pending []byte // read, not yet handed on: what came after a ^C
	intr    bool   // the next Read reports the interrupt
}

func (c *ctrlCReader) Read(p []byte) (int, error) {
	if c.intr {
		c.intr = false
		return 0, errInterrupted
	}
	var n int
	var err error
	if len(c.pending) > 0 {
		n = copy(p, c.pending)
		c.pending = c.pending[n:]
	} else {
		n, err = c.r.Read(p)
	}
	i := bytes.IndexByte(p[:n], 3)
	if i < 0 {
		return n, err
	}
	c.pending = append(append([]byte(nil), p[i+1:n]...), c.pending...)
	c.intr = true
	if i+2 <= len(p) {
		p[i], p[i+1] = 5, 21 // ^E ^U: to the end of the line, erase it
		return i + 2, err
	}
	p[i] = 21
	return i + 1, err
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

// ReadLine returns errInterrupted for a ^C.
func (r *termReader) ReadLine(prompt string) (string, error) {
	old, err := term.MakeRaw(r.fd)
	if err != nil {
		return "", fmt.Errorf("terminal: %w", err)
	}
	defer term.Restore(r.fd, old)
	r.t.SetPrompt(prompt)
	return r.t.ReadLine()
}

// watchInterrupts catches SIGINT for the session until the returned stop
// is called: an interrupt then ends the running command (see interrupted)
// instead of mail. The pager, the editor and shell commands get the
// terminal's SIGINT themselves.
func (s *Session) watchInterrupts() (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				s.intr.Store(true)
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}

// Loop reads and runs commands until quit, exit or the end of input (which
// quits, unless ignoreeof is set on a terminal).
//
// In this command mode an interrupt (POSIX mailx, ASYNCHRONOUS EVENTS)
// ends the running command and brings the prompt back.
func (s *Session) Loop() error {
	defer s.watchInterrupts()()
	for !s.exiting {
		prompt := ""
		if s.o.Terminal {
			prompt = s.vars["prompt"]
		}
		line, err := s.in.ReadLine(prompt)
		s.intr.Store(false)
		if errors.Is(err, errInterrupted) {
			fmt.Fprintln(s.out)
			continue
		}
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
