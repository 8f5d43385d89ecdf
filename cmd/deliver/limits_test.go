package main

import (
	"os"
	"strings"
	"testing"

	"unixmail/internal/sandbox"
)

func TestDeliverRefusesWhatIsTooBigAndWritesNothing(t *testing.T) {
	tests := []struct {
		name, limit, msg, why string
	}{
		{"past message_size_limit", "1000", "Subject: big\n\n" + strings.Repeat("x", 2000) + "\n",
			"message larger than message_size_limit (1000 bytes)"},
		{"a header line of 5 MB", "0", "Subject: " + strings.Repeat("x", 5<<20) + "\n\nbody\n",
			"message header larger than"},
		{"a header of many lines past 1 MB", "0", strings.Repeat("X-Junk: "+strings.Repeat("y", 990)+"\n", 1100) + "\nbody\n",
			"message header larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb := sandbox.New(t, "bob")
			sb.Set("message_size_limit", tt.limit)
			r := sb.Run(tt.msg, "deliver", "bob")
			if r.Code != 65 || !strings.Contains(r.Stderr+sb.Log(), tt.why) {
				t.Fatalf("exit %d (want 65), stderr %q, log:\n%s", r.Code, r.Stderr, sb.Log())
			}
			if fi, err := os.Stat(sb.Mailbox("bob")); err == nil && fi.Size() != 0 {
				t.Errorf("the mailbox holds %d bytes, want nothing written", fi.Size())
			}
		})
	}
	// Just under the limit, and a long first body line, pass.
	sb := sandbox.New(t, "bob")
	sb.Set("message_size_limit", "3000")
	if r := sb.Run("Subject: fits\n\n"+strings.Repeat("x", 2000)+"\n", "deliver", "bob"); r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	sb.Set("message_size_limit", "0")
	if r := sb.Run("Subject: long body line\n"+strings.Repeat("z", 2<<20)+"\n", "deliver", "bob"); r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	if n := sandbox.CountMessages(sb.ReadMailbox("bob")); n != 2 {
		t.Errorf("%d messages delivered, want 2", n)
	}
}
