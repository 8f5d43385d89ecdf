// Package maillog writes unixmail's log: one line per event, in the form
// administrators already grep for in Postfix and sendmail logs, to syslog
// (facility mail, RFC 3164 framing by log/syslog), to stderr, or to a file.
//
// Logging never makes mail fail: a log that cannot be opened falls back to
// stderr (or, for programs whose stderr someone else reads, to syslog or
// nowhere), and write errors are ignored.
package maillog

import (
	"fmt"
	"io"
	"log/syslog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Logger writes events. It is safe for concurrent use; a nil *Logger
// discards everything, like Discard().
type Logger struct {
	mu     sync.Mutex
	sys    *syslog.Writer // when logging to syslog
	w      io.Writer      // when logging to a file or stderr; nil discards
	closer io.Closer      // the file to close, if we opened one
	prefix string         // " HOST program[pid]: " after the timestamp
}

// New opens the log named by the config's log key: "syslog", "stderr" or a
// file path (appended to, created mode 0640). When syslog cannot be reached
// (no /dev/log in many containers) or the file cannot be opened, it logs to
// stderr; with quietFallback, for a program whose stderr someone else
// reads (a daemon serving a client on stdin/stdout; deliver, whose stderr
// an MTA may quote in a bounce), to syslog instead of the file, else
// nowhere. It never fails.
func New(dest, program string, quietFallback bool) *Logger {
	return open(dest, program, quietFallback, os.Stderr, func() (*syslog.Writer, error) {
		return syslog.New(syslog.LOG_MAIL|syslog.LOG_INFO, program)
	})
}

// open is New with stderr and the syslog connection supplied, for tests.
func open(dest, program string, quiet bool, stderr io.Writer, dial func() (*syslog.Writer, error)) *Logger {
	l := &Logger{prefix: " " + shortHostname() + " " + program + "[" + strconv.Itoa(os.Getpid()) + "]: "}
	fallback := func() {
		if !quiet {
			l.w = stderr
		}
	}
	switch dest {
	case "syslog":
		sys, err := dial()
		if err != nil {
			fallback()
			return l
		}
		l.sys = sys
	case "stderr":
		l.w = stderr
	default:
		f, err := os.OpenFile(dest, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			if quiet {
				l.sys, _ = dial()
			}
			if l.sys == nil {
				fallback()
			}
			l.Warn("cannot open log %s, logging here instead: %v", dest, err)
			return l
		}
		l.w, l.closer = f, f
	}
	return l
}

// Discard returns a Logger that writes nothing.
func Discard() *Logger { return &Logger{} }

// Info logs an ordinary event, such as a delivery.
func (l *Logger) Info(format string, args ...any) { l.log(syslog.LOG_INFO, "", format, args) }

// Warn logs a problem that did not stop the work, prefixed "warning: " as
// Postfix does.
func (l *Logger) Warn(format string, args ...any) {
	l.log(syslog.LOG_WARNING, "warning: ", format, args)
}

// Error logs a failure, prefixed "error: ".
func (l *Logger) Error(format string, args ...any) { l.log(syslog.LOG_ERR, "error: ", format, args) }

// Close closes the log file or syslog connection; later events are dropped.
func (l *Logger) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var err error
	switch {
	case l.sys != nil:
		err = l.sys.Close()
	case l.closer != nil:
		err = l.closer.Close()
	}
	l.sys, l.w, l.closer = nil, nil, nil
	return err
}

func (l *Logger) log(level syslog.Priority, tag, format string, args []any) {
	if l == nil {
		return
	}
	msg := tag + oneLine(fmt.Sprintf(format, args...))
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.sys != nil:
		// Errors are dropped: logging must never fail a delivery.
		switch level {
		case syslog.LOG_ERR:
			_ = l.sys.Err(msg)
		case syslog.LOG_WARNING:
			_ = l.sys.Warning(msg)
		default:
			_ = l.sys.Info(msg)
		}
	case l.w != nil:
		// One write per line, so that O_APPEND keeps lines from several
		// processes whole.
		line := time.Now().Format(time.Stamp) + l.prefix + msg + "\n"
		_, _ = io.WriteString(l.w, line)
	}
}

// oneLine makes msg a single log line: CR and LF become spaces, other
// control characters "?", so a message cannot forge a second event.
func oneLine(msg string) string {
	clean := true
	for i := 0; i < len(msg); i++ {
		if c := msg[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return msg
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\r' || r == '\n':
			return ' '
		case (r < 0x20 && r != '\t') || r == 0x7f:
			return '?'
		}
		return r
	}, msg)
}

// shortHostname is the host name as syslog daemons print it: up to the
// first dot.
func shortHostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	h, _, _ = strings.Cut(h, ".")
	return h
}
