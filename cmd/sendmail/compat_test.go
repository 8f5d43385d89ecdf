package main

import (
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"unixmail/internal/sandbox"
)

// dashTCase is a message for sendmail -t and who must get it.
type dashTCase struct {
	name, header string
	args         []string
	want         []string
	gone         []string // header fields that must not arrive
}

var dashTUsers = []string{"alice", "bob", "carol", "dave"}

// dashTCases are the headers real senders write, every address in
// test.example, whose users are dashTUsers.
func dashTCases() []dashTCase {
	return []dashTCase{
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
}

// Who gets a message sent with -t, read the way Postfix reads the header.
func TestDashTFindsRecipientsWherePostfixDoes(t *testing.T) {
	users := dashTUsers
	tests := dashTCases()
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

// Modes other than sending, the way Postfix's sendmail takes them.
func TestModesExitAsPostfixDoes(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		code      int
		stdout    string // exact
		stderrHas string
	}{
		{"-bh is ignored", []string{"-bh"}, 0, "", ""},
		{"-bH is ignored", []string{"-bH"}, 0, "", ""},
		{"-I checks the aliases and says nothing when they are right", []string{"-I"}, 0, "", ""},
		{"-bi says nothing when the aliases are right", []string{"-bi"}, 0, "", ""},
		{"-bi -v prints the count", []string{"-bi", "-v"}, 0, "ALIASES: 1 aliases\n", ""},
		{"-bv reports each recipient and exits 67 for an unknown one",
			[]string{"-bv", "bob", "nosuch", "team", "far@remote.example"}, 67,
			"bob@test.example... deliverable: local\nnosuch@test.example... User unknown\n" +
				"team@test.example... deliverable: local\nfar@remote.example... deliverable: remote, by SMTP\n",
			"unknown"},
		{"-bv with known recipients exits 0", []string{"-bv", "bob"}, 0, "bob@test.example... deliverable: local\n", ""},
		{"-bv without recipients is a usage error", []string{"-bv"}, 64, "", "no recipients"},
		{"-bv with -t is a usage error", []string{"-bv", "-t"}, 64, "", "-t can be used only in delivery mode"},
		{"-bp with recipients is a usage error", []string{"-bp", "bob"}, 64, "", "-bp takes no recipients"},
		{"-q with recipients is a usage error", []string{"-q", "bob"}, 64, "", "-q takes no recipients"},
		{"-bt is refused", []string{"-bt"}, 64, "", "-bt is not supported"},
		{"-bD is refused", []string{"-bD"}, 64, "", "-bD is not supported"},
		{"a flag without its value is a usage error", []string{"-f"}, 64, "", "option -f needs a value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb := sandbox.New(t)
			aliases := sb.WriteFile("aliases", "team: bob\n", 0o644)
			r := sb.Run("Subject: x\n\nx\n", "sendmail", tt.args...)
			want := strings.ReplaceAll(tt.stdout, "ALIASES", aliases)
			if r.Code != tt.code || r.Stdout != want || !strings.Contains(r.Stderr, tt.stderrHas) {
				t.Errorf("sendmail %q: exit %d, stdout %q, stderr %q; want %d, %q, stderr with %q",
					tt.args, r.Code, r.Stdout, r.Stderr, tt.code, want, tt.stderrHas)
			}
			if tt.code != 0 && tt.stderrHas == "" {
				t.Errorf("a failure without a message")
			}
			if sb.ReadMailbox("bob") != "" {
				t.Errorf("bob got mail")
			}
		})
	}
}

// The command lines real callers use, and the flags Postfix accepts and
// ignores: each delivers to bob from the expected envelope sender.
func TestCallersCommandLinesDeliver(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		header string
		from   string // envelope sender
	}{
		{"mutt", []string{"-oem", "-oi", "-B8BITMIME", "-N", "failure,delay", "-R", "hdrs", "-f", "carol@test.example", "--", "bob@test.example"}, "", "carol@test.example"},
		{"cron", []string{"-FCronDaemon", "-i", "-B8BITMIME", "-oem", "bob"}, "From: root (Cron Daemon)\n", "alice@test.example"},
		{"git send-email", []string{"-i", "-f", "carol@test.example", "--", "bob@test.example"}, "", "carol@test.example"},
		{"PHP mail()", []string{"-t", "-i"}, "To: Bob <bob@test.example>\n", "alice@test.example"},
		{"PHP mail() with -f attached", []string{"-t", "-i", "-fcarol@test.example"}, "To: bob@test.example\n", "carol@test.example"},
		{"logwatch and mdadm", []string{"-t"}, "To: bob\n", "alice@test.example"},
		{"bsd-mailx", []string{"-oi", "-oem", "bob"}, "", "alice@test.example"},
		{"-r with a separate value", []string{"-r", "carol@test.example", "bob"}, "", "carol@test.example"},
		{"-f with a display name", []string{"-f", "Carol <carol@test.example>", "bob"}, "", "carol@test.example"},
		{"-f empty is the null sender", []string{"-f", "", "bob"}, "", ""},
		{"-f <> is the null sender", []string{"-f<>", "bob"}, "", ""},
		{"-F with blanks", []string{"-FCron Daemon", "bob"}, "", "alice@test.example"},
		{"ignored flags without values", []string{"-n", "-U", "-G", "-m", "-Am", "-XV", "-o7", "-om", "bob"}, "", "alice@test.example"},
		{"ignored flags with separate values", []string{"-h", "5", "-L", "label", "-X", "/nonexistent/log", "-O", "Timeout=5", "-e", "m", "-p", "smtp", "-A", "c", "bob"}, "", "alice@test.example"},
		{"ignored -o letters with attached values", []string{"-oL9", "-oMrsmtp", "-oeq", "bob"}, "", "alice@test.example"},
		{"-N never and -V", []string{"-N", "never", "-V", "env-1", "bob"}, "", "alice@test.example"},
		{"a recipient list in one argument", []string{"--", `"Doe, Bob" <bob@test.example>, carol`}, "", "alice@test.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb := sandbox.New(t, "alice", "bob", "carol")
			r := sb.Run(tt.header+"Subject: caller\n\nbody\n", "sendmail", tt.args...)
			if r.Code != 0 {
				t.Fatalf("sendmail %q: exit %d: %s", tt.args, r.Code, r.Stderr)
			}
			box := sb.ReadMailbox("bob")
			if n := sandbox.CountMessages(box); n != 1 {
				t.Fatalf("bob has %d messages, want 1:\n%s\nlog:\n%s", n, box, sb.Log())
			}
			mustContain(t, "bob's mailbox", box, "Return-Path: <"+tt.from+">", "Subject: caller")
			mustNotContain(t, "log", sb.Log(), "status=bounced")
		})
	}
}

// mailq lays the queue out as Postfix's postqueue -p does with long
// queue ids, so the scripts that read Postfix's mailq read ours.
func TestMailqPrintsPostfixsLayout(t *testing.T) {
	sb := sandbox.New(t)
	down := sandbox.FreePort(t) // nothing listens: deferred with a reason
	sb.Set("relayhost", "["+strings.Replace(down, ":", "]:", 1), "smtp_tls", "none")
	if r := sb.Run("Subject: far\n\nx\n", "sendmail", "far1@remote.example", "far2@remote.example"); r.Code != 0 {
		t.Fatalf("sendmail: %d %s", r.Code, r.Stderr)
	}
	if r := sb.Run("Subject: later\n\nx\n", "sendmail", "-odq", "-f", "<>", "bob"); r.Code != 0 {
		t.Fatalf("sendmail -odq: %d %s", r.Code, r.Stderr)
	}
	out := sb.Run("", "sendmail", "-bp").Stdout
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	id := `[0-9A-F]{12} {5}`
	date := `\w{3} \w{3} [ 1-3]\d \d\d:\d\d:\d\d`
	indent := strings.Repeat(" ", 47)
	want := []string{
		`^----Queue ID----- --Size-- ---Arrival Time---- --Sender/Recipient------$`,
		`^` + id + ` +\d+ ` + date + ` (alice@test\.example|MAILER-DAEMON)$`,
	}
	// The two messages come in queue order; check the shapes, not the order.
	reason := regexp.MustCompile(`^ +\(.*connect.*\)$`)
	var sawReason, sawFar, sawBob bool
	for i, l := range lines {
		switch {
		case i < 2:
			if !regexp.MustCompile(want[i]).MatchString(l) {
				t.Errorf("line %d %q does not match %s", i, l, want[i])
			}
		case reason.MatchString(l):
			sawReason = true
			if len(l) != 78 && !strings.HasPrefix(l, "(") {
				t.Errorf("reason %q is not right-aligned to column 78", l)
			}
		case l == indent+"far1@remote.example" || l == indent+"far2@remote.example":
			sawFar = true
		case l == indent+"bob@test.example":
			sawBob = true
		case l == "" || regexp.MustCompile(want[1]).MatchString(l):
		case i == len(lines)-1:
			if l != "-- 0 Kbytes in 2 Requests." {
				t.Errorf("footer %q", l)
			}
		default:
			t.Errorf("unexpected line %q", l)
		}
	}
	if !sawReason || !sawFar || !sawBob {
		t.Errorf("reason %v, far recipients %v, bob %v in:\n%s", sawReason, sawFar, sawBob, out)
	}
	if n := strings.Count(out, "connection refused"); n != 1 {
		t.Errorf("the shared reason is printed %d times, want once:\n%s", n, out)
	}
	if lines[len(lines)-2] != "" {
		t.Errorf("no blank line before the footer:\n%s", out)
	}
}

// Exit statuses at submission, and what each leaves behind.
func TestSubmissionExitStatusesAndWhatTheyLeave(t *testing.T) {
	big := "Subject: big\n\n" + strings.Repeat(strings.Repeat("a", 70)+"\n", 50)
	tests := []struct {
		name    string
		args    []string
		stdin   string // "/" = a directory, which cannot be read
		code    int
		stderr  string
		queued  bool // the message was accepted
		bounced bool // ...and then bounced to alice
	}{
		{"an unknown local user is accepted and bounced later, as Postfix does",
			[]string{"nosuchuser"}, "Subject: x\n\nx\n", 0, "", true, true},
		{"no recipients is a usage error", nil, "Subject: x\n\nx\n", 64, "no recipients", false, false},
		{"-t with no recipient in the header is a usage error", []string{"-t"}, "To: undisclosed-recipients:;\n\nx\n", 64, "no recipient addresses found in message header", false, false},
		{"an address starting with a dash is a usage error", []string{"--", "-oQ/tmp"}, "Subject: x\n\nx\n", 64, "bad address", false, false},
		{"a message over message_size_limit is a data error", []string{"-o", "message_size_limit=1000", "bob"}, big, 65, "message_size_limit", false, false},
		{"input that cannot be read is an I/O error", []string{"bob"}, "/", 74, "is a directory", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb := sandbox.New(t)
			var r sandbox.Result
			if tt.stdin == "/" {
				r = runOnDirectory(t, sb, tt.args...)
			} else {
				r = sb.Run(tt.stdin, "sendmail", tt.args...)
			}
			if r.Code != tt.code || !strings.Contains(r.Stderr, tt.stderr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", r.Code, r.Stderr, tt.code, tt.stderr)
			}
			log := sb.Log()
			if got := strings.Contains(log, "from=<alice@test.example>"); got != tt.queued {
				t.Errorf("accepted: %v, want %v; log:\n%s", got, tt.queued, log)
			}
			if got := strings.Contains(sb.ReadMailbox("alice"), "multipart/report"); got != tt.bounced {
				t.Errorf("alice got a bounce: %v, want %v; log:\n%s", got, tt.bounced, log)
			}
			if sb.ReadMailbox("bob") != "" {
				t.Errorf("bob got mail")
			}
			mustContain(t, "mailq", sb.Run("", "sendmail", "-bp").Stdout, "Mail queue is empty")
		})
	}
}

// runOnDirectory runs sendmail with a directory as its standard input,
// which opens but fails every read.
func runOnDirectory(t *testing.T, sb *sandbox.Sandbox, args ...string) sandbox.Result {
	t.Helper()
	dir, err := os.Open(sb.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	var stderr strings.Builder
	cmd := sb.Command("sendmail", args...)
	cmd.Stdin, cmd.Stderr = dir, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return sandbox.Result{Stderr: stderr.String(), Code: cmd.ProcessState.ExitCode()}
}

// What a message gets added when its header lacks Date, Message-ID or
// From, as Postfix's cleanup adds them.
func TestMissingHeaderFieldsAreAddedAsPostfixDoes(t *testing.T) {
	tests := []struct {
		name, header string
		args         []string
		want         []string
		not          []string
	}{
		{"From has the caller's GECOS name", "", []string{"bob"},
			[]string{"\nFrom: \"Alice Example\" <alice@test.example>\n", "\nDate: ", "\nMessage-ID: <", "@test.example>\n"}, nil},
		{"-F with a comma is quoted", "", []string{"-F", "Doe, John", "bob"},
			[]string{"\nFrom: \"Doe, John\" <alice@test.example>\n"}, nil},
		{"-F outside ASCII is an encoded word", "", []string{"-FJürgen Ä", "bob"},
			[]string{"\nFrom: =?utf-8?q?J=C3=BCrgen_=C3=84?= <alice@test.example>\n"}, nil},
		{"-f gives the From address", "", []string{"-f", "carol@test.example", "bob"},
			[]string{"\nFrom: \"Alice Example\" <carol@test.example>\n"}, nil},
		{"the null sender is MAILER-DAEMON at hostname", "", []string{"-f", "<>", "bob"},
			[]string{"Return-Path: <>\n", "<MAILER-DAEMON@test.example>\n"}, nil},
		{"fields already there are kept and -F is ignored",
			"From: Someone <someone@example.org>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <given@example.org>\n",
			[]string{"-F", "Ignored", "bob"},
			[]string{"\nFrom: Someone <someone@example.org>\n", "\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n", "\nMessage-ID: <given@example.org>\n"},
			[]string{"Ignored", "@test.example>\nDate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb := sandbox.New(t)
			if r := sb.Run(tt.header+"Subject: fields\n\nbody\n", "sendmail", tt.args...); r.Code != 0 {
				t.Fatalf("exit %d: %s", r.Code, r.Stderr)
			}
			box := sb.ReadMailbox("bob")
			mustContain(t, "bob's mailbox", box, tt.want...)
			mustNotContain(t, "bob's mailbox", box, tt.not...)
			for _, f := range []string{"\nFrom: ", "\nDate: ", "\nMessage-ID: "} {
				if n := strings.Count(box, f); n != 1 {
					t.Errorf("%d %q fields:\n%s", n, f, box)
				}
			}
		})
	}
}

// -N decides whether a failure bounces; a value Postfix would reject is
// ignored as Postfix ignores it, so the default (bounce) holds.
func TestDashNDecidesBouncesAndBadValuesAreIgnored(t *testing.T) {
	tests := []struct {
		notify string
		bounce bool
	}{
		{"failure,delay", true},
		{"never", false},
		{"success", false},
		{"bogus", true},
		{"never,failure", true}, // invalid: ignored
	}
	for _, tt := range tests {
		t.Run("-N "+tt.notify, func(t *testing.T) {
			sb := sandbox.New(t)
			if r := sb.Run("Subject: x\n\nx\n", "sendmail", "-N", tt.notify, "nosuchuser"); r.Code != 0 {
				t.Fatalf("exit %d: %s", r.Code, r.Stderr)
			}
			if got := strings.Contains(sb.ReadMailbox("alice"), "multipart/report"); got != tt.bounce {
				t.Errorf("bounce %v, want %v; log:\n%s", got, tt.bounce, sb.Log())
			}
		})
	}
}
