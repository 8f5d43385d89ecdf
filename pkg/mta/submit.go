package mta

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"

	"unixmail/pkg/queue"
	"unixmail/pkg/sysexits"
)

// Submission is a message given on the command line (sendmail -bm).
type Submission struct {
	Sender      string // envelope sender, already qualified; "" = <>
	FullName    string // for an added From: (-F, else the caller's GECOS name)
	Rcpts       []string
	FromHeaders bool   // -t: recipients from To, Cc and Bcc too; Bcc removed
	IgnoreDots  bool   // -i: a line with a lone "." is data, not the end
	Notify      string // -N
	Ret         string // -R
	EnvID       string // -V
	UID         int    // the caller, for Received:
	QueueOnly   bool   // -odq: leave delivery to the queue runner
}

// ErrNoRecipients is returned (with sysexits.Usage) when neither the
// command line nor, with -t, the header names anybody.
var ErrNoRecipients = errors.New("no recipients specified")

// CheckAddress refuses what must never reach a command line or the
// queue: empty addresses, addresses starting with '-' (CVE-2016-10033,
// CVE-2020-7247), control characters and blanks.
func CheckAddress(a string) error {
	if a == "" || strings.HasPrefix(a, "-") || strings.ContainsAny(a, " \t\r\n<>\x00") {
		return sysexits.Wrap(sysexits.Usage, fmt.Errorf("bad address %q", a))
	}
	return nil
}

// Submit reads a message from in, completes its header, and accepts it
// (see Accept). It returns the entry locked for an immediate attempt when
// the caller may deliver and something is left to do, else nil.
func (m *MTA) Submit(ctx context.Context, s *Submission, in io.Reader) (*queue.Entry, string, error) {
	br := bufio.NewReaderSize(in, 64<<10)
	src := &lineSource{r: br, dots: !s.IgnoreDots}
	head, err := readHeader(src)
	if err != nil {
		return nil, "", sysexits.Wrap(sysexits.IOErr, err)
	}
	// Each command-line argument is read as an address list, as Postfix
	// does: some callers pass "a@x, b@y" or "Name <a@x>".
	var rcpts []string
	for _, r := range s.Rcpts {
		rcpts = append(rcpts, AddressList(r)...)
	}
	if s.FromHeaders {
		rcpts = append(rcpts, head.recipients()...)
		head.remove("Bcc")
		head.remove("Resent-Bcc")
	}
	if len(rcpts) == 0 {
		msg := ErrNoRecipients
		if s.FromHeaders {
			msg = fmt.Errorf("%w: no recipient addresses found in message header", ErrNoRecipients)
		}
		return nil, "", sysexits.Wrap(sysexits.Usage, msg)
	}
	env := queue.Envelope{ID: queue.NewID(), Sender: s.Sender, EnvID: s.EnvID, Ret: strings.ToUpper(s.Ret)}
	seen := map[string]bool{}
	for _, r := range rcpts {
		if err := CheckAddress(r); err != nil {
			return nil, "", err
		}
		r = m.Qualify(r)
		if seen[strings.ToLower(r)] {
			continue
		}
		seen[strings.ToLower(r)] = true
		env.Rcpts = append(env.Rcpts, queue.Recipient{Addr: r, Notify: strings.ToUpper(s.Notify)})
	}
	now := m.Now()
	var top bytes.Buffer
	fmt.Fprintf(&top, "Received: by %s (unixmail sendmail, from userid %d)\n\tid %s; %s\n",
		m.Cfg.Hostname, s.UID, env.ID, now.Format(rfc5322Date))
	if !head.has("Date") {
		head.add("Date: " + now.Format(rfc5322Date))
	}
	if !head.has("Message-ID") {
		head.add("Message-ID: <" + now.UTC().Format("20060102150405") + "." + env.ID + "@" + m.Cfg.Hostname + ">")
	}
	if !head.has("From") {
		from := s.Sender
		if from == "" {
			from = "MAILER-DAEMON@" + m.Cfg.Hostname
		}
		head.add("From: " + (&mail.Address{Name: s.FullName, Address: from}).String())
	}
	for _, f := range head.fields {
		top.WriteString(f)
	}
	top.WriteString("\n")
	body := io.MultiReader(&top, src)
	if limit := m.Cfg.MessageSizeLimit; limit > 0 {
		body = &sizeLimit{r: body, left: limit}
	}
	if m.CanDeliver {
		if body, err = m.signed(env.ID, body); err != nil {
			return nil, "", err
		}
	}
	return m.Accept(ctx, env, body, !s.QueueOnly)
}

const rfc5322Date = "Mon, 02 Jan 2006 15:04:05 -0700"

// ErrTooBig is the error of a message over message_size_limit.
var ErrTooBig = sysexits.Wrap(sysexits.DataErr, errors.New("message file too big (message_size_limit)"))

type sizeLimit struct {
	r    io.Reader
	left int64
}

func (s *sizeLimit) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.left -= int64(n)
	if s.left < 0 {
		return n, ErrTooBig
	}
	return n, err
}

// lineSource yields the input line by line with LF ends, stopping at a
// lone "." when dots is set (sendmail's default without -i).
type lineSource struct {
	r    *bufio.Reader
	dots bool
	buf  []byte
	done bool
}

// line returns the next line with its LF, or io.EOF.
func (l *lineSource) line() ([]byte, error) {
	if l.done {
		return nil, io.EOF
	}
	b, err := l.r.ReadBytes('\n')
	if err != nil && err != io.EOF {
		return nil, err
	}
	if len(b) == 0 {
		l.done = true
		return nil, io.EOF
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if l.dots && string(b) == "." {
		l.done = true
		return nil, io.EOF
	}
	if err == io.EOF {
		l.done = true
	}
	return append(b, '\n'), nil
}

func (l *lineSource) Read(p []byte) (int, error) {
	for len(l.buf) == 0 {
		b, err := l.line()
		if err != nil {
			return 0, err
		}
		l.buf = b
	}
	n := copy(p, l.buf)
	l.buf = l.buf[n:]
	return n, nil
}

// header is the message's header block, field by field (each with its
// continuation lines and final LF).
type header struct {
	fields []string
}

// readHeader reads the header block. The empty line ends it and is
// consumed (Submit writes the separator back); a line that is not a field
// (no colon) is the body's first line and stays in src, so the body
// arrives byte for byte even from input with no header at all; a leading
// mbox From_ line is dropped.
func readHeader(src *lineSource) (*header, error) {
	h := &header{}
	first := true
	for {
		b, err := src.line()
		if err == io.EOF {
			return h, nil
		} else if err != nil {
			return nil, err
		}
		s := string(b)
		if first && strings.HasPrefix(s, "From ") {
			first = false
			continue
		}
		first = false
		switch {
		case s == "\n":
			return h, nil
		case (s[0] == ' ' || s[0] == '\t') && len(h.fields) > 0:
			h.fields[len(h.fields)-1] += s
		case isFieldLine(s):
			h.fields = append(h.fields, s)
		default:
			src.buf = b
			return h, nil
		}
	}
}

func isFieldLine(s string) bool {
	name, _, ok := strings.Cut(s, ":")
	if !ok || name == "" {
		return false
	}
	for _, c := range name {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

func fieldName(f string) string {
	name, _, _ := strings.Cut(f, ":")
	return name
}

func (h *header) has(name string) bool {
	for _, f := range h.fields {
		if strings.EqualFold(fieldName(f), name) {
			return true
		}
	}
	return false
}

func (h *header) add(line string) { h.fields = append(h.fields, line+"\n") }

func (h *header) remove(name string) {
	kept := h.fields[:0]
	for _, f := range h.fields {
		if !strings.EqualFold(fieldName(f), name) {
			kept = append(kept, f)
		}
	}
	h.fields = kept
}

// recipients are the addresses sendmail -t sends to: those in To, Cc
// and Bcc, however many lines of each, or, when the message is being
// resent (RFC 5322 3.6.6) and has any Resent-To, Resent-Cc or Resent-Bcc,
// only those, as Postfix and sendmail do.
func (h *header) recipients() []string {
	var plain, resent []string
	for _, f := range h.fields {
		name := strings.ToLower(fieldName(f))
		value := f[len(name)+1:]
		switch name {
		case "to", "cc", "bcc":
			plain = append(plain, AddressList(value)...)
		case "resent-to", "resent-cc", "resent-bcc":
			resent = append(resent, AddressList(value)...)
			if resent == nil {
				resent = []string{} // present, if empty: still a resend
			}
		}
	}
	if resent != nil {
		return resent
	}
	return plain
}
