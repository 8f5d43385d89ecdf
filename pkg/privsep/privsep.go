// Package privsep is the channel between sendmail -bd's privileged side
// (root: it binds the ports, reads the configuration and the keys, checks
// passwords, queues and delivers) and the process that parses one SMTP
// connection as an unprivileged account. The parser asks; the privileged
// side answers: a password check (rate-limited per client address on the
// privileged side), whether a local part is deliverable, the TLS key
// pair, and to take an accepted message, which it queues or delivers
// before it answers, so that the parser's 250 still means durable.
package privsep

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"unixmail/pkg/smtpd"
)

// Request is one question of the parser's: a line of JSON, then, for
// "enqueue", Size bytes of message. The privileged side reads it from a
// process it does not trust, so the line is bounded and so is the size.
type Request struct {
	Op   string // "auth", "rcpt", "tls", "enqueue"; "logged" after a Reply's Queued
	User string `json:",omitempty"`
	Pass string `json:",omitempty"`
	// Local is the local part to check ("rcpt").
	Local string          `json:",omitempty"`
	Env   *smtpd.Envelope `json:",omitempty"`
	Size  int64           `json:",omitempty"`
	Msg   []byte          `json:"-"`
}

// maxLine bounds a request's line (an envelope of up to 1000 recipients
// of up to 2000 bytes, with room to spare).
const maxLine = 4 << 20

// ReadRequest reads one request, refusing a line longer than maxLine and
// a message longer than maxMsg.
func ReadRequest(r *bufio.Reader, maxMsg int64) (*Request, error) {
	line, err := readLine(r)
	if err != nil {
		return nil, err
	}
	req := &Request{}
	if err := json.Unmarshal(line, req); err != nil {
		return nil, fmt.Errorf("bad request: %w", err)
	}
	if req.Op != "enqueue" {
		return req, nil
	}
	if req.Env == nil || req.Size < 0 || req.Size > maxMsg {
		return nil, fmt.Errorf("bad request: enqueue of %d bytes (at most %d)", req.Size, maxMsg)
	}
	req.Msg = make([]byte, req.Size)
	if _, err := io.ReadFull(r, req.Msg); err != nil {
		return nil, fmt.Errorf("read the message: %w", err)
	}
	return req, nil
}

// readLine reads up to a newline, at most maxLine bytes.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxLine {
			return nil, errors.New("bad request: line too long")
		}
		switch {
		case err == nil:
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
}

// writeJSON writes v as one line.
func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Reply is the privileged side's answer. To "enqueue" it may first send
// a Reply with only Queued set: the queue id, as soon as it is chosen, so
// that the parser logs its "ID: client=" line before the queue's lines.
type Reply struct {
	Queued string `json:",omitempty"`
	OK     bool
	ID     string // the queue id ("enqueue")
	Err    string // a failure to report, never a password
	Cert   []byte // PEM ("tls")
	Key    []byte
}

// Privileged is what the privileged side does for one connection.
type Privileged struct {
	MaxMessage      int64 // the largest message taken (message_size_limit, with room for line ends)
	Authenticate    func(user, pass string) error
	LocalUserExists func(local string) (bool, error)
	Enqueue         func(env *smtpd.Envelope, msg io.Reader) (string, error)
	CertPEM, KeyPEM []byte
}

// Serve answers the parser on conn until it hangs up or asks wrongly.
func (p *Privileged) Serve(conn io.ReadWriter) error {
	br := bufio.NewReader(conn)
	for {
		req, err := ReadRequest(br, p.MaxMessage)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("the parser's request: %w", err)
		}
		var werr error
		queued := func(id string) {
			if werr != nil {
				return
			}
			// The parser logs its line, then says so: only then may the
			// queue log its own.
			if werr = writeJSON(conn, Reply{Queued: id}); werr == nil {
				var ack *Request
				if ack, werr = ReadRequest(br, 0); werr == nil && ack.Op != "logged" {
					werr = fmt.Errorf("want the parser's logged, not %q", ack.Op)
				}
			}
		}
		rep := p.answer(req, queued)
		if werr != nil {
			return fmt.Errorf("answer the parser: %w", werr)
		}
		if err := writeJSON(conn, rep); err != nil {
			return fmt.Errorf("answer the parser: %w", err)
		}
	}
}

func (p *Privileged) answer(req *Request, queued func(id string)) Reply {
	var rep Reply
	fail := func(err error) {
		if err != nil {
			rep.Err = err.Error()
		}
	}
	switch req.Op {
	case "auth":
		if p.Authenticate == nil {
			rep.Err = "authentication is not offered"
			break
		}
		err := p.Authenticate(req.User, req.Pass)
		rep.OK = err == nil
		fail(err)
	case "rcpt":
		if p.LocalUserExists == nil {
			rep.OK = true
			break
		}
		ok, err := p.LocalUserExists(req.Local)
		rep.OK = ok
		fail(err)
	case "tls":
		rep.OK, rep.Cert, rep.Key = p.CertPEM != nil, p.CertPEM, p.KeyPEM
	case "enqueue":
		req.Env.Queued = queued
		id, err := p.Enqueue(req.Env, bytes.NewReader(req.Msg))
		rep.OK, rep.ID = err == nil, id
		fail(err)
	default:
		rep.Err = fmt.Sprintf("unknown request %q", req.Op)
	}
	return rep
}

// Parser is the unprivileged side's end of the channel. Its methods are
// what smtpd.Policy and smtpd.Queue ask for.
type Parser struct {
	mu   sync.Mutex
	conn io.Writer
	dec  *json.Decoder
}

// NewParser speaks to the privileged side over conn.
func NewParser(conn io.ReadWriter) *Parser {
	return &Parser{conn: conn, dec: json.NewDecoder(conn)}
}

func (c *Parser) ask(req *Request) (Reply, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var rep Reply
	if req.Op == "enqueue" {
		req.Size = int64(len(req.Msg))
	}
	err := writeJSON(c.conn, req)
	if err == nil && req.Msg != nil {
		_, err = c.conn.Write(req.Msg)
	}
	if err != nil {
		return rep, fmt.Errorf("ask the privileged side: %w", err)
	}
	for {
		rep = Reply{}
		if err := c.dec.Decode(&rep); err != nil {
			return rep, fmt.Errorf("hear the privileged side: %w", err)
		}
		if rep.Queued == "" {
			return rep, nil
		}
		if req.Env != nil && req.Env.Queued != nil {
			req.Env.Queued(rep.Queued)
		}
		if err := writeJSON(c.conn, Request{Op: "logged"}); err != nil {
			return rep, fmt.Errorf("ask the privileged side: %w", err)
		}
	}
}

// Authenticate asks for a password check.
func (c *Parser) Authenticate(user, pass string) error {
	rep, err := c.ask(&Request{Op: "auth", User: user, Pass: pass})
	switch {
	case err != nil:
		return err
	case !rep.OK:
		return errors.New(rep.Err)
	}
	return nil
}

// LocalUserExists asks whether a local part is deliverable.
func (c *Parser) LocalUserExists(local string) (bool, error) {
	rep, err := c.ask(&Request{Op: "rcpt", Local: local})
	switch {
	case err != nil:
		return false, err
	case rep.Err != "":
		return false, errors.New(rep.Err)
	}
	return rep.OK, nil
}

// KeyPair asks for the TLS certificate and key (PEM); ok is false when
// there are none.
func (c *Parser) KeyPair() (cert, key []byte, ok bool, err error) {
	rep, err := c.ask(&Request{Op: "tls"})
	if err != nil {
		return nil, nil, false, err
	}
	return rep.Cert, rep.Key, rep.OK, nil
}

// Enqueue reads the message to its end and hands it over; the answer
// comes once it is durable (queued, or delivered). A message that cannot
// be read to its end (the client sent a bare LF, too much, or left) is
// never handed over.
func (c *Parser) Enqueue(env *smtpd.Envelope, msg io.Reader) (string, error) {
	b, err := io.ReadAll(msg)
	if err != nil {
		return "", err
	}
	rep, err := c.ask(&Request{Op: "enqueue", Env: env, Msg: b})
	switch {
	case err != nil:
		return "", err
	case !rep.OK:
		return "", errors.New(rep.Err)
	}
	if env.Queued != nil {
		env.Queued(rep.ID)
	}
	return rep.ID, nil
}
