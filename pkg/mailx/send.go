package mailx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"os"
	"os/exec"
	"strings"
	"time"

	"unixmail/pkg/compose"
	"unixmail/pkg/mbox"
	"unixmail/pkg/mimeview"
)

// Draft is a message being composed.
type Draft struct {
	To, Cc, Bcc []string
	Subject     string
	HasSubject  bool // -s was given (an empty subject is not asked for)
	Attach      []string
	From        string // -r: From and the envelope sender
	NoEmpty     bool   // -E: do not send an empty body
	headers     [][2]string
	body        bytes.Buffer
	answers     []int // messages to mark answered once sent
	record      string
}

// ErrNotSent is returned when a draft was not handed to sendmail: the user
// gave up (~q, ~x, an interrupt) or -E found the body empty.
var ErrNotSent = errors.New("message not sent")

// Send composes and sends d in send mode (mail ADDR...): the body comes from
// the input, with tilde escapes.
//
// On a terminal an interrupt is handled as in compose mode from a folder
// (see collect); two of them kill the letter and Send returns ErrKilled.
// Without a terminal SIGINT is left to end mail, as POSIX says.
func (s *Session) Send(d *Draft) error {
	if s.o.Terminal {
		defer s.watchInterrupts()()
	}
	if err := s.collect(d); err != nil {
		return err
	}
	return s.deliver(d)
}

// splitAddrs splits what the user typed after ~t, ~c, ~b or -c: addresses
// separated by commas or blanks, a "Name <addr>" kept whole.
func splitAddrs(v string) []string {
	if list, err := mail.ParseAddressList(v); err == nil {
		out := make([]string, len(list))
		for i, a := range list {
			out[i] = a.String()
			if a.Name == "" {
				out[i] = a.Address
			}
		}
		return out
	}
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
}

// collect reads the body of d from the input until the end of input, a
// lone "." (when dot is set on a terminal) or ~., running tilde escapes on the way
// (POSIX mailx recognises them whatever the input is).
//
// An interrupt (POSIX mailx, ASYNCHRONOUS EVENTS) drops the line being
// typed: with the ignore variable set it shows "@" and goes on; else the
// first asks for one more, and a second straight after kills the letter,
// saved to DEAD unless save is unset.
func (s *Session) collect(d *Draft) error {
	s.sending = true
	defer func() { s.sending = false }()
	if s.o.Terminal {
		if !d.HasSubject && s.isSet("asksub") {
			v, err := s.in.ReadLine("Subject: ")
			if errors.Is(err, errInterrupted) {
				return ErrKilled // nothing written yet
			}
			if err != nil && err != io.EOF {
				return err
			}
			d.Subject, d.HasSubject = v, true
		}
	}
	esc := s.escapeChar()
	interrupted := false
	s.intr.Store(false)
	for {
		line, err := s.in.ReadLine("")
		if s.intr.Swap(false) && err == nil {
			// SIGINT came between two lines, while the terminal was not
			// in raw mode: the line read after it is dropped as typed
			// after the interrupt would have been.
			err = errInterrupted
		}
		switch {
		case errors.Is(err, errInterrupted) && s.isSet("ignore"):
			fmt.Fprintln(s.out, "@")
			continue
		case errors.Is(err, errInterrupted) && interrupted:
			s.writeDead(d.body.Bytes(), true)
			return ErrKilled
		case errors.Is(err, errInterrupted):
			fmt.Fprintln(s.out, "\n(Interrupt -- one more to kill letter)")
			interrupted = true
			continue
		}
		interrupted = false
		if err == io.EOF {
			if s.o.Terminal && s.isSet("ignoreeof") {
				fmt.Fprintln(s.out, `Use "." to terminate letter`)
				continue
			}
			break
		}
		if err != nil {
			return err
		}
		// A lone dot ends a message typed on a terminal only (POSIX
		// dot), so a piped body keeps its "." lines.
		if line == "." && s.o.Terminal && (s.isSet("dot") || s.isSet("ignoreeof")) {
			break
		}
		if esc != "" && strings.HasPrefix(line, esc) && len(line) > len(esc) {
			done, err := s.tilde(d, line[len(esc):])
			if errors.Is(err, ErrNotSent) {
				return err
			}
			if err != nil {
				s.warn("%v", err)
			}
			if done {
				break
			}
			continue
		}
		d.body.WriteString(line + "\n")
	}
	if s.o.Terminal {
		if s.isSet("askcc") {
			if v, err := s.in.ReadLine("Cc: "); err == nil {
				d.Cc = append(d.Cc, splitAddrs(v)...)
			}
		}
		if s.isSet("askbcc") {
			if v, err := s.in.ReadLine("Bcc: "); err == nil {
				d.Bcc = append(d.Bcc, splitAddrs(v)...)
			}
		}
		fmt.Fprintln(s.out, "EOT")
	}
	return nil
}

// expandAliases replaces alias names with their members, recursively.
// Unless metoo is set it drops the user's own addresses among the members
// of an alias ("sending to a group", POSIX) and, with drop, everywhere
// (a reply's recipients).
func (s *Session) expandAliases(in []string, drop bool) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(names []string, depth int)
	walk = func(names []string, depth int) {
		for _, n := range names {
			if v, ok := s.aliases[n]; ok && depth < 20 && !seen["alias:"+n] {
				seen["alias:"+n] = true
				walk(v, depth+1)
				continue
			}
			if seen[n] || (drop || depth > 0) && !s.isSet("metoo") && s.isMe(mimeview.Skin(n)) {
				continue
			}
			seen[n] = true
			out = append(out, n)
		}
	}
	walk(in, 0)
	return out
}

// deliver builds d and hands it to sendmail -t -i. On failure the draft
// goes to DEAD (unless save is unset) and the error is returned.
func (s *Session) deliver(d *Draft) error {
	if d.body.Len() == 0 {
		if d.NoEmpty {
			return ErrNotSent
		}
		if s.o.Terminal {
			fmt.Fprintln(s.errw, "Null message body; hope that's ok")
		}
	}
	to := s.expandAliases(d.To, false)
	cc := s.expandAliases(d.Cc, false)
	bcc := s.expandAliases(d.Bcc, false)
	if len(to)+len(cc)+len(bcc) == 0 {
		s.saveDead(d.body.Bytes())
		return fmt.Errorf("No recipients specified")
	}
	for _, a := range append(append(append([]string(nil), to...), cc...), bcc...) {
		if strings.HasPrefix(strings.TrimSpace(a), "-") {
			s.saveDead(d.body.Bytes())
			return fmt.Errorf("refusing address %q: it starts with -", a)
		}
	}
	from := d.From
	if from == "" {
		from = s.vars["from"]
	}
	m := &compose.Message{
		From: from, To: to, Cc: cc, Bcc: bcc, Subject: d.Subject, Headers: d.headers,
		Body: d.body.Bytes(), Attachments: d.Attach, Hostname: s.o.Hostname,
		InputCharset: s.localeCharset(), SendCharsets: splitCharsets(s.vars["sendcharsets"]),
	}
	var msg bytes.Buffer
	if err := compose.Build(&msg, m); err != nil {
		s.saveDead(d.body.Bytes())
		return err
	}
	record, byAuthor := d.record, d.record != ""
	if record == "" && s.o.RecordByRecipient && len(to) > 0 {
		record, byAuthor = authorName(to[0]), true // -F (POSIX), over the record variable
	}
	if record == "" {
		record = s.vars["record"]
	}
	if record != "" {
		if err := s.recordTo(record, byAuthor, msg.Bytes()); err != nil {
			s.warn("record: %v", err)
		}
	}
	if err := s.sendmail(msg.Bytes(), d.From); err != nil {
		s.saveDead(msg.Bytes())
		return err
	}
	for _, i := range d.answers {
		if s.f != nil && i < len(s.f.msgs) {
			s.f.msgs[i].flags |= mbox.Answered
		}
	}
	return nil
}

// sendmail runs the sendmail variable's program with -t -i (and -f for
// -r), the message on its standard input.
func (s *Session) sendmail(msg []byte, from string) error {
	prog := s.vars["sendmail"]
	if prog == "" {
		prog = "/usr/sbin/sendmail"
	}
	argv := []string{"-t", "-i"}
	if from != "" {
		addr := mimeview.Skin(from)
		if strings.HasPrefix(addr, "-") {
			return fmt.Errorf("refusing sender %q", from)
		}
		argv = append(argv, "-f", addr)
	}
	if s.isSet("debug") {
		// POSIX (XSI) debug: say what would be done; deliver nothing.
		fmt.Fprintf(s.out, "debug: not sent: %s %s\n%s", prog, strings.Join(argv, " "), msg)
		return nil
	}
	cmd := exec.Command(prog, argv...)
	cmd.Stdin = bytes.NewReader(msg)
	cmd.Stdout, cmd.Stderr = s.errw, s.errw
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return fmt.Errorf("%s exited %d: message not sent", prog, exit.ExitCode())
	}
	if err != nil {
		return fmt.Errorf("run %s: %w: message not sent", prog, err)
	}
	return nil
}

// saveDead appends a draft that could not be sent to DEAD, in mbox form,
// as s-nail does; unset save turns this off (POSIX). A letter killed by
// interrupts replaces what DEAD held, as POSIX says (BSD mail and s-nail
// append it too).
func (s *Session) saveDead(text []byte) { s.writeDead(text, false) }

func (s *Session) writeDead(text []byte, replace bool) {
	if !s.isSet("save") || len(text) == 0 {
		return
	}
	path, err := s.expandPath(s.setting("DEAD"))
	if err == nil {
		var mb *mbox.Mailbox
		if mb, err = mbox.Open(path, mbox.OpenOptions{Create: true, Owner: -1, NoDotLockOK: true, Lock: s.o.Lock, Warn: s.warn}); err == nil {
			if replace {
				err = mb.File.Truncate(0)
			}
			if err == nil {
				err = mb.Append(context.Background(), func(w io.Writer) error {
					_, err := mbox.WriteMessage(w, mbox.FromLine(s.o.User, time.Now()), bytes.NewReader(text))
					return err
				})
			}
			mb.Close()
		}
	}
	if err != nil {
		s.warn("dead letter: %v", err)
		return
	}
	fmt.Fprintf(s.errw, "Draft saved in %s\n", path)
}

// cmdMail composes a new message to the given addresses.
func cmdMail(s *Session, a *args) error {
	d := &Draft{To: a.words}
	if err := s.collect(d); err != nil {
		return err
	}
	return s.deliver(d)
}

// origHeader reads message i's header fields, decoded.
func (s *Session) origHeader(i int) map[string]string {
	h := map[string]string{}
	var block bytes.Buffer
	r := s.f.content(i)
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		block.Write(buf[:n])
		if bytes.Contains(block.Bytes(), []byte("\n\n")) || err != nil || block.Len() > 1<<20 {
			break
		}
	}
	mbox.HeaderFields(block.Bytes(), func(name, value []byte) {
		k := strings.ToLower(string(name))
		if _, ok := h[k]; !ok {
			h[k] = string(value)
		}
	})
	return h
}

// addrsOf parses an address field into bare addresses.
func addrsOf(v string) []string {
	if v == "" {
		return nil
	}
	if list, err := (&mail.AddressParser{}).ParseList(v); err == nil {
		out := make([]string, len(list))
		for i, a := range list {
			out[i] = a.Address
		}
		return out
	}
	return []string{mimeview.Skin(mimeview.DecodeHeader(v))}
}

// reply composes an answer. all answers the sender and every recipient of
// the first message; otherwise the senders of every message in list
// (POSIX reply and Reply; flipr swaps them).
func (s *Session) reply(list []int, all bool, record string) error {
	if s.isSet("flipr") {
		all = !all
	}
	first := s.origHeader(list[0])
	d := &Draft{HasSubject: true, answers: list, record: record}
	sender := func(h map[string]string) []string {
		if v := addrsOf(h["reply-to"]); len(v) > 0 {
			return v
		}
		if v := addrsOf(h["from"]); len(v) > 0 {
			return v
		}
		return []string{s.f.summary(list[0]).from}
	}
	if all {
		d.To = sender(first)
		d.To = append(d.To, s.expandAliases(addrsOf(first["to"]), true)...)
		d.Cc = s.expandAliases(addrsOf(first["cc"]), true)
		d.answers = list[:1]
	} else {
		for _, i := range list {
			d.To = append(d.To, sender(s.origHeader(i))...)
		}
	}
	subj := mimeview.DecodeHeader(first["subject"])
	if !strings.HasPrefix(strings.ToLower(subj), "re:") {
		subj = "Re: " + subj
	}
	d.Subject = subj
	if id := strings.TrimSpace(first["message-id"]); id != "" {
		d.headers = append(d.headers, [2]string{"In-Reply-To", id})
		refs := strings.TrimSpace(first["references"] + " " + id)
		d.headers = append(d.headers, [2]string{"References", refs})
	}
	fmt.Fprintf(s.out, "To: %s\nSubject: %s\n", strings.Join(d.To, ", "), d.Subject)
	if err := s.collect(d); err != nil {
		return err
	}
	for _, i := range list {
		s.markRead(i)
	}
	return s.deliver(d)
}

func cmdReplyAll(s *Session, a *args) error    { return s.reply(a.list, true, "") }
func cmdReplySender(s *Session, a *args) error { return s.reply(a.list, false, "") }

func cmdFollowup(s *Session, a *args) error {
	return s.reply(a.list[:1], false, authorName(s.f.summary(a.list[0]).from))
}

func cmdFollowupAll(s *Session, a *args) error {
	return s.reply(a.list, false, authorName(s.f.summary(a.list[0]).from))
}

// readDraftFile reads a file, or a command's output for "!cmd", for ~r.
func (s *Session) readDraftFile(arg string) ([]byte, error) {
	if strings.HasPrefix(arg, "!") {
		cmd := exec.Command(s.setting("SHELL"), "-c", arg[1:])
		cmd.Stderr = s.errw
		return cmd.Output()
	}
	p, err := s.expandPath(arg)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

// localeCharset is the charset of the locale (LC_ALL, else LC_CTYPE, else
// LANG: "de_DE.ISO-8859-1@euro" is ISO-8859-1), the one the user types
// in; "" (UTF-8) for none, C and POSIX, whose ASCII UTF-8 includes.
func (s *Session) localeCharset() string {
	for _, v := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
		if l := s.o.Getenv(v); l != "" {
			l, _, _ = strings.Cut(l, "@")
			_, cs, _ := strings.Cut(l, ".")
			return cs
		}
	}
	return ""
}

// splitCharsets reads sendcharsets: charsets separated by commas.
func splitCharsets(v string) []string {
	var out []string
	for _, cs := range strings.Split(v, ",") {
		if cs = strings.TrimSpace(cs); cs != "" {
			out = append(out, cs)
		}
	}
	return out
}
