package pop3

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"unixmail/pkg/daemon"
)

// IdleTimeout: RFC 1939 3 asks for at least 10 minutes of idleness before
// an autologout. Before login a client has no reason to dawdle: the wait
// is client_login_timeout.
const IdleTimeout = 10 * time.Minute

// maxLine bounds a command line. RFC 2449 4 allows 255 octets; AUTH PLAIN
// responses (RFC 5034) can be longer, so we take a little more and treat
// anything past it as a bad command.
const maxLine = 2048

// maxErrors is how many bad commands (unknown, out of place, malformed)
// a session gets before it is closed: a client sending garbage gets
// answers until then, a flood ends there.
const maxErrors = 20

// Server is the POP3 service for one connection.
type Server struct {
	Client   *daemon.Client
	Open     Opener
	Hostname string
	// APOP holds the per-user APOP secrets; nil leaves APOP off (see
	// ipop3d(8) for why it should stay off).
	APOP map[string]string
}

type state int

const (
	authorization state = iota
	transaction
)

// session is the state of one connection.
type session struct {
	srv    *Server
	c      *daemon.Client
	r      *bufio.Reader
	w      *bufio.Writer
	state  state
	user   string // from USER, waiting for PASS
	banner string // the APOP timestamp, <pid.clock@host>
	errors int

	name      string // who logged in
	drop      Maildrop
	msgs      []int64 // each message's size as RETR sends it; -1 until counted
	deleted   []bool
	retrieved []bool
	uids      []string
	retrN     int
	retrBytes int64
	text      *bufio.Reader // reused for every message sent
}

// errClose ends a session after its last reply.
var errClose = errors.New("close")

// Serve runs the session to its end. A session that ends any other way
// than QUIT in the TRANSACTION state changes nothing in the maildrop.
func (s *Server) Serve() error {
	ss := &session{srv: s, c: s.Client}
	ss.reset()
	ss.banner = fmt.Sprintf("<%d.%d@%s>", os.Getpid(), time.Now().UnixNano(), s.Hostname)
	defer func() {
		if ss.drop != nil {
			ss.drop.Close()
		}
	}()
	greeting := "POP3 server ready"
	if s.APOP != nil {
		greeting += " " + ss.banner
	}
	ss.reply("+OK %s", greeting)
	for {
		if err := ss.flush(); err != nil {
			return nil
		}
		line, err := ss.readLine()
		switch {
		case errors.Is(err, errLineTooLong):
			if ss.bad("-ERR line too long") {
				ss.w.Flush()
				return nil
			}
			continue
		case errors.Is(err, os.ErrDeadlineExceeded):
			ss.reply("-ERR autologout: idle for too long")
			ss.w.Flush()
			return nil
		case err != nil:
			return nil // the client went away: nothing changes
		}
		if err := ss.dispatch(line); errors.Is(err, errClose) {
			ss.w.Flush()
			return nil
		}
	}
}

// reset makes new buffers over the connection, at the start and after STLS.
func (ss *session) reset() {
	ss.r = bufio.NewReaderSize(ss.c.Conn, maxLine)
	ss.w = bufio.NewWriterSize(ss.c.Conn, 64<<10)
}

var errLineTooLong = errors.New("line too long")

// readLine reads one command line without its line end, within the idle
// timeout of the session's state.
func (ss *session) readLine() (string, error) {
	timeout := ss.c.Config.ClientLoginTimeout
	if ss.state == transaction {
		timeout = IdleTimeout
	}
	ss.c.Conn.SetReadDeadline(time.Now().Add(timeout))
	ss.c.Conn.SetWriteDeadline(time.Now().Add(IdleTimeout))
	line, err := ss.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = ss.r.ReadSlice('\n')
		}
		if err != nil {
			return "", err
		}
		return "", errLineTooLong
	}
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

// reply writes a response line; it goes out at the next flush.
func (ss *session) reply(format string, args ...any) {
	fmt.Fprintf(ss.w, format, args...)
	ss.w.WriteString("\r\n")
}

// flush sends what is waiting unless the client has already sent more
// commands (RFC 2449 PIPELINING): their answers go out together.
func (ss *session) flush() error {
	if ss.r.Buffered() > 0 {
		return nil
	}
	return ss.w.Flush()
}

// bad answers a bad command and reports whether the session has had too
// many and must close.
func (ss *session) bad(msg string) bool {
	ss.errors++
	if ss.errors >= maxErrors {
		ss.reply("%s; too many bad commands, closing", msg)
		return true
	}
	ss.reply("%s", msg)
	return false
}

// command is one row of the command table.
type command struct {
	name  string
	state state
	run   func(ss *session, args string) error
}

// commands: RFC 1939 and its extensions, by the state they work in.
// CAPA and QUIT work in both and are handled before the table.
var commands = []command{
	{"USER", authorization, (*session).cmdUser},
	{"PASS", authorization, (*session).cmdPass},
	{"APOP", authorization, (*session).cmdAPOP},
	{"AUTH", authorization, (*session).cmdAuth},
	{"STLS", authorization, (*session).cmdSTLS},
	{"STAT", transaction, (*session).cmdStat},
	{"LIST", transaction, (*session).cmdList},
	{"RETR", transaction, (*session).cmdRetr},
	{"TOP", transaction, (*session).cmdTop},
	{"DELE", transaction, (*session).cmdDele},
	{"NOOP", transaction, (*session).cmdNoop},
	{"RSET", transaction, (*session).cmdRset},
	{"UIDL", transaction, (*session).cmdUidl},
}

// dispatch runs one command line.
func (ss *session) dispatch(line string) error {
	name, args, _ := strings.Cut(line, " ")
	name = strings.ToUpper(name)
	switch name {
	case "CAPA":
		return ss.cmdCapa()
	case "QUIT":
		return ss.cmdQuit()
	}
	for _, c := range commands {
		if c.name != name {
			continue
		}
		if c.state != ss.state {
			return ss.badClose("-ERR " + name + " is not valid in this state")
		}
		return c.run(ss, args)
	}
	return ss.badClose("-ERR unknown command")
}

// badClose is bad as a command's result.
func (ss *session) badClose(msg string) error {
	if ss.bad(msg) {
		return errClose
	}
	return nil
}

func (ss *session) cmdCapa() error {
	ss.reply("+OK capability list follows")
	caps := []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER", "IMPLEMENTATION unixmail"}
	if ss.state == authorization {
		if ss.c.PlaintextOK() {
			caps = append(caps, "USER", "SASL PLAIN")
		}
		if ss.c.CanStartTLS() {
			caps = append(caps, "STLS")
		}
	}
	for _, c := range caps {
		ss.reply("%s", c)
	}
	ss.reply(".")
	return nil
}

func (ss *session) cmdQuit() error {
	if ss.state == authorization {
		ss.reply("+OK bye")
		return errClose
	}
	drop := ss.drop
	ss.drop = nil // Commit or nothing: never Close as well
	err := drop.Commit(ss.deleted, ss.retrieved)
	dels, left := 0, 0
	for _, d := range ss.deleted {
		if d {
			dels++
		} else {
			left++
		}
	}
	ss.c.Log.Info("logout user=<%s> rip=%s retr=%d del=%d size=%d", ss.name, ss.c.Peer, ss.retrN, dels, ss.retrBytes)
	if err != nil {
		ss.c.Log.Error("user=<%s> update: %v", ss.name, err)
		ss.reply("-ERR [SYS/TEMP] some deleted messages were not removed: %s", oneLine(err))
		return errClose
	}
	ss.reply("+OK bye (%d messages left)", left)
	return errClose
}

// oneLine is an error's text fit for a response line.
func oneLine(err error) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(err.Error())
}
