package lmtpd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"unixmail/pkg/config"
	"unixmail/pkg/deliver"
	"unixmail/pkg/maillog"
	"unixmail/pkg/userdb"
)

// testEnv is an Env whose one user, alice, has our uid (so that even as
// root nothing goes through a child) and a mailbox in a temporary
// directory.
func testEnv(t *testing.T) (*deliver.Env, string) {
	t.Helper()
	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	line := fmt.Sprintf("alice:x:%d:%d::%s:/bin/sh\n", os.Getuid(), os.Getgid(), dir)
	if err := os.WriteFile(users, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "unixmail.conf")
	body := "hostname = test.example\nmailbox = ~/Mailbox\nuser_db = " + users + "\nlog = stderr\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(conf, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := &deliver.Env{Config: cfg, Users: userdb.Open(cfg.UserDB), Log: maillog.Discard(), Now: time.Now}
	return env, filepath.Join(dir, "Mailbox")
}

func TestServeAnswersEachRecipientAndDeliversToTheKnownOnes(t *testing.T) {
	tests := []struct {
		name, from string
		rcpts      []string
		want       []string // replies that must appear, in order
		delivered  bool
	}{
		{"a known user gets the message, answered after the data", "<a@example.org>", []string{"<alice@test.example>"},
			[]string{"250 2.0.0", "354 ", "250 2.0.0"}, true},
		{"an unknown user is refused at RCPT", "<a@example.org>", []string{"<nobody@test.example>"},
			[]string{"550 5.1.1"}, false},
		{"a sender that looks like a flag is refused", "<-oQ/tmp@example.org>", []string{"<alice@test.example>"},
			[]string{"553 5.1.7"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, box := testEnv(t)
			var in strings.Builder
			in.WriteString("LHLO client.example\r\nMAIL FROM:" + tc.from + "\r\n")
			for _, r := range tc.rcpts {
				in.WriteString("RCPT TO:" + r + "\r\n")
			}
			in.WriteString("DATA\r\nSubject: hi\r\n\r\nhello\r\n.\r\nQUIT\r\n")
			var out bytes.Buffer
			if err := Serve(context.Background(), env, strings.NewReader(in.String()), &out, &deliver.Child{}); err != nil {
				t.Fatalf("Serve: %v", err)
			}
			rest := out.String()
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("no %q in the replies (in order):\n%s", w, out.String())
				}
				rest = rest[i+len(w):]
			}
			b, _ := os.ReadFile(box)
			if got := strings.Contains(string(b), "\nhello\n"); got != tc.delivered {
				t.Errorf("delivered = %v, want %v; mailbox:\n%s\nreplies:\n%s", got, tc.delivered, b, out.String())
			}
		})
	}
}
