package mailx

import (
	"fmt"
	"strings"

	"unixmail/pkg/mbox"
)

// statusChar is the BSD header summary's state column.
func statusChar(m *msg) byte {
	switch {
	case m.mark&mDeleted != 0:
		return 'D' // only listed when asked for with :d
	case m.mark&mSaved != 0:
		return '*'
	case m.mark&mPreserved != 0:
		return 'P'
	case m.mark&mMbox != 0:
		return 'M'
	case m.flags&mbox.Seen != 0:
		if m.orig&mbox.Seen == 0 {
			return 'R' // read in this session
		}
		return ' '
	case m.isNew():
		return 'N'
	}
	return 'U'
}

// headerLine is message i's line in the BSD form
// `>N  1 alice@host            Wed Nov 25 17:12   12/340   "subject"`,
// cut to the screen width. hdr is its From_ line and header block.
func (s *Session) headerLine(i int, hdr []byte) string {
	f := s.f
	m := &f.msgs[i]
	cur := byte(' ')
	if i == f.dot {
		cur = '>'
	}
	sm := summaryOf(hdr)
	who := sm.from
	if to := s.showTo(sm.from, hdr); to != "" {
		who = "To " + to
	}
	date := ""
	if !sm.date.IsZero() {
		date = sm.date.Local().Format("Mon Jan _2 15:04")
	}
	line := fmt.Sprintf("%c%c%4d %-20.20s  %-16.16s %4d/%-5d", cur, statusChar(m), i+1, who, date, m.lines, f.size(i))
	if sm.subject != "" {
		line += " \"" + sm.subject + "\""
	}
	return fitWidth(line, s.o.Width-1)
}

// fitWidth cuts a line to at most w characters.
func fitWidth(line string, w int) string {
	n := 0
	for i := range line {
		if n == w {
			return line[:i]
		}
		n++
	}
	return line
}

// screenSize is how many header lines make one screen: the screen
// variable, else the terminal's rows less a few for the prompt.
func (s *Session) screenSize() int {
	return s.intVar("screen", max(s.o.Height-4, 5))
}

// headerScreen lists the screenful of headers that holds message i.
func (s *Session) headerScreen(i int) error {
	n := s.screenSize()
	start := (i / n) * n
	return s.listHeaders(start, start+n)
}

// listHeaders prints the summary of undeleted messages in [from, to).
func (s *Session) listHeaders(from, to int) error {
	var list []int
	for i := max(from, 0); i < min(to, len(s.f.msgs)); i++ {
		if s.f.msgs[i].mark&mDeleted == 0 {
			list = append(list, i)
		}
	}
	return s.printHeaderLines(list)
}

// PrintHeaders prints every message's summary line (mail -H).
func (s *Session) PrintHeaders() error { return s.listHeaders(0, len(s.f.msgs)) }

// cmdHeaders lists the screen of headers holding the message given (or
// the current one); a message given makes the first one listed on that
// screen current (POSIX).
func cmdHeaders(s *Session, a *args) error {
	i := s.f.dot
	if len(a.list) > 0 {
		i = a.list[0]
		n := s.screenSize()
		for top := (i / n) * n; top <= i; top++ {
			if s.f.msgs[top].mark&mDeleted == 0 {
				s.f.dot = top
				break
			}
		}
	}
	return s.headerScreen(i)
}

// cmdZ scrolls the header list a screen forward (z, z+) or back (z-).
func cmdZ(s *Session, a *args) error {
	n := s.screenSize()
	start := (s.f.dot / n) * n
	dir := strings.Join(a.words, "")
	switch dir {
	case "", "+":
		start += n
	case "-":
		start -= n
	default:
		return fmt.Errorf("z: use z, z+ or z-")
	}
	if start >= len(s.f.msgs) || start < 0 {
		return fmt.Errorf("On %s screenful of messages", map[bool]string{true: "first", false: "last"}[start < 0])
	}
	s.f.dot = start
	return s.listHeaders(start, start+n)
}

func cmdFrom(s *Session, a *args) error {
	err := s.printHeaderLines(a.list)
	s.f.dot = a.list[len(a.list)-1]
	return err
}

func cmdSize(s *Session, a *args) error {
	for _, i := range a.list {
		fmt.Fprintf(s.out, "%d: %d\n", i+1, s.f.size(i))
		s.f.dot = i
	}
	return nil
}

func cmdEquals(s *Session, _ *args) error {
	fmt.Fprintln(s.out, s.f.dot+1)
	return nil
}
