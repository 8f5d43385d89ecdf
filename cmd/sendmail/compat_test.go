package main

import (
	"strings"
	"testing"

	"unixmail/internal/sandbox"
)

// Who gets a message sent with -t, read the way Postfix reads the header.
func TestDashTFindsRecipientsWherePostfixDoes(t *testing.T) {
	users := []string{"alice", "bob", "carol", "dave"}
	tests := []struct {
		name, header string
		args         []string
		want         []string
		gone         []string // header fields that must not arrive
	}{
		{"groups give their members and empty groups nobody",
			"To: undisclosed-recipients:;\nCc: Team: carol@test.example, dave;\n", nil, []string{"carol", "dave"}, nil},
		{"display names with commas in quotes",
			"To: \"Doe, Bob\" <bob@test.example>, \"Example, Carol\" <carol>\n", nil, []string{"bob", "carol"}, nil},
		{"encoded words in any charset",
			"To: =?koi8-r?B?8NLJ18XU?= <bob@test.example>,\n =?utf-8?Q?D=C3=A4ve?= <dave@test.example>\n", nil, []string{"bob", "dave"}, nil},
		{"several To lines all count",
			"To: bob\nTo: carol@test.example\n", nil, []string{"bob", "carol"}, nil},
		{"command-line recipients are added",
			"To: bob\n", []string{"--", "dave"}, []string{"bob", "dave"}, nil},
		{"Bcc is removed",
			"To: bob\nBcc: carol, dave\n", nil, []string{"bob", "carol", "dave"}, []string{"Bcc:"}},
		{"Resent headers replace To and Cc and Resent-Bcc is removed",
			"To: alice\nCc: bob\nResent-To: carol\nResent-Bcc: dave\n", nil, []string{"carol", "dave"}, []string{"Resent-Bcc:"}},
		{"comments and source routes are dropped",
			"To: bob@test.example (Bob, the builder), <@relay.example:carol@test.example>\n", nil, []string{"bob", "carol"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb := sandbox.New(t, users...)
			msg := tt.header + "Subject: -t test\n\nbody\n"
			r := sb.Run(msg, "sendmail", append([]string{"-t", "-i"}, tt.args...)...)
			if r.Code != 0 {
				t.Fatalf("sendmail -t: exit %d: %s", r.Code, r.Stderr)
			}
			for _, u := range users {
				box := sb.ReadMailbox(u)
				got := strings.Contains(box, "Subject: -t test")
				want := false
				for _, w := range tt.want {
					want = want || w == u
				}
				if got != want {
					t.Errorf("%s got the message: %v, want %v; log:\n%s", u, got, want, sb.Log())
				}
				if got {
					mustNotContain(t, u+"'s mailbox", box, tt.gone...)
				}
			}
		})
	}
}
