package mta

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"

	"unixmail/pkg/config"
	"unixmail/pkg/maillog"
	"unixmail/pkg/privsep"
	"unixmail/pkg/smtpd"
)

// takenQueue records what root's side hands on to the queue.
type takenQueue struct{ rcpts [][]string }

func (q *takenQueue) Enqueue(env *smtpd.Envelope, msg io.Reader) (string, error) {
	if _, err := io.Copy(io.Discard, msg); err != nil {
		return "", err
	}
	q.rcpts = append(q.rcpts, env.Rcpts)
	return "4ABC", nil
}

// testSplit is root's side of sendmail -bd for a client at 192.0.2.7
// (outside mynetworks), with one local user, alice, whose password is
// "right", and a queue that records what it is given.
func testSplit(t *testing.T) (*Split, *takenQueue) {
	t.Helper()
	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	if err := os.WriteFile(users, []byte("alice:x:1000:1000::"+dir+":/bin/sh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "unixmail.conf")
	body := fmt.Sprintf("hostname = test.example\nuser_db = %s\nalias_maps = %s\nqueue_directory = %s\nlog = stderr\nclient_auth_failure_delay = 0\n",
		users, filepath.Join(dir, "aliases"), filepath.Join(dir, "queue"))
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(conf, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := &takenQueue{}
	s, err := New(cfg, maillog.Discard(), nil).NewSplit(nil, q, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	s.check = func(user, pass string) error {
		if user == "alice" && pass == "right" {
			return nil
		}
		return errors.New("authentication failed")
	}
	return s, q
}

// A parser taken over speaks the privsep protocol as it likes: it claims
// a client address, a login, recipients. Root's side decides again from
// what it knows itself (the connection's address, the logins it checked)
// and queues only what the relay rules let through.
func TestSplitRootRefusesWhatATakenOverParserAsksToRelay(t *testing.T) {
	tests := []struct {
		name   string
		lines  []string // what the parser sends before the message
		claims string   // what the envelope says of the client, as JSON fields
		rcpts  string   // the envelope's recipients, as JSON
		from   string
		taken  bool
	}{
		{"relay for a remote client that did not log in", nil, `"ClientAddr":"192.0.2.7"`,
			`["victim@elsewhere.example"]`, "spam@example.net", false},
		{"relay for a client that claims to be local", nil, `"ClientAddr":"127.0.0.1"`,
			`["victim@elsewhere.example"]`, "spam@example.net", false},
		{"relay claiming a login that never happened", nil, `"AuthUser":"alice","Submitted":true`,
			`["victim@elsewhere.example"]`, "spam@example.net", false},
		{"relay claiming a login whose password was wrong", []string{`{"Op":"auth","User":"alice","Pass":"wrong"}`},
			`"AuthUser":"alice"`, `["victim@elsewhere.example"]`, "spam@example.net", false},
		{"a local user with a relayed one", nil, `"ClientAddr":"127.0.0.1"`,
			`["alice@test.example","victim@elsewhere.example"]`, "spam@example.net", false},
		{"a local user who does not exist", nil, `"ClientAddr":"127.0.0.1"`,
			`["nobody@test.example"]`, "spam@example.net", false},
		{"a sender a program could take for an option", nil, `"ClientAddr":"127.0.0.1"`,
			`["alice@test.example"]`, "-oQ/tmp", false},
		{"no recipients", nil, `"ClientAddr":"127.0.0.1"`, `[]`, "a@example.net", false},
		{"a local user", nil, `"ClientAddr":"192.0.2.7"`, `["alice@test.example"]`, "a@example.net", true},
		{"relay after a login root checked", []string{`{"Op":"auth","User":"alice","Pass":"right"}`},
			`"AuthUser":"alice"`, `["friend@elsewhere.example"]`, "alice@test.example", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, q := testSplit(t)
			root, parser := net.Pipe()
			defer parser.Close()
			served := make(chan error, 1)
			go func() { served <- s.privileged("192.0.2.7", "192.0.2.7").Serve(root); root.Close() }()
			replies := bufio.NewReader(parser)
			hear := func() privsep.Reply {
				t.Helper()
				line, err := replies.ReadBytes('\n')
				var rep privsep.Reply
				if err != nil || json.Unmarshal(line, &rep) != nil {
					t.Fatalf("root's reply %q: %v", line, err)
				}
				return rep
			}
			for _, l := range tc.lines {
				fmt.Fprintln(parser, l)
				hear()
			}
			msg := "Subject: hi\r\n\r\nhello\r\n"
			fmt.Fprintf(parser, `{"Op":"enqueue","Env":{"From":%q,"Rcpts":%s,%s},"Size":%d}`+"\n%s",
				tc.from, tc.rcpts, tc.claims, len(msg), msg)
			rep := hear()
			if rep.OK != tc.taken || (len(q.rcpts) == 1) != tc.taken {
				t.Fatalf("reply %+v, queued %v; want taken = %v", rep, q.rcpts, tc.taken)
			}
			if !tc.taken && rep.Err == "" {
				t.Errorf("refused without a reason: %+v", rep)
			}
			parser.Close()
			if err := <-served; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
}
