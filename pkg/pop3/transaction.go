package pop3

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// count is the number and total size of the messages not marked deleted.
func (ss *session) count() (n int, size int64, err error) {
	for i := range ss.msgs {
		if !ss.deleted[i] {
			m, err := ss.size(i)
			if err != nil {
				return 0, 0, err
			}
			n++
			size += m
		}
	}
	return n, size, nil
}

// unreadable answers a command that needed a message it could not read.
func (ss *session) unreadable(err error) {
	ss.c.Log.Error("user=<%s> %v", ss.name, err)
	ss.reply("-ERR [SYS/TEMP] cannot read the maildrop: %s", oneLine(err))
}

// message parses a message number argument: decimal digits naming a
// message that is not marked deleted. It answers the error itself.
func (ss *session) message(arg string) (int, bool) {
	if arg == "" || len(arg) > 10 || strings.Trim(arg, "0123456789") != "" {
		ss.bad("-ERR want a message number")
		return 0, false
	}
	n, err := strconv.Atoi(arg)
	if err != nil || n < 1 || n > len(ss.msgs) {
		ss.bad("-ERR no such message")
		return 0, false
	}
	if ss.deleted[n-1] {
		ss.bad("-ERR message " + arg + " is deleted")
		return 0, false
	}
	return n - 1, true
}

// closeIfFlooded turns too many bad commands into the end of the session.
func (ss *session) closeIfFlooded() error {
	if ss.errors >= maxErrors {
		return errClose
	}
	return nil
}

func (ss *session) cmdStat(args string) error {
	if args != "" {
		return ss.badClose("-ERR STAT takes no argument")
	}
	n, size, err := ss.count()
	if err != nil {
		ss.unreadable(err)
		return nil
	}
	ss.reply("+OK %d %d", n, size)
	return nil
}

func (ss *session) cmdList(args string) error {
	if args != "" {
		i, ok := ss.message(args)
		if !ok {
			return ss.closeIfFlooded()
		}
		size, err := ss.size(i)
		if err != nil {
			ss.unreadable(err)
			return nil
		}
		ss.reply("+OK %d %d", i+1, size)
		return nil
	}
	n, size, err := ss.count()
	if err != nil {
		ss.unreadable(err)
		return nil
	}
	ss.listing(fmt.Sprintf("+OK %d messages (%d octets)", n, size), func(i int) string {
		return strconv.FormatInt(ss.msgs[i], 10)
	})
	return nil
}

// listing sends a multi-line answer: first, then a line for each message
// not deleted, its number and what line says of it (RFC 1939 LIST, UIDL).
func (ss *session) listing(first string, line func(i int) string) {
	ss.reply("%s", first)
	for i := range ss.msgs {
		if !ss.deleted[i] {
			ss.reply("%d %s", i+1, line(i))
		}
	}
	ss.reply(".")
}

func (ss *session) cmdUidl(args string) error {
	if ss.uids == nil {
		uids, err := ss.drop.UIDs()
		if err != nil {
			ss.c.Log.Error("user=<%s> UIDL: %v", ss.name, err)
			ss.reply("-ERR [SYS/TEMP] cannot give unique-ids now: %s", oneLine(err))
			return nil
		}
		// Recording UIDs adds only header fields RETR leaves out: the
		// sizes counted stay right.
		ss.uids = uids
	}
	if args != "" {
		i, ok := ss.message(args)
		if !ok {
			return ss.closeIfFlooded()
		}
		ss.reply("+OK %d %s", i+1, ss.uids[i])
		return nil
	}
	ss.listing("+OK unique-id listing follows", func(i int) string { return ss.uids[i] })
	return nil
}

func (ss *session) cmdRetr(args string) error {
	i, ok := ss.message(args)
	if !ok {
		return ss.closeIfFlooded()
	}
	size, err := ss.size(i)
	if err != nil {
		ss.unreadable(err)
		return nil
	}
	if err := ss.send(i, -1, "+OK %d octets", size); err != nil {
		return err
	}
	ss.retrieved[i] = true
	ss.retrN++
	ss.retrBytes += size
	return nil
}

func (ss *session) cmdTop(args string) error {
	msg, lines, ok := strings.Cut(args, " ")
	if !ok || lines == "" || len(lines) > 9 || strings.Trim(lines, "0123456789") != "" {
		return ss.badClose("-ERR usage: TOP msg lines")
	}
	i, ok := ss.message(msg)
	if !ok {
		return ss.closeIfFlooded()
	}
	n, _ := strconv.Atoi(lines)
	return ss.send(i, n, "+OK top of message follows")
}

// send answers with message i (bodyLines of its body, or all when < 0)
// as a multi-line response. A message that cannot be read gets -ERR if
// nothing has been sent yet; once the text has started, the connection
// is closed, since a client cannot tell a cut message from a whole one.
func (ss *session) send(i, bodyLines int, format string, args ...any) error {
	rc, mboxrd, err := ss.open(i)
	if err != nil {
		ss.c.Log.Error("user=<%s> message %d: %v", ss.name, i+1, err)
		ss.reply("-ERR [SYS/TEMP] cannot read message %d: %s", i+1, oneLine(err))
		return nil
	}
	defer rc.Close()
	ss.reply(format, args...)
	if err := writeText(ss.w, ss.reader(rc), bodyLines, mboxrd, true); err != nil {
		ss.c.Log.Error("user=<%s> message %d: %v", ss.name, i+1, err)
		return errClose
	}
	ss.reply(".")
	return nil
}

func (ss *session) cmdDele(args string) error {
	i, ok := ss.message(args)
	if !ok {
		return ss.closeIfFlooded()
	}
	ss.deleted[i] = true
	ss.reply("+OK message %d deleted", i+1)
	return nil
}

func (ss *session) cmdNoop(args string) error {
	if args != "" {
		return ss.badClose("-ERR NOOP takes no argument")
	}
	ss.reply("+OK")
	return nil
}

func (ss *session) cmdRset(args string) error {
	if args != "" {
		return ss.badClose("-ERR RSET takes no argument")
	}
	clear(ss.deleted)
	n, size, err := ss.count()
	if err != nil {
		ss.unreadable(err)
		return nil
	}
	ss.reply("+OK maildrop has %d messages (%d octets)", n, size)
	return nil
}

func unknownSizes(n int) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = -1
	}
	return s
}

// size is message i's size exactly as RETR sends it (RFC 1939 5: LIST
// and STAT give "the exact size"): the server's own rendering of it
// counted, CRLF line ends, mbox quoting undone, before the dot-stuffing.
// The maildrop may know it (Sizer); else it is counted once, on first need.
func (ss *session) size(i int) (int64, error) {
	if ss.msgs[i] >= 0 {
		return ss.msgs[i], nil
	}
	if sz, ok := ss.drop.(Sizer); ok {
		if n := sz.Size(i); n >= 0 {
			ss.msgs[i] = n
			return n, nil
		}
	}
	rc, mboxrd, err := ss.open(i)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	var n countWriter
	w := bufio.NewWriterSize(&n, 64<<10)
	if err := writeText(w, ss.reader(rc), -1, mboxrd, false); err != nil {
		return 0, fmt.Errorf("message %d: %w", i+1, err)
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	ss.msgs[i] = int64(n)
	return ss.msgs[i], nil
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

// open opens message i as writeText wants it.
func (ss *session) open(i int) (io.ReadCloser, bool, error) {
	if raw, ok := ss.drop.(RawOpener); ok {
		rc, err := raw.OpenRaw(i)
		return rc, true, err
	}
	rc, err := ss.drop.Open(i)
	return rc, false, err
}

// reader is the session's one read buffer, reading r.
func (ss *session) reader(r io.Reader) *bufio.Reader {
	if ss.text == nil {
		ss.text = bufio.NewReaderSize(r, 64<<10)
	} else {
		ss.text.Reset(r)
	}
	return ss.text
}
