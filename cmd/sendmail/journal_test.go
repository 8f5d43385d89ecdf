package main

import (
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"unixmail/internal/sandbox"
)

// A journal beside a user's mailbox that is not for that file is set
// aside by the deliver that sendmail, as root, runs as the user; that
// process has no log of its own and says so on its standard error, which
// sendmail logs: run once per message, and kept by the daemon.
func TestSendmailAsRootLogsAJournalTheDeliverItRanSetAside(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to deliver as another user")
	}
	for _, tt := range []struct {
		name string
		send func(t *testing.T, sb *sandbox.Sandbox)
	}{
		{"sendmail -oi, a deliver for the message", func(t *testing.T, sb *sandbox.Sandbox) {
			if r := sb.Run("Subject: second\n\nx\n", "sendmail", "-oi", "nemo"); r.Code != 0 {
				t.Fatalf("sendmail: %d %s", r.Code, r.Stderr)
			}
		}},
		{"the daemon, its kept deliver -l", func(t *testing.T, sb *sandbox.Sandbox) {
			d := sb.StartDaemon("")
			if err := smtp.SendMail(d.Addr, nil, "alice@test.example", []string{"nemo@test.example"}, []byte("Subject: second\r\n\r\nx\r\n")); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sb := sandbox.New(t, "alice")
			sb.AddUser("nemo", 65534, 65534)
			if r := sb.Run("Subject: first\n\nx\n", "sendmail", "-oi", "nemo"); r.Code != 0 {
				t.Fatalf("sendmail: %d %s", r.Code, r.Stderr)
			}
			jpath := sb.ForeignJournal(t, "nemo", 65534)
			tt.send(t, sb)
			sb.WaitMail("nemo", 2)
			aside, _ := filepath.Glob(jpath + ".unmatched-*")
			if len(aside) != 1 {
				t.Fatalf("the journal was not set aside: %v", aside)
			}
			// The daemon logs what its child wrote as it reads it.
			for i := 0; !strings.Contains(sb.Log(), aside[0]); i++ {
				if i == 500 {
					t.Fatalf("the log does not say where the journal went:\n%s", sb.Log())
				}
				time.Sleep(20 * time.Millisecond)
			}
			mustContain(t, "log", sb.Log(), "warning: ")
		})
	}
}
