package config

import (
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary file text to the parser: it must never panic,
// and whatever it accepts must be a valid configuration.
func FuzzParse(f *testing.F) {
	f.Add("hostname = h\nmailbox = /var/mail/%u # classic\n")
	f.Add("mailbox = $folder_dir/x\nfolder_dir = ${queue_directory}\n")
	f.Add("mynetworks = [::1]/128, 10.0.0.0/8 192.0.2.1\n")
	f.Fuzz(func(t *testing.T, text string) {
		s := newSettings()
		if err := s.parse("fuzz.conf", text); err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.conf:") {
				t.Errorf("error %q does not name the file", err)
			}
			return
		}
		c, err := build(s, "fuzz.example")
		if err != nil {
			return
		}
		switch {
		case c.Hostname == "":
			t.Error("empty hostname accepted")
		case c.Auth == "":
			t.Error("auth left empty")
		case c.SMTPTLS != "none" && c.SMTPTLS != "opportunistic" && c.SMTPTLS != "starttls" && c.SMTPTLS != "tls":
			t.Errorf("smtp_tls %q accepted", c.SMTPTLS)
		case !strings.HasPrefix(c.Mailbox, "/") && !strings.HasPrefix(c.Mailbox, "~"):
			t.Errorf("mailbox %q accepted", c.Mailbox)
		case c.MessageSizeLimit < 0 || c.MaximalQueueLifetime < 0:
			t.Errorf("negative limit accepted: %d %v", c.MessageSizeLimit, c.MaximalQueueLifetime)
		case len(c.SMTPListen) == 0:
			t.Error("empty smtp_listen accepted")
		}
		for _, d := range c.MyDestination {
			if d != strings.ToLower(d) || d == "" {
				t.Errorf("mydestination item %q", d)
			}
		}
	})
}
