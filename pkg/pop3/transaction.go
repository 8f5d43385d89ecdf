package pop3

import (
	"bufio"
	"strconv"
	"strings"
)

// count is the number and total size of the messages not marked deleted.
func (ss *session) count() (n int, size int64) {
	for i, m := range ss.msgs {
		if !ss.deleted[i] {
			n++
			size += m.Size
		}
	}
	return n, size
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
	n, size := ss.count()
	ss.reply("+OK %d %d", n, size)
	return nil
}

func (ss *session) cmdList(args string) error {
	if args != "" {
		i, ok := ss.message(args)
		if !ok {
			return ss.closeIfFlooded()
		}
		ss.reply("+OK %d %d", i+1, ss.msgs[i].Size)
		return nil
	}
	n, size := ss.count()
	ss.reply("+OK %d messages (%d octets)", n, size)
	for i, m := range ss.msgs {
		if !ss.deleted[i] {
			ss.reply("%d %d", i+1, m.Size)
		}
	}
	ss.reply(".")
	return nil
}

func (ss *session) cmdUidl(args string) error {
	if ss.uids == nil {
		uids, err := ss.drop.UIDs()
		if err != nil {
			ss.c.Log.Error("user=<%s> UIDL: %v", ss.name, err)
			ss.reply("-ERR [SYS/TEMP] cannot give unique-ids now: %s", oneLine(err))
			return nil
		}
		ss.uids = uids
		// Recording UIDs adds header fields: the sizes grow with them.
		ss.msgs = ss.drop.Messages()
	}
	if args != "" {
		i, ok := ss.message(args)
		if !ok {
			return ss.closeIfFlooded()
		}
		ss.reply("+OK %d %s", i+1, ss.uids[i])
		return nil
	}
	ss.reply("+OK unique-id listing follows")
	for i, u := range ss.uids {
		if !ss.deleted[i] {
			ss.reply("%d %s", i+1, u)
		}
	}
	ss.reply(".")
	return nil
}

func (ss *session) cmdRetr(args string) error {
	i, ok := ss.message(args)
	if !ok {
		return ss.closeIfFlooded()
	}
	if err := ss.send(i, -1, "+OK %d octets", ss.msgs[i].Size); err != nil {
		return err
	}
	ss.retrieved[i] = true
	ss.retrN++
	ss.retrBytes += ss.msgs[i].Size
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
	open, mboxrd := ss.drop.Open, false
	if raw, ok := ss.drop.(RawOpener); ok {
		open, mboxrd = raw.OpenRaw, true
	}
	rc, err := open(i)
	if err != nil {
		ss.c.Log.Error("user=<%s> message %d: %v", ss.name, i+1, err)
		ss.reply("-ERR [SYS/TEMP] cannot read message %d: %s", i+1, oneLine(err))
		return nil
	}
	defer rc.Close()
	ss.reply(format, args...)
	if ss.text == nil {
		ss.text = bufio.NewReaderSize(rc, 64<<10)
	} else {
		ss.text.Reset(rc)
	}
	if err := writeText(ss.w, ss.text, bodyLines, mboxrd); err != nil {
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
	n, size := ss.count()
	ss.reply("+OK maildrop has %d messages (%d octets)", n, size)
	return nil
}
