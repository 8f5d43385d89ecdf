package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"unixmail/internal/sandbox"
)

// serveDeliverLMTP serves LMTP on l by running `deliver -l` for each
// connection, the connection as its standard input and output, until the
// test ends.
func serveDeliverLMTP(t *testing.T, sb *sandbox.Sandbox, l net.Listener) {
	t.Helper()
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				f, err := conn.(interface{ File() (*os.File, error) }).File()
				if err != nil {
					t.Errorf("lmtp conn: %v", err)
					return
				}
				defer f.Close()
				cmd := sb.Command("deliver", "-l")
				cmd.Stdin, cmd.Stdout = f, f
				if err := cmd.Run(); err != nil {
					t.Errorf("deliver -l: %v", err)
				}
			}()
		}
	}()
}

func TestMailboxTransportHandsLocalMailToAnLMTPServer(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			sb := sandbox.New(t, "alice", "bob", "carol")
			var l net.Listener
			var err error
			if network == "unix" {
				l, err = net.Listen("unix", filepath.Join(sb.Dir, "lmtp.sock"))
			} else {
				l, err = net.Listen("tcp", "127.0.0.1:0")
			}
			if err != nil {
				t.Fatal(err)
			}
			transport := "lmtp:" + l.Addr().String()
			if network == "unix" {
				transport = "lmtp:unix:" + l.Addr().String()
			}
			serveDeliverLMTP(t, sb, l)
			sb.Set("mailbox_transport", transport)
			sb.WriteFile("aliases", "team: bob, carol\n", 0644)
			if r := sb.Run("Subject: over lmtp\n\nhello\n", "sendmail", "-i", "team"); r.Code != 0 {
				t.Fatalf("sendmail: %d %s", r.Code, r.Stderr)
			}
			for _, u := range []string{"bob", "carol"} {
				mustContain(t, u+"'s mailbox", sb.ReadMailbox(u), "Subject: over lmtp", "hello", "Delivered-To: "+u+"@test.example")
			}
			log := sb.Log()
			mustContain(t, "log", log, "protocol=lmtp", "relay="+strings.TrimPrefix(transport, "lmtp:"), "orig_to=<team@test.example>", ": removed")
			if left := activeFiles(t, sb); len(left) != 0 {
				t.Fatalf("queue files left: %v", left)
			}
		})
	}
}

func TestEachLMTPReplyAfterTheDataDecidesItsRecipientsFate(t *testing.T) {
	sb := sandbox.New(t, "alice", "bob", "carol")
	l, err := net.Listen("unix", filepath.Join(sb.Dir, "lmtp.sock"))
	if err != nil {
		t.Fatal(err)
	}
	serveDeliverLMTP(t, sb, l)
	sb.Set("mailbox_transport", "lmtp:unix:"+l.Addr().String())
	// A directory where bob's mailbox should be: deliver -l answers 5xx
	// for bob after the data, 250 for carol.
	if err := os.Mkdir(sb.Mailbox("bob"), 0700); err != nil {
		t.Fatal(err)
	}
	if r := sb.Run("Subject: half\n\nbody\n", "sendmail", "-i", "-f", "alice@test.example", "bob", "carol"); r.Code != 0 {
		t.Fatalf("sendmail: %d %s", r.Code, r.Stderr)
	}
	mustContain(t, "carol's mailbox", sb.ReadMailbox("carol"), "Subject: half")
	mustContain(t, "alice's bounce", sb.ReadMailbox("alice"), "report-type=delivery-status",
		"Final-Recipient: rfc822; bob@test.example", "Status: 5.")
	mustNotContain(t, "alice's bounce", sb.ReadMailbox("alice"), "carol@test.example")
	if left := activeFiles(t, sb); len(left) != 0 {
		t.Fatalf("queue files left: %v", left)
	}
}

func TestAnLMTPServerThatIsDownDefersAndTheQueueDeliversLater(t *testing.T) {
	sb := sandbox.New(t)
	sock := filepath.Join(sb.Dir, "lmtp.sock")
	sb.Set("mailbox_transport", "lmtp:unix:"+sock)
	if r := sb.Run("Subject: later\n\nbody\n", "sendmail", "-i", "bob"); r.Code != 0 {
		t.Fatalf("sendmail: %d %s", r.Code, r.Stderr)
	}
	if left := activeFiles(t, sb); len(left) != 1 {
		t.Fatalf("queue files: %v, want the deferred message", left)
	}
	mustContain(t, "log", sb.Log(), "status=deferred")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	serveDeliverLMTP(t, sb, l)
	if r := sb.Run("", "sendmail", "-q"); r.Code != 0 {
		t.Fatalf("sendmail -q: %d %s", r.Code, r.Stderr)
	}
	mustContain(t, "bob's mailbox", sb.ReadMailbox("bob"), "Subject: later")
	if left := activeFiles(t, sb); len(left) != 0 {
		t.Fatalf("queue files left: %v", left)
	}
}
