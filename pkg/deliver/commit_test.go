package deliver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"unixmail/pkg/config"
	"unixmail/pkg/maillog"
	"unixmail/pkg/userdb"
)

func TestRoundsDeliverEveryConcurrentMessageWholeToItsMailbox(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{Mailbox: filepath.Join(dir, "%u"), Hostname: "test.example"}
	rs := &Rounds{Env: &Env{Config: cfg, Log: maillog.Discard(), Now: time.Now}}
	users := []*userdb.User{
		{Name: "alice", UID: os.Geteuid(), GID: os.Getegid(), Home: dir},
		{Name: "bob", UID: os.Geteuid(), GID: os.Getegid(), Home: dir},
	}
	const each = 20
	var wg sync.WaitGroup
	for _, u := range users {
		for i := range each {
			wg.Add(1)
			go func() {
				defer wg.Done()
				in, err := ReadIncoming(strings.NewReader(fmt.Sprintf("Subject: %s %d\n\nbody\n", u.Name, i)))
				if err != nil {
					t.Error(err)
					return
				}
				req := &Request{Sender: "x@y", SenderGiven: true}
				if r := rs.Deliver(context.Background(), Item{Req: req, User: u, In: in}); r.Err != nil {
					t.Errorf("%s %d: %v", u.Name, i, r.Err)
				}
			}()
		}
	}
	wg.Wait()
	for _, u := range users {
		b, err := os.ReadFile(filepath.Join(dir, u.Name))
		if err != nil {
			t.Fatal(err)
		}
		for i := range each {
			if !strings.Contains(string(b), fmt.Sprintf("Subject: %s %d\n", u.Name, i)) {
				t.Errorf("%s's mailbox lacks message %d", u.Name, i)
			}
		}
		if n := strings.Count(string(b), "\nFrom x@y "); n+1 != each {
			t.Errorf("%s's mailbox holds %d messages, want %d", u.Name, n+1, each)
		}
	}
}
