package privsep

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"unixmail/pkg/smtpd"
)

// pair runs a privileged side on one end of a pipe and returns the
// parser's end.
func pair(t *testing.T, p *Privileged) *Parser {
	t.Helper()
	a, b := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- p.Serve(a) }()
	t.Cleanup(func() {
		b.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return NewParser(b)
}

func privileged(got *[]string) *Privileged {
	return &Privileged{
		MaxMessage: 1 << 20,
		Authenticate: func(user, pass string) error {
			if user == "carol" && pass == "right" {
				return nil
			}
			return errors.New("authentication failed")
		},
		LocalUserExists: func(local string) (bool, error) {
			if local == "broken" {
				return false, errors.New("user database unreadable")
			}
			return local == "bob", nil
		},
		Enqueue: func(env *smtpd.Envelope, msg io.Reader) (string, error) {
			env.Queued("Q1") // before the message is read, as Workers.Enqueue does
			b, _ := io.ReadAll(msg)
			*got = append(*got, env.From+" "+strings.Join(env.Rcpts, ",")+" "+string(b))
			return "Q1", nil
		},
		CertPEM: []byte("cert"), KeyPEM: []byte("key"),
	}
}

func TestTheParserGetsEachAnswerFromThePrivilegedSide(t *testing.T) {
	var got []string
	c := pair(t, privileged(&got))
	tests := []struct {
		name string
		ask  func() (any, error)
		want any
		err  bool
	}{
		{"a right password", func() (any, error) { return nil, c.Authenticate("carol", "right") }, nil, false},
		{"a wrong password", func() (any, error) { return nil, c.Authenticate("carol", "wrong") }, nil, true},
		{"a known user", func() (any, error) { return c.LocalUserExists("bob") }, true, false},
		{"an unknown user", func() (any, error) { return c.LocalUserExists("nosuch") }, false, false},
		{"a user database that fails", func() (any, error) { return c.LocalUserExists("broken") }, false, true},
		{"the key pair", func() (any, error) {
			cert, key, ok, err := c.KeyPair()
			return string(cert) + "/" + string(key) + "/" + map[bool]string{true: "ok"}[ok], err
		}, "cert/key/ok", false},
		{"a message", func() (any, error) {
			var queued string
			id, err := c.Enqueue(&smtpd.Envelope{From: "a@b", Rcpts: []string{"bob@c"}, Queued: func(id string) { queued = id }},
				strings.NewReader("Subject: x\r\n\r\nbody\r\n"))
			return id + " " + queued, err
		}, "Q1 Q1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := tt.ask()
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if tt.want != nil && v != tt.want {
				t.Fatalf("got %v, want %v", v, tt.want)
			}
		})
	}
	if len(got) != 1 || got[0] != "a@b bob@c Subject: x\r\n\r\nbody\r\n" {
		t.Errorf("the privileged side queued %q", got)
	}
}

func TestAMessageThatCannotBeReadIsNeverHandedOver(t *testing.T) {
	var got []string
	c := pair(t, privileged(&got))
	_, err := c.Enqueue(&smtpd.Envelope{From: "a@b"}, io.MultiReader(strings.NewReader("half"), &failing{}))
	if err == nil || len(got) != 0 {
		t.Fatalf("err %v, queued %q", err, got)
	}
}

type failing struct{}

func (*failing) Read([]byte) (int, error) { return 0, errors.New("bare LF") }

func TestReadRequestRefusesWhatAParserMustNotSend(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"not JSON", "hello\n"},
		{"a message larger than the limit", `{"Op":"enqueue","Env":{},"Size":2000}` + "\n"},
		{"a negative size", `{"Op":"enqueue","Env":{},"Size":-1}` + "\n"},
		{"enqueue without an envelope", `{"Op":"enqueue","Size":1}` + "\nx"},
		{"a message cut short", `{"Op":"enqueue","Env":{},"Size":10}` + "\nabc"},
		{"a line cut short", `{"Op":"auth"`},
		{"a line too long", strings.Repeat("x", maxLine+1) + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if req, err := ReadRequest(bufio.NewReader(strings.NewReader(tt.in)), 1000); err == nil {
				t.Fatalf("read %+v", req)
			}
		})
	}
}

func FuzzReadRequest(f *testing.F) {
	f.Add([]byte(`{"Op":"auth","User":"carol","Pass":"x"}` + "\n"))
	f.Add([]byte(`{"Op":"enqueue","Env":{"From":"a@b","Rcpts":["c@d"]},"Size":3}` + "\nabc"))
	f.Add([]byte(`{"Op":"rcpt","Local":"bob"}` + "\n" + `{"Op":"tls"}` + "\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		br := bufio.NewReader(strings.NewReader(string(in)))
		for range 10 {
			req, err := ReadRequest(br, 1<<16)
			if err != nil {
				return
			}
			if int64(len(req.Msg)) > 1<<16 {
				t.Fatalf("a message of %d bytes", len(req.Msg))
			}
		}
	})
}
