package mailx

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"unixmail/pkg/mbox"
	"unixmail/pkg/mimeview"
)

// showHeader is the ignore/retain rule: retained fields only when any are
// retained, else every field not ignored (POSIX).
func (s *Session) showHeader(field string) bool {
	f := strings.ToLower(field)
	if len(s.retain) > 0 {
		return s.retain[f]
	}
	return !s.ignore[f]
}

// render writes message i for reading (decoded) or raw.
func (s *Session) render(w io.Writer, i int, raw bool) error {
	return mimeview.Render(w, s.f.content(i), mimeview.Options{ShowHeader: s.showHeader, Raw: raw,
		Verbatim: s.isSet("rawprint"), Width: s.o.Width})
}

// markRead records that message i was shown.
func (s *Session) markRead(i int) {
	m := &s.f.msgs[i]
	m.flags |= mbox.Seen
	m.mark |= mTouched
	s.f.dot = i
}

// printMessages shows messages, through the pager when the output is a
// terminal and they are longer than crt lines (or always, for more/page).
func (s *Session) printMessages(list []int, raw, page bool) error {
	var buf bytes.Buffer
	for _, i := range list {
		if s.interrupted() {
			return errInterrupted
		}
		if s.isSet("page") && buf.Len() > 0 {
			buf.WriteString("\f\n")
		}
		fmt.Fprintf(&buf, "Message %d:\n", i+1)
		// The From_ line is part of the header (POSIX OUTPUT FILES):
		// print and type show it as stored, as BSD mail and s-nail do, not
		// one rebuilt from From:, which is the author, not the envelope.
		from, err := s.fromLineOf(i)
		if err != nil {
			return err
		}
		if !raw || !s.isSet("rawprint") {
			from = mimeview.Sanitize(from)
		}
		fmt.Fprintln(&buf, from)
		if !raw {
			if hdr, err := s.f.header(i); err == nil {
				buf.WriteString(s.authLine(hdr))
			}
		}
		if err := s.render(&buf, i, raw); err != nil {
			return err
		}
		if !bytes.HasSuffix(buf.Bytes(), []byte("\n")) {
			buf.WriteByte('\n')
		}
		s.markRead(i)
	}
	return s.pageOut(buf.Bytes(), page)
}

// pageOut writes text, through $PAGER on a terminal when asked to or when
// it is longer than crt lines (crt set without a value is the screen).
func (s *Session) pageOut(text []byte, force bool) error {
	if s.o.Terminal {
		lines := bytes.Count(text, []byte("\n"))
		crt, crtSet := s.vars["crt"]
		limit := s.o.Height
		if crtSet && crt != "" {
			limit = s.intVar("crt", s.o.Height)
		}
		if s.interrupted() {
			return errInterrupted
		}
		if force || crtSet && lines > limit {
			cmd := exec.Command(s.setting("SHELL"), "-c", s.setting("PAGER"))
			cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(text), os.Stdout, os.Stderr
			err := cmd.Run()
			if err == nil {
				return nil
			}
			if s.interrupted() {
				return errInterrupted // the pager was stopped: do not print it all
			}
		}
	}
	_, err := s.out.Write(text)
	return err
}

func cmdPrint(s *Session, a *args) error    { return s.printMessages(a.list, false, false) }
func cmdPrintRaw(s *Session, a *args) error { return s.printMessages(a.list, true, false) }
func cmdMore(s *Session, a *args) error     { return s.printMessages(a.list, false, true) }
func cmdMoreRaw(s *Session, a *args) error  { return s.printMessages(a.list, true, true) }

// cmdTop prints the first toplines lines of each message as print shows
// it, header fields included, as POSIX, BSD mail and s-nail count them.
func cmdTop(s *Session, a *args) error {
	n := s.intVar("toplines", 5)
	for _, i := range a.list {
		if s.interrupted() {
			return errInterrupted
		}
		var buf bytes.Buffer
		if err := s.render(&buf, i, false); err != nil {
			return err
		}
		fmt.Fprintf(s.out, "Message %d:\n", i+1)
		sc := bufio.NewScanner(&buf)
		for k := 0; k < n && sc.Scan(); k++ {
			fmt.Fprintln(s.out, sc.Text())
		}
		s.markRead(i) // POSIX: top makes a message read
	}
	return nil
}

// cmdNext goes to the next undeleted message (or the one given) and
// prints it. The first next of a session prints the current message if
// it was not read yet; right after hold, preserve, mbox or touch the
// current message counts as read (POSIX).
func cmdNext(s *Session, a *args) error {
	f := s.f
	if len(a.list) > 0 && a.list[0] != f.dot {
		return s.printMessages(a.list[:1], false, false)
	}
	start := f.dot
	switch s.prevCmd {
	case "hold", "preserve", "mbox", "touch":
		start++
	default:
		if f.msgs[start].mark&(mTouched|mDeleted) != 0 {
			start++
		}
	}
	for i := start; i < len(f.msgs); i++ {
		if f.msgs[i].mark&mDeleted == 0 {
			return s.printMessages([]int{i}, false, false)
		}
	}
	return s.atEOF()
}

// atEOF says there are no further messages: information, not an error,
// so on standard output and with no effect on the exit status (POSIX next
// and dp; BSD mail does the same).
func (s *Session) atEOF() error {
	fmt.Fprintln(s.out, "At EOF")
	return nil
}

func cmdPrevious(s *Session, _ *args) error {
	for i := s.f.dot - 1; i >= 0; i-- {
		if s.f.msgs[i].mark&mDeleted == 0 {
			return s.printMessages([]int{i}, false, false)
		}
	}
	return fmt.Errorf("No previous message")
}

// remark gives each listed message mark set in place of mark clear (the
// fates at quit exclude one another) and makes the last one current.
func (s *Session) remark(list []int, clear, set mark) {
	for _, i := range list {
		s.f.msgs[i].mark = s.f.msgs[i].mark&^clear | set
		s.f.dot = i
	}
}

// cmdTouch marks messages to go to MBOX at quit, undoing hold (POSIX).
func cmdTouch(s *Session, a *args) error {
	s.remark(a.list, mPreserved, mTouched)
	return nil
}

func cmdUnread(s *Session, a *args) error {
	for _, i := range a.list {
		m := &s.f.msgs[i]
		m.flags &^= mbox.Seen
		m.mark &^= mTouched
		s.f.dot = i
	}
	return nil
}

// deleteList marks messages deleted and makes the next undeleted message
// after the last one current (the one autoprint and dp show).
func (s *Session) deleteList(list []int) {
	f := s.f
	for _, i := range list {
		f.msgs[i].mark |= mDeleted
		f.msgs[i].mark &^= mPreserved | mMbox
	}
	last := list[len(list)-1]
	for i := last + 1; i < len(f.msgs); i++ {
		if f.msgs[i].mark&mDeleted == 0 {
			f.dot = i
			return
		}
	}
	for i := last - 1; i >= 0; i-- {
		if f.msgs[i].mark&mDeleted == 0 {
			f.dot = i
			return
		}
	}
	f.dot = last
}

func cmdDelete(s *Session, a *args) error {
	s.deleteList(a.list)
	return nil
}

// cmdDeletePrint is dp and dt: it prints the new current message only
// when it follows the last one deleted (POSIX; BSD mail and s-nail print
// the one before it too).
func cmdDeletePrint(s *Session, a *args) error {
	s.deleteList(a.list)
	if s.f.dot < a.list[len(a.list)-1] || s.f.msgs[s.f.dot].mark&mDeleted != 0 {
		return s.atEOF()
	}
	return s.printMessages([]int{s.f.dot}, false, false)
}

// cmdUndelete makes deleted messages read (POSIX).
func cmdUndelete(s *Session, a *args) error {
	for _, i := range a.list {
		s.f.msgs[i].mark &^= mDeleted | mSaved
		s.markRead(i)
	}
	return nil
}

func cmdHold(s *Session, a *args) error {
	s.remark(a.list, mMbox, mPreserved)
	return nil
}

func cmdMbox(s *Session, a *args) error {
	s.remark(a.list, mPreserved, mMbox)
	return nil
}

func cmdFlag(s *Session, a *args) error {
	for _, i := range a.list {
		s.f.msgs[i].flags |= mbox.Flagged
		s.f.dot = i
	}
	return nil
}

func cmdUnflag(s *Session, a *args) error {
	for _, i := range a.list {
		s.f.msgs[i].flags &^= mbox.Flagged
		s.f.dot = i
	}
	return nil
}
