package imapd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/emersion/go-imap/v2"
)

// filter stands between the client and go-imap's imapserver, which is
// used unchanged. Reading, it answers ID (RFC 2971) itself, since the
// library hangs up on a command it does not know before login; does
// STARTTLS through the daemon runtime; passes SORT and THREAD on as the
// SEARCH they contain (see ordering); and hands the library every
// non-synchronising literal as a synchronising one, keeping the literal
// back until the library asks for it, so that a literal the library
// refuses (too big, or after a syntax error) is read and thrown away,
// never run as commands. Writing, it completes the CAPABILITY lists and
// tells the session what ENABLE turned on.
type filter struct {
	hooks hooks

	rmu  sync.Mutex // the read side: only the library's reader
	in   []byte     // read from the client, not yet handled
	out  []byte     // for the library
	lit  pendingLit // a literal announced in the last line handed over
	mode readMode
	left int64 // literal bytes still to hand over or drop
	cut  bool  // the last line taken was cut short: the next is no command's start
	nest nesting

	wmu      sync.Mutex // the write side: the library and our own replies
	partial  []byte     // the start of a response line not yet complete
	wlit     int64      // bytes of a literal in the library's output still to pass
	wcont    bool       // the next line goes on with the response before that literal
	plusSeen bool       // the library asked for the literal
	asked    bool       // it asked ("+") for a line: IDLE's DONE, an AUTHENTICATE response
	holdPlus bool       // ...and the client sent it without asking: keep the "+" back

	order *ordering // a SORT or THREAD the library runs as a SEARCH; under wmu

	// Output is gathered and written in one go at the end of each
	// command: the library flushes after every FETCH response, which on
	// FETCH 1:* of a big folder is a write(2) per message. Untagged
	// responses outside a command (IDLE's) go out within flushDelay.
	pend  []byte
	timer *time.Timer
	delay time.Duration // flushDelay; a test that counts writes makes it long
	armed bool
	werr  error // a delayed write's failure, for the next Write

	// The filter is the session's commit barrier (group commit): output
	// given while APPENDs' writes are not yet synced (dirty, since
	// dirtySince) stays in pend while the client has more commands on
	// the way; before it is written, or the filter waits for the
	// client, or a command other than APPEND runs, the writes are
	// synced (hooks.commit), once for them all. Under wmu.
	dirty      bool
	dirtySince time.Time

	once sync.Once
	done chan struct{}
	bye  string // when set, the connection ends with this BYE before the next command
}

// hangUpAfterReply ends the connection once the current command's reply
// is out (too many login failures).
func (f *filter) hangUpAfterReply(text string) { f.bye = text }

type readMode int

const (
	modeCommand      readMode = iota // at the start of a command
	modeContinuation                 // the rest of a command after a literal
	modeLiteral                      // passing a literal's bytes
	modeDrop                         // dropping a refused literal and the rest of its command
)

type pendingLit struct {
	size    int64
	nonSync bool
	active  bool
}

// hooks are what the filter needs from the session around it.
type hooks interface {
	conn() net.Conn // the connection now (TLS after STARTTLS)
	startTLS(buffered int) error
	canStartTLS() bool
	extraCaps(authenticated bool) (add, remove []string)
	authenticated() bool
	// loginTimeout is how long a client that has not logged in may be
	// silent (client_login_timeout).
	loginTimeout() time.Duration
	// enabled is told the capabilities an ENABLE turned on.
	enabled(caps []string)
	idInfo() string
	// flushDue is when the session's flag changes are to be written
	// (zero: none waiting); flush writes them.
	flushDue() time.Time
	flush() error
	// check writes them and syncs what was written in place (CHECK).
	check() error
	// unsynced reports whether APPENDs wrote what commit is yet to sync
	// (any goroutine may ask); commit syncs it, on the library's
	// goroutine only. Once commit has failed it keeps failing.
	unsynced() bool
	commit() error
}

func newFilter(h hooks) *filter {
	return &filter{hooks: h, done: make(chan struct{}), delay: flushDelay}
}

// maxLine is the longest command line the library reads (its
// maxCommandSize): past it, it fails in the middle of the line and takes
// the rest for the next command.
const maxLine = 50 << 10

// idleTimeout: RFC 3501 5.4 asks for at least 30 minutes once logged in
// (IDLE included). Before login the wait is client_login_timeout (a
// client that has not logged in within a minute is most likely not going
// to, and holds a process meanwhile). The library's own (30 s before
// login, 35 min after) are replaced: the filter sets the deadline before
// each read and ignores the library's.
const idleTimeout = 30 * time.Minute

// fill reads more from the client, within the idle timeout of the
// session's state. While the client is quiet, the session's flag changes
// are written when they fall due: the library's goroutine is here, not
// running a command, so the session is ours to use.
func (f *filter) fill() error {
	timeout := f.hooks.loginTimeout()
	if f.hooks.authenticated() {
		timeout = idleTimeout
	}
	c := f.hooks.conn()
	end := time.Now().Add(timeout)
	buf := make([]byte, 16<<10)
	if f.unsettled() {
		// What is held waits for more input only if it is there now:
		// a client that pipelines has sent it. A wait for more is a
		// wait for the replies: they go out first. A literal streaming
		// in is always there, so what was held maxHeld goes regardless.
		if !f.overdue() && c.SetReadDeadline(time.Now().Add(pollWait)) == nil {
			n, err := c.Read(buf)
			f.in = append(f.in, buf[:n]...)
			if n > 0 {
				return nil
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				if serr := f.settle(); serr != nil {
					return serr
				}
				return err
			}
		}
		if err := f.settle(); err != nil {
			return err
		}
	}
	for {
		deadline := end
		if due := f.hooks.flushDue(); !due.IsZero() && due.Before(deadline) {
			deadline = due
		}
		c.SetReadDeadline(deadline) // a terminal has none: someone is at it
		n, err := c.Read(buf)
		f.in = append(f.in, buf[:n]...)
		if n > 0 {
			return nil
		}
		if errors.Is(err, os.ErrDeadlineExceeded) && time.Now().Before(end) {
			f.hooks.flush()
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			f.reply("* BYE Autologout: idle for too long\r\n")
		}
		if err == nil {
			err = io.ErrNoProgress
		}
		return err
	}
}

// line takes one line (CRLF or LF ended) off the input, or what there is
// of a line too long to be a command.
func (f *filter) line() ([]byte, error) {
	for {
		if i := bytes.IndexByte(f.in, '\n'); i >= 0 && i < maxLine {
			l := f.in[: i+1 : i+1]
			f.in = f.in[i+1:]
			f.cut = false
			return l, nil
		}
		if len(f.in) >= maxLine {
			l := f.in[:maxLine:maxLine]
			f.in = f.in[maxLine:]
			f.cut = true
			return l, nil
		}
		if err := f.fill(); err != nil {
			if len(f.in) > 0 {
				l := f.in
				f.in = nil
				f.cut = true
				return l, nil
			}
			return nil, err
		}
	}
}

// literalAt finds a literal announcement ending a line: {N}, {N+}, and
// BINARY's ~{N}.
func literalAt(line []byte) (size int64, nonSync bool, start int, ok bool) {
	t := bytes.TrimRight(line, "\r\n")
	if !bytes.HasSuffix(t, []byte("}")) {
		return 0, false, 0, false
	}
	i := bytes.LastIndexByte(t, '{')
	if i < 0 {
		return 0, false, 0, false
	}
	num := t[i+1 : len(t)-1]
	if bytes.HasSuffix(num, []byte("+")) {
		nonSync = true
		num = num[:len(num)-1]
	}
	n, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil || n < 0 {
		return 0, false, 0, false
	}
	return n, nonSync, i, true
}

func (f *filter) Read(p []byte) (int, error) {
	f.rmu.Lock()
	defer f.rmu.Unlock()
	for len(f.out) == 0 {
		if f.bye != "" {
			f.reply("* BYE " + f.bye + "\r\n")
			return 0, io.EOF
		}
		if err := f.step(); err != nil {
			return 0, err
		}
	}
	n := copy(p, f.out)
	f.out = f.out[n:]
	return n, nil
}

// step moves the next piece of client input along.
func (f *filter) step() error {
	if f.lit.active {
		// The library has read the line announcing a literal and wants
		// more: either it sent "+" and reads the literal, or it refused
		// the command and is looking for the next one.
		f.wmu.Lock()
		plus := f.plusSeen
		f.plusSeen, f.holdPlus, f.asked = false, false, false
		f.wmu.Unlock()
		lit := f.lit
		f.lit = pendingLit{}
		switch {
		case plus:
			f.mode, f.left = modeLiteral, lit.size
		case lit.nonSync:
			// Refused: the client sends it anyway. Drop it and the rest
			// of the command; the library reads an empty line.
			f.mode, f.left = modeDrop, lit.size
			f.out = []byte("\r\n")
			return nil
		default:
			// Refused before the client sent it: the next line is a
			// new command.
			f.mode = modeCommand
		}
	}
	switch f.mode {
	case modeLiteral, modeDrop:
		for f.left > 0 {
			if len(f.in) == 0 {
				if err := f.fill(); err != nil {
					return err
				}
			}
			n := int64(len(f.in))
			if n > f.left {
				n = f.left
			}
			if f.mode == modeLiteral {
				f.out = append(f.out, f.in[:n]...)
			}
			f.in = f.in[n:]
			f.left -= n
			if f.mode == modeLiteral {
				return nil
			}
		}
		if f.mode == modeLiteral {
			f.mode = modeContinuation
			return nil
		}
		// Dropping: the rest of the refused command goes too.
		l, err := f.line()
		if err != nil {
			return err
		}
		if size, _, _, ok := literalAt(l); ok {
			f.left = size
			return nil
		}
		f.mode = modeCommand
		return nil
	}
	start := !f.cut
	l, err := f.line()
	if err != nil {
		return err
	}
	if f.mode == modeCommand {
		if !f.continuesRun(l) {
			if err := f.settle(); err != nil {
				return err
			}
		}
		f.wmu.Lock()
		asked := f.asked
		f.asked = false
		f.wmu.Unlock()
		if tag, ok := commandStart(l); start && !asked && (!ok || f.cut) {
			why := "[CLIENTBUG] Syntax error: a command is a tag, a space and a command name"
			if ok {
				why = "[TOOBIG] Command line too long"
			}
			return f.refuse(l, tag, why)
		}
		if start {
			f.nest = nesting{}
			var handled bool
			if l, handled, err = f.intercept(l); handled || err != nil {
				return err
			}
		}
	}
	if (f.mode == modeContinuation || !start) && f.nest.on {
		if i := f.nest.over(l); i >= 0 {
			return f.nestedTooDeep(l, i)
		}
	}
	f.mode = modeCommand
	if size, nonSync, i, ok := literalAt(l); ok {
		if nonSync {
			// {N+} becomes {N}: the library answers "+" (which we keep
			// from the client) when it wants the literal.
			l = append(append(l[:i:i], '{'), strconv.FormatInt(size, 10)+"}\r\n"...)
		}
		f.lit = pendingLit{size: size, nonSync: nonSync, active: true}
		f.wmu.Lock()
		f.plusSeen, f.holdPlus = false, nonSync
		f.wmu.Unlock()
	}
	f.out = append(f.out, l...)
	return nil
}

// commandStart reports whether a line begins as the library reads a
// command: a tag, a space and a name (after UID, a space and another), each
// made of atom characters. It gives the tag when there is one.
func commandStart(l []byte) (tag string, ok bool) {
	if len(bytes.TrimRight(l, "\r\n")) == 0 {
		return "", true // the library skips empty lines
	}
	atom := func() string {
		i := 0
		for i < len(l) && atomChar(l[i]) {
			i++
		}
		a := string(l[:i])
		l = l[i:]
		return a
	}
	space := func() bool {
		if len(l) == 0 || l[0] != ' ' {
			return false
		}
		l = l[1:]
		return true
	}
	tag = atom()
	if tag == "" || !space() {
		return tag, false
	}
	name := atom()
	if name == "" {
		return tag, false
	}
	if strings.EqualFold(name, "UID") && (!space() || atom() == "") {
		return tag, false
	}
	return tag, true
}

// atomChar is an ATOM-CHAR as the library reads one (RFC 3501 9).
func atomChar(c byte) bool {
	switch c {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return !unicode.IsControl(rune(c))
}

// refuse answers a line that does not begin as a command, or is longer
// than the library reads. The library would end the session on it without
// a word; after login the session goes on. Before login it ends after the
// BAD, as the library ends it on an unknown command there (lest a client
// of another protocol, sent to the port, be answered at length). The whole
// line is dropped, and a literal the client sends with it without waiting.
func (f *filter) refuse(l []byte, tag, why string) error {
	for f.cut {
		var err error
		if l, err = f.line(); err != nil {
			return err
		}
	}
	if size, nonSync, _, ok := literalAt(l); ok && nonSync {
		f.mode, f.left = modeDrop, size
	}
	if tag == "" {
		tag = "*"
	}
	if !f.hooks.authenticated() {
		f.hangUpAfterReply("Syntax error before login")
	}
	return f.reply(tag + " BAD " + why + "\r\n")
}

// nestedTooDeep ends a search whose criteria nest deeper than maxNesting
// past a literal, when the library has read the command's start: it gets
// the line up to the parenthesis too many and a line end, which it answers
// BAD as a syntax error. The rest of the line is dropped, and a literal the
// client sends with it without waiting.
func (f *filter) nestedTooDeep(l []byte, i int) error {
	f.nest = nesting{}
	f.out = append(append(f.out, l[:i]...), "\r\n"...)
	for f.cut {
		var err error
		if l, err = f.line(); err != nil {
			return err
		}
	}
	f.mode = modeCommand
	if size, nonSync, _, ok := literalAt(l); ok && nonSync {
		f.mode, f.left = modeDrop, size
	}
	return nil
}

// pollWait is how long fill looks for more input before it writes what
// is held: long enough for a read of what is there to be tried.
const pollWait = 200 * time.Microsecond

// maxHeld is how long writes of pipelined APPENDs may wait for their sync
// (and their folder stay locked): other programs may be waiting for it.
const maxHeld = 200 * time.Millisecond

// unsettled reports whether output is held, or writes wait for a sync.
func (f *filter) unsettled() bool {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	return f.dirty || f.hooks.unsynced()
}

// continuesRun reports whether a command line may run while earlier
// writes wait for their sync: another APPEND, within maxHeld of the
// first reply held.
func (f *filter) continuesRun(l []byte) bool {
	_, rest, _ := bytes.Cut(l, []byte(" "))
	cmd, _, _ := bytes.Cut(rest, []byte(" "))
	if !bytes.EqualFold(cmd, []byte("APPEND")) {
		return false
	}
	return !f.overdue()
}

// overdue reports whether output has been held, and its folder locked,
// for maxHeld.
func (f *filter) overdue() bool {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	return f.dirty && time.Since(f.dirtySince) >= maxHeld
}

// settle syncs the writes waiting for it and writes what was held.
func (f *filter) settle() error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if !f.dirty && !f.hooks.unsynced() {
		return nil
	}
	return f.flushLocked()
}

// commitLocked syncs the session's writes before output that may depend
// on them goes out. When that fails, none of it does: the connection
// ends with a BYE, so that no reply says an APPEND was done whose
// message may not be on disk.
func (f *filter) commitLocked() error {
	if !f.dirty && !f.hooks.unsynced() {
		return nil
	}
	if err := f.hooks.commit(); err != nil {
		f.pend = f.pend[:0]
		f.hooks.conn().Write([]byte("* BYE [SERVERBUG] Could not make the mailbox last on disk\r\n"))
		f.werr = fmt.Errorf("commit: %w", err)
		f.hooks.conn().Close()
		return f.werr
	}
	f.dirty = false
	return nil
}

// intercept answers the commands the filter handles itself, and turns
// SORT and THREAD into the SEARCH the library runs for them.
func (f *filter) intercept(l []byte) ([]byte, bool, error) {
	t := strings.TrimRight(string(l), "\r\n")
	tag, rest, ok := strings.Cut(t, " ")
	if !ok || tag == "" || strings.ContainsAny(tag, "*+(){%\"\\") {
		return l, false, nil
	}
	cmd, args, _ := strings.Cut(rest, " ")
	switch strings.ToUpper(cmd) {
	case "CHECK":
		// The library takes CHECK for NOOP; it is where a client asks
		// for its changes to be written (RFC 3501 6.4.1), and hears
		// NO when they could not be (a full disk): they are kept for
		// another try.
		if err := f.hooks.check(); err != nil {
			text := "[SERVERBUG] Flag changes could not be written"
			var ie *imap.Error
			if errors.As(err, &ie) && ie.Code != "" {
				text = "[" + string(ie.Code) + "] " + ie.Text
			}
			return l, true, f.reply(tag + " NO " + text + "\r\n")
		}
		return l, false, nil
	case "ID":
		if _, _, _, lit := literalAt(l); lit {
			return l, false, nil
		}
		if args == "" {
			return l, true, f.reply(tag + " BAD ID needs NIL or a parameter list\r\n")
		}
		return l, true, f.reply("* ID " + f.hooks.idInfo() + "\r\n" + tag + " OK ID completed\r\n")
	case "STARTTLS":
		if args != "" || !f.hooks.canStartTLS() || f.hooks.authenticated() {
			return l, false, nil
		}
		if len(f.in) > 0 {
			// Sent behind STARTTLS in the clear: maybe injected
			// (CVE-2011-0411). Nothing of it is run.
			f.in = nil
			return l, true, f.reply(tag + " BAD Nothing may follow STARTTLS before the handshake\r\n")
		}
		if err := f.reply(tag + " OK Begin TLS negotiation now\r\n"); err != nil {
			return l, true, err
		}
		return l, true, f.hooks.startTLS(0)
	case "UID":
		sub, subArgs, _ := strings.Cut(args, " ")
		cmd, args = "UID "+strings.ToUpper(sub), subArgs
		fallthrough
	case "SORT", "THREAD", "SEARCH":
		name := strings.ToUpper(cmd)
		switch name {
		case "SEARCH", "UID SEARCH", "SORT", "UID SORT", "THREAD", "UID THREAD":
			// Also before login: the library reads the criteria first.
			f.nest.on = true
			if f.nest.over(l) >= 0 {
				f.nest = nesting{}
				return l, true, f.refuse(l, tag, "[CLIENTBUG] Search criteria nested too deep")
			}
		}
		if !f.hooks.authenticated() {
			return l, false, nil
		}
		switch name {
		case "SEARCH", "UID SEARCH":
			if saveOnly(args) {
				// RFC 5182: a result only saved is not sent; the
				// library sends it all the same.
				f.setOrder(&ordering{tag: tag, name: name, silent: true})
			}
		case "SORT", "THREAD", "UID SORT", "UID THREAD":
			o, search, err := parseOrdering(name, args)
			if err != nil {
				if _, _, _, lit := literalAt(l); lit {
					return l, false, nil // the library refuses it, literal and all
				}
				return l, true, f.reply(tag + " BAD " + err.Error() + "\r\n")
			}
			o.tag = tag
			f.setOrder(o)
			uid := ""
			if strings.HasPrefix(o.name, "UID ") {
				uid = "UID "
			}
			return []byte(tag + " " + uid + "SEARCH " + search + "\r\n"), false, nil
		}
	}
	return l, false, nil
}

func (f *filter) setOrder(o *ordering) {
	f.wmu.Lock()
	f.order = o
	f.wmu.Unlock()
}

// pendingOrder is the SORT or THREAD the library is running as a SEARCH,
// or a SEARCH whose response is not to be sent.
func (f *filter) pendingOrder() *ordering {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	return f.order
}

// reply writes a response of the filter's own to the client, after what
// the library wrote before it.
func (f *filter) reply(s string) error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	f.pend = append(f.pend, s...)
	return f.flushLocked()
}

// flushDelay is how long untagged output may wait for more to join it.
const flushDelay = 2 * time.Millisecond

// flushBytes is how much output is gathered before it is written anyway.
const flushBytes = 64 << 10

func (f *filter) flushLocked() error {
	if f.armed {
		f.timer.Stop()
		f.armed = false
	}
	if f.werr != nil {
		return f.werr
	}
	if err := f.commitLocked(); err != nil {
		return err
	}
	if len(f.pend) == 0 {
		return nil
	}
	_, err := f.hooks.conn().Write(f.pend)
	f.pend = f.pend[:0]
	f.werr = err
	return err
}

// cutOff ends the connection in the middle of a response that cannot be
// finished (a literal whose bytes cannot all be had): what came before
// it goes out, then nothing more, so the client sees the connection end
// rather than reading the next responses as the literal's bytes.
func (f *filter) cutOff() {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	f.flushLocked()
	f.werr = net.ErrClosed
	f.hooks.conn().Close()
}

func (f *filter) flushLater() {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	f.armed = false
	if f.dirty {
		return // the library's goroutine settles it: only it may commit
	}
	f.flushLocked()
}

// Write passes the library's output on, line by line outside literals, so
// that CAPABILITY lists can be completed and a "+" the client must not see
// (for a literal it sent without waiting) is held back.
func (f *filter) Write(p []byte) (int, error) {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	total := len(p)
	out := f.pend
	now := false // a line the client waits for: a tagged reply, "+", BYE
	for len(p) > 0 {
		if f.wlit > 0 {
			n := int64(len(p))
			if n > f.wlit {
				n = f.wlit
			}
			out = append(out, p[:n]...)
			p = p[n:]
			f.wlit -= n
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			f.partial = append(f.partial, p...)
			break
		}
		line := p[:i+1]
		if len(f.partial) > 0 {
			line = append(f.partial, line...)
			f.partial = nil
		}
		p = p[i+1:]
		out = append(out, f.response(line)...)
		// The line after a literal (an untagged FETCH's ")") is no reply
		// of its own: a flush there was a write(2) per message fetched.
		starts := !f.wcont
		size, _, _, lit := literalAt(line)
		f.wlit, f.wcont = size, lit
		now = now || starts && (line[0] != '*' || bytes.HasPrefix(line, []byte("* BYE")))
	}
	f.pend = out
	if !f.dirty && f.hooks.unsynced() {
		f.dirty, f.dirtySince = true, time.Now()
	}
	if now && !f.dirty || len(f.pend) >= flushBytes {
		if err := f.flushLocked(); err != nil {
			return 0, err
		}
		return total, nil
	}
	if f.werr != nil {
		return 0, f.werr
	}
	if len(f.pend) > 0 && !f.armed && !f.dirty {
		if f.timer == nil {
			f.timer = time.AfterFunc(f.delay, f.flushLater)
		} else {
			f.timer.Reset(f.delay)
		}
		f.armed = true
	}
	return total, nil
}

// response rewrites one response line as the client should see it.
func (f *filter) response(line []byte) []byte {
	if bytes.HasPrefix(line, []byte("+")) {
		f.plusSeen, f.asked = true, true
		if f.holdPlus {
			f.holdPlus = false
			return nil
		}
		return line
	}
	if rest, ok := bytes.CutPrefix(line, []byte("* ENABLED ")); ok {
		f.hooks.enabled(strings.Fields(string(rest)))
	}
	if o := f.order; o != nil {
		switch {
		case bytes.HasPrefix(line, []byte("* SEARCH")) || bytes.HasPrefix(line, []byte("* ESEARCH")):
			return []byte(o.reply)
		case bytes.HasPrefix(line, []byte(o.tag+" ")):
			f.order = nil
			verb := strings.TrimPrefix(o.name, "UID ")
			return bytes.Replace(line, []byte("SEARCH completed"), []byte(verb+" completed"), 1)
		}
	}
	return f.fixCaps(line)
}

// fixCaps completes a CAPABILITY list, untagged or in a response code:
// ID, which the filter serves, and what the connection's state allows
// (STARTTLS, LOGINDISABLED where a password may not go in the clear).
func (f *filter) fixCaps(line []byte) []byte {
	start, end, ok := capabilityList(line)
	if !ok {
		return line
	}
	s := string(line)
	caps := strings.Fields(s[start:end])
	add, remove := f.hooks.extraCaps(f.hooks.authenticated())
	var out []string
	for _, c := range caps {
		drop := false
		for _, r := range remove {
			if strings.EqualFold(c, r) || strings.HasSuffix(r, "=") && strings.HasPrefix(strings.ToUpper(c), r) {
				drop = true
			}
		}
		if !drop {
			out = append(out, c)
		}
	}
	for _, a := range add {
		have := false
		for _, c := range out {
			have = have || strings.EqualFold(c, a)
		}
		if !have {
			out = append(out, a)
		}
	}
	return []byte(s[:start] + strings.Join(out, " ") + s[end:])
}

// capabilityList finds the capability list in a response line: an
// untagged CAPABILITY response, or a CAPABILITY response code, which comes
// right after the status word of a status response (RFC 3501 7.1); never
// text that only looks like one (a subject in a FETCH response).
func capabilityList(line []byte) (start, end int, ok bool) {
	body := bytes.TrimRight(line, "\r\n")
	if bytes.HasPrefix(body, []byte("* CAPABILITY ")) {
		return len("* CAPABILITY "), len(body), true
	}
	_, rest, _ := bytes.Cut(body, []byte(" "))
	status, rest, _ := bytes.Cut(rest, []byte(" "))
	switch string(status) {
	case "OK", "NO", "BAD", "PREAUTH", "BYE":
	default:
		return 0, 0, false
	}
	code, ok := bytes.CutPrefix(rest, []byte("[CAPABILITY "))
	if !ok {
		return 0, 0, false
	}
	j := bytes.IndexByte(code, ']')
	if j < 0 {
		return 0, 0, false
	}
	start = len(body) - len(code)
	return start, start + j, true
}

// Close ends the connection; the one-connection listener sees it. What
// is held goes first, once synced: also untagged output still gathering
// (the greeting, when the first line from the client ends the session).
func (f *filter) Close() error {
	f.wmu.Lock()
	f.flushLocked()
	f.wmu.Unlock()
	f.once.Do(func() { close(f.done) })
	return f.hooks.conn().Close()
}

// Done is closed when the connection is.
func (f *filter) Done() <-chan struct{} { return f.done }

func (f *filter) LocalAddr() net.Addr                { return f.hooks.conn().LocalAddr() }
func (f *filter) RemoteAddr() net.Addr               { return f.hooks.conn().RemoteAddr() }
func (f *filter) SetDeadline(t time.Time) error      { return f.hooks.conn().SetWriteDeadline(t) }
func (f *filter) SetReadDeadline(time.Time) error    { return nil } // fill sets its own
func (f *filter) SetWriteDeadline(t time.Time) error { return f.hooks.conn().SetWriteDeadline(t) }
