package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"unixmail/internal/sandbox"
	"unixmail/internal/testbin"
)

// pyDecode has python3's email package decode a message and print its
// subject, its recipients and the sha256 and name of each attachment.
const pyDecode = `import sys, email, email.policy, hashlib
m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=email.policy.default)
print('Subject:', m['subject'])
print('To:', m['to'])
print('Cc:', m['cc'])
print('Bcc:', m['bcc'])
print('Body:', m.get_body(('plain',)).get_content().strip())
for p in m.iter_attachments():
    print('Attachment:', p.get_filename(), p.get_content_type(), hashlib.sha256(p.get_content()).hexdigest())
`

func sha256File(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("sha256sum", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))[0]
}

func TestSendBuildsAMessageThatPythonDecodesByteForByte(t *testing.T) {
	py := sandbox.NeedPeer(t, "python3")
	sb := sandbox.New(t)
	dir := sb.FakeSendmail(t, "alice", "0")
	pdf, _ := filepath.Abs("testdata/report.pdf")
	r := sandbox.RunCmd(t, sb.Mail("alice", "-s", "Grüße aus Köln", "-a", pdf, "-c", "carol@example.org", "-b", "dave@example.org", "bob@test.example"), "Hallo Bob,\nanbei der Bericht. 5 €\n")
	if r.Code != 0 {
		t.Fatalf("mail exited %d: %s", r.Code, r.Stderr)
	}
	argv, _ := os.ReadFile(filepath.Join(dir, "argv"))
	if string(argv) != "-t\n-i\n" {
		t.Errorf("sendmail argv = %q, want -t -i", argv)
	}
	out, err := exec.Command(py, "-c", pyDecode, filepath.Join(dir, "message")).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	want := "Subject: Grüße aus Köln\nTo: bob@test.example\nCc: carol@example.org\nBcc: dave@example.org\nBody: Hallo Bob,\nanbei der Bericht. 5 €\n" +
		"Attachment: report.pdf application/pdf " + sha256File(t, pdf) + "\n"
	if string(out) != want {
		t.Errorf("python decoded\n%s\nwant\n%s", out, want)
	}
}

// TestSentMessageArrivesAndSnailReadsIt sends through a sendmail that is
// our deliver, then reads bob's mailbox with python and with s-nail.
func TestSentMessageArrivesAndSnailReadsIt(t *testing.T) {
	py := sandbox.NeedPeer(t, "python3")
	snail := sandbox.NeedPeer(t, "s-nail")
	sb := sandbox.New(t)
	wrapper := filepath.Join(t.TempDir(), "sendmail")
	script := "#!/bin/sh\n# a sendmail -t -i that hands everything to bob\nUNIXMAIL_CONF=" + sb.Conf + " exec " + testbin.Path(t, "deliver") + " -f alice@test.example bob\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	sb.MailRC("alice", "set sendmail="+wrapper)
	pdf, _ := filepath.Abs("testdata/report.pdf")
	r := sandbox.RunCmd(t, sb.Mail("alice", "-s", "Grüße aus Köln", "-a", pdf, "bob@test.example"), "Hallo Bob\n")
	if r.Code != 0 {
		t.Fatalf("mail exited %d: %s", r.Code, r.Stderr)
	}
	out, err := exec.Command(py, "-c", `import mailbox, sys, hashlib
for m in mailbox.mbox(sys.argv[1]):
    import email, email.policy
    e = email.message_from_bytes(m.as_bytes(), policy=email.policy.default)
    print(e['subject'])
    for p in e.iter_attachments(): print(p.get_filename(), hashlib.sha256(p.get_content()).hexdigest())
`, sb.Mailbox("bob")).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	if want := "Grüße aus Köln\nreport.pdf " + sha256File(t, pdf) + "\n"; string(out) != want {
		t.Errorf("python read from the mailbox\n%s\nwant\n%s", out, want)
	}
	cmd := exec.Command(snail, "-:/", "-R", "-H", "-f", sb.Mailbox("bob"))
	cmd.Env = []string{"HOME=" + sb.Home("bob"), "LC_ALL=C.UTF-8", "TERM=dumb", "PATH=/usr/bin:/bin"}
	hdr, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(hdr), "Grüße aus Köln") {
		t.Errorf("s-nail -H: %v\n%s", err, hdr)
	}
}

func TestSendRefusesHeaderInjection(t *testing.T) {
	cases := map[string][]string{
		"subject":     {"-s", "hi\nBcc: victim@example.org", "bob@test.example"},
		"address":     {"-s", "hi", "bob@test.example\nBcc: victim@example.org"},
		"cc":          {"-c", "x@example.org\r\nX-Evil: 1", "bob@test.example"},
		"dash":        {"-s", "hi", "--", "-oQ/tmp/x"},
		"sendmailopt": {"-s", "hi", "-r", "-X/tmp/log", "bob@test.example"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			sb := sandbox.New(t)
			dir := sb.FakeSendmail(t, "alice", "0")
			r := sandbox.RunCmd(t, sb.Mail("alice", args...), "body\n")
			if r.Code == 0 {
				t.Errorf("mail accepted it: %s", r.Stderr)
			}
			if _, err := os.Stat(filepath.Join(dir, "message")); err == nil {
				m, _ := os.ReadFile(filepath.Join(dir, "message"))
				t.Errorf("sendmail was run with\n%s", m)
			}
		})
	}
}

func TestSendFailureIsReportedAndTheDraftSavedToDeadLetter(t *testing.T) {
	sb := sandbox.New(t)
	sb.FakeSendmail(t, "alice", "75")
	r := sandbox.RunCmd(t, sb.Mail("alice", "-s", "lost?", "bob@test.example"), "keep this text\n")
	if r.Code == 0 || !strings.Contains(r.Stderr, "exited 75") {
		t.Errorf("exit %d, stderr %q: the failure was not reported", r.Code, r.Stderr)
	}
	dead, err := os.ReadFile(filepath.Join(sb.Home("alice"), "dead.letter"))
	if err != nil || !strings.Contains(string(dead), "keep this text") || !strings.HasPrefix(string(dead), "From ") {
		t.Errorf("dead.letter: %v\n%s", err, dead)
	}
}

func TestSendWithEmptyBodyAndMinusEIsNotSent(t *testing.T) {
	sb := sandbox.New(t)
	dir := sb.FakeSendmail(t, "alice", "0")
	r := sandbox.RunCmd(t, sb.Mail("alice", "-E", "-s", "empty", "bob@test.example"), "")
	if r.Code != 0 {
		t.Errorf("exit %d: %s", r.Code, r.Stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "message")); err == nil {
		t.Error("an empty message was sent despite -E")
	}
}

func TestTildeEscapesFromStdin(t *testing.T) {
	py := sandbox.NeedPeer(t, "python3")
	sb := sandbox.New(t)
	dir := sb.FakeSendmail(t, "alice", "0")
	home := sb.Home("alice")
	os.WriteFile(filepath.Join(home, "insert.txt"), []byte("inserted file line\n"), 0o644)
	pdf, _ := filepath.Abs("testdata/report.pdf")
	sb.MailRC("alice", "set sign='-- Alice'", "alias team carol@example.org dave@example.org", "set greeting=Moin")
	input := strings.Join([]string{
		"~s Tilde test",
		"~t team",
		"~c erin@example.org",
		"~b frank@example.org",
		"~i greeting",
		"first line",
		"~~literal tilde",
		"~r " + filepath.Join(home, "insert.txt"),
		"~| tr a-z A-Z",
		"~a",
		"~@ " + pdf,
		"~w " + filepath.Join(home, "draft.txt"),
		"~! echo shell ran",
		"~: set tildecolon",
		"~?",
		"~p",
		"~.",
		"never read",
	}, "\n") + "\n"
	r := sandbox.RunCmd(t, sb.Mail("alice", "bob@test.example"), input)
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	for _, want := range []string{"shell ran", "~ESCAPES", "Message contains:", "Subject: Tilde test", "Attachment: " + pdf} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.Stdout)
		}
	}
	out, err := exec.Command(py, "-c", pyDecode, filepath.Join(dir, "message")).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	want := "Subject: Tilde test\nTo: bob@test.example, carol@example.org, dave@example.org\nCc: erin@example.org\nBcc: frank@example.org\n" +
		"Body: MOIN\nFIRST LINE\n~LITERAL TILDE\nINSERTED FILE LINE\n-- Alice\n" +
		"Attachment: report.pdf application/pdf " + sha256File(t, pdf) + "\n"
	if string(out) != want {
		t.Errorf("python decoded\n%s\nwant\n%s", out, want)
	}
	if b, _ := os.ReadFile(filepath.Join(home, "draft.txt")); !strings.HasPrefix(string(b), "MOIN\n") {
		t.Errorf("~w wrote %q", b)
	}
}

func TestTildeQSavesTheDraftAndTildeXDoesNot(t *testing.T) {
	for esc, wantDead := range map[string]bool{"~q": true, "~x": false} {
		t.Run(esc, func(t *testing.T) {
			sb := sandbox.New(t)
			dir := sb.FakeSendmail(t, "alice", "0")
			r := sandbox.RunCmd(t, sb.Mail("alice", "-s", "x", "bob@test.example"), "draft text\n"+esc+"\n")
			if r.Code != 0 {
				t.Errorf("exit %d: %s", r.Code, r.Stderr)
			}
			if _, err := os.Stat(filepath.Join(dir, "message")); err == nil {
				t.Error("the message was sent")
			}
			_, err := os.Stat(filepath.Join(sb.Home("alice"), "dead.letter"))
			if (err == nil) != wantDead {
				t.Errorf("dead.letter exists: %v, want %v", err == nil, wantDead)
			}
		})
	}
}

func TestALatin1BodyIsNeverLabelledUTF8(t *testing.T) {
	py := sandbox.NeedPeer(t, "python3")
	latin1 := "Gr\xfc\xdfe aus K\xf6ln\n"
	cases := []struct {
		name, env, rc string
		code          int
		charset       string // of the text part; "" = refused
	}{
		{"typed in a Latin-1 locale: converted to UTF-8", "LANG=de_DE.ISO-8859-1", "", 0, "utf-8"},
		{"in a UTF-8 locale with sendcharsets: sent as it is, labelled Latin-1", "LANG=C.UTF-8", "set sendcharsets=utf-8,iso-8859-1", 0, "iso-8859-1"},
		{"in a UTF-8 locale alone: refused, saved in dead.letter", "LC_ALL=de_DE.UTF-8", "", 1, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sb := sandbox.New(t)
			dir := sb.FakeSendmail(t, "alice", "0")
			if c.rc != "" {
				sb.MailRC("alice", c.rc)
			}
			cmd := sb.Mail("alice", "-s", "Latin-1", "bob@test.example")
			cmd.Env = append(cmd.Env, "LC_ALL=", "LC_CTYPE=", "LANG=", c.env)
			r := sandbox.RunCmd(t, cmd, latin1)
			if r.Code != c.code {
				t.Fatalf("mail exited %d, want %d: %s", r.Code, c.code, r.Stderr)
			}
			if c.charset == "" {
				if !strings.Contains(r.Stderr, "not valid UTF-8") || !strings.Contains(r.Stderr, "sendcharsets") {
					t.Errorf("the refusal does not say why and what to do: %q", r.Stderr)
				}
				if dead, _ := os.ReadFile(filepath.Join(sb.Home("alice"), "dead.letter")); !strings.Contains(string(dead), latin1) {
					t.Errorf("dead.letter holds %q", dead)
				}
				if _, err := os.Stat(filepath.Join(dir, "message")); err == nil {
					t.Error("a message went out")
				}
				return
			}
			script := "import sys, email, email.policy\nm = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=email.policy.default)\n" +
				"b = m.get_body(('plain',))\nprint(b.get_content_charset(), b.get_content(), end='')"
			out, err := exec.Command(py, "-c", script, filepath.Join(dir, "message")).CombinedOutput()
			if want := c.charset + " Grüße aus Köln\n"; err != nil || string(out) != want {
				t.Fatalf("python reads %q (%v), want %q", out, err, want)
			}
		})
	}
}
