package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"unixmail/internal/sandbox"
)

// folder copies a testdata mailbox into dir and returns its path.
func folder(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(dir, 0o755)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestScriptedSessions runs command scripts over the five-message fixture
// (procmail's delivery of alice, carol, juergen, dave and eve) and checks
// what each prints: every message-list form and the reading commands.
func TestScriptedSessions(t *testing.T) {
	cases := []struct {
		name, script string
		want, not    []string
	}{
		{"number", "p 2\nx\n", []string{"Message 2:", "Subject: Body lines that look like From_ lines", "From here on, everything is quoted text."}, []string{"Message 1:"}},
		{"bare number prints", "4\nx\n", []string{"Message 4:"}, nil},
		{"range", "f 2-4\nx\n", []string{"   2 carol@", "   3 juergen@", "   4 dave@"}, []string{"   1 alice@", "   5 eve@"}},
		{"star", "f *\nx\n", []string{"   1 alice@", "   5 eve@"}, nil},
		{"dot caret dollar", "f .\nf ^\nf $\nx\n", []string{">N   1 alice@", "   5 eve@"}, []string{"   3 juergen"}},
		{"colon new", "p 1\nf :n\nx\n", []string{"   2 carol@"}, []string{"R   1 alice"}},
		{"colon read", "p 1\nf :r\nx\n", []string{">R   1 alice@"}, []string{"   2 carol@"}},
		{"colon unread", "p 1\nf :u\nx\n", []string{"   2 carol@", "   5 eve@"}, []string{"1 alice@"}},
		{"colon deleted", "d 3\nf :d\nx\n", []string{"D   3 juergen@"}, []string{"2 carol"}},
		{"colon old", "f :o\nx\n", nil, []string{"alice@", "carol@"}},
		{"subject search", "f /cheese\nf /long\nx\n", []string{"   4 dave@"}, []string{"1 alice"}},
		{"user name", "f eve\nf carol@example.org\nx\n", []string{"   5 eve@", "   2 carol@"}, []string{"alice@"}},
		{"decoded charset", "p 3\nx\n", []string{"From: Jürgen Müller <juergen@example.de>", "Subject: Schöne Grüße mit Anhang", "[-- #2 application/octet-stream"}, nil},
		{"ignore", "ignore date message-id to\np 1\nx\n", []string{"Subject: Plain message one"}, []string{"Message-ID:", "Date:"}},
		{"retain", "retain subject\np 1\nretain\nx\n", []string{"Subject: Plain message one", "subject\n"}, []string{"From: Alice"}},
		{"raw", "P 3\nx\n", []string{"Subject: =?UTF-8?Q?Sch=C3=B6ne", "Content-Transfer-Encoding: base64"}, nil},
		{"top", "set toplines=1\ntop 1\nx\n", []string{"Message 1:", "Subject: Plain"}, nil},
		{"size", "size 1 5\nx\n", []string{"1: 255", "5: 214"}, nil},
		{"equals", "p 3\n=\nx\n", []string{"\n3\n"}, nil},
		{"next and previous", "p 2\nn\n-\nx\n", []string{"Message 3:", "Message 2:"}, nil},
		{"delete and undelete", "d 1\nf *\nu 1\nf 1\nx\n", []string{"   1 alice@"}, nil},
		{"dp", "dp 1\nx\n", []string{"Message 2:"}, nil},
		{"headers", "h\nx\n", []string{">N   1 alice@", " N   5 eve@"}, nil},
		{"z", "set screen=2\nz\nz-\nx\n", []string{"   3 juergen@", "   1 alice@"}, nil},
		{"echo and set", "set foo=bar\nset\necho hello world\nunset foo\nset\nx\n", []string{"foo\t\"bar\"", "hello world"}, nil},
		{"if else endif", "if r\necho receiving\nelse\necho sending\nendif\nif t\necho term\nendif\nx\n", []string{"receiving"}, []string{"sending", "term"}},
		{"alias", "alias team a@x b@y\nalias team\nalias\nunalias team\nalias team\nx\n", []string{"team\ta@x b@y"}, nil},
		{"alternates", "alternates me@elsewhere\nalternates\nx\n", []string{"me@elsewhere"}, nil},
		{"help and list", "help\nlist\n?\nx\n", []string{"undelete", "next alias"}, nil},
		{"version", "version\nx\n", []string{"unixmail mail"}, nil},
		{"pipe", "pipe 1 grep -c ^Subject:.Plain\n| 2 wc -l\nx\n", []string{"1\n"}, nil},
		{"shell", "!echo from-shell\nx\n", []string{"from-shell"}, nil},
		{"attachments", "attachments 3\nx\n", []string{"2     application/octet-stream", "data.bin"}, nil},
		{"file", "file\nfolder\nx\n", []string{"five.mbox\": 5 messages 5 new"}, nil},
		{"unknown command", "frobnicate\nx\n", nil, nil},
		{"comment", "# nothing\nx\n", nil, []string{"Unknown"}},
		{"unread and touch", "p 1\nunread 1\ntouch 2\nf 1 2\nx\n", []string{" N   1 alice@"}, nil},
		{"hold and mbox marks", "hold 1\nmbox 2\nf 1 2\nx\n", []string{"P   1 alice@", "M   2 carol@"}, nil},
		{"flag", "flag 1\nunflag 1\nx\n", nil, nil},
		{"newmail", "newmail\nx\n", []string{"No new mail."}, nil},
		{"source", "source SRC\nx\n", []string{"sourced!"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sb := sandbox.New(t)
			dir := t.TempDir()
			p := folder(t, dir, "five.mbox")
			src := filepath.Join(dir, "rc")
			os.WriteFile(src, []byte("echo sourced!\n"), 0o644)
			cmd := sb.Mail("bob", "-N", "-f", p)
			cmd.Dir = dir
			r := sandbox.RunCmd(t, cmd, strings.ReplaceAll(c.script, "SRC", src))
			for _, w := range c.want {
				if !strings.Contains(r.Stdout, w) {
					t.Errorf("output lacks %q\nstdout:\n%s\nstderr:\n%s", w, r.Stdout, r.Stderr)
				}
			}
			for _, w := range c.not {
				if strings.Contains(r.Stdout, w) {
					t.Errorf("output has %q\nstdout:\n%s", w, r.Stdout)
				}
			}
			if c.name == "unknown command" && (r.Code == 0 || !strings.Contains(r.Stderr, "Unknown command")) {
				t.Errorf("unknown command: exit %d, stderr %q", r.Code, r.Stderr)
			}
		})
	}
}

func TestSaveCopyWriteAndAttachmentSaving(t *testing.T) {
	sb := sandbox.New(t)
	dir := t.TempDir()
	p := folder(t, dir, "five.mbox")
	script := "save 1 +saved\ncopy 2 " + filepath.Join(dir, "copied") + "\nwrite 1 " + filepath.Join(dir, "body.txt") +
		"\nSave 5\nattachments 3 2 " + filepath.Join(dir, "data.bin") + "\nf *\nq\n"
	cmd := sb.Mail("bob", "-N", "-f", p)
	cmd.Dir = dir
	r := sandbox.RunCmd(t, cmd, script)
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	saved, _ := os.ReadFile(filepath.Join(sb.Home("bob"), "mail", "saved"))
	if !strings.HasPrefix(string(saved), "From alice@example.org") || !strings.Contains(string(saved), "Status: O\n") {
		t.Errorf("+saved:\n%s", saved)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "copied")); !strings.Contains(string(b), ">From here on") {
		t.Errorf("copy lost the mbox quoting:\n%s", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "body.txt")); strings.Contains(string(b), "Subject:") || len(b) == 0 {
		t.Errorf("write kept the header or wrote nothing:\n%s", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "eve")); !strings.Contains(string(b), "Subject: Last message") {
		t.Errorf("Save 5 did not write ./eve:\n%s", b)
	}
	if fi, err := os.Stat(filepath.Join(dir, "data.bin")); err != nil || fi.Size() == 0 {
		t.Errorf("attachment not saved: %v", err)
	}
	// Saved messages leave the folder at quit (keepsave unset).
	after, _ := os.ReadFile(p)
	if strings.Contains(string(after), "Plain message one") || strings.Contains(string(after), "Last message") {
		t.Errorf("saved messages were kept:\n%s", after)
	}
	if !strings.Contains(string(after), "Body lines that look") {
		t.Error("the copied message went too")
	}
}

func TestHeaderSummaryExitCodesAndFolders(t *testing.T) {
	sb := sandbox.New(t)
	folder(t, filepath.Join(sb.Home("bob"), "mail"), "five.mbox")
	r := sandbox.RunCmd(t, sb.Mail("bob", "-H", "-f", "+five.mbox"), "")
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if r.Code != 0 || len(lines) != 5 || lines[0] != `>N   1 alice@example.org     Mon Jan  1 10:00   12/255   "Plain message one"` {
		t.Errorf("mail -H -f +five.mbox: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, l := range lines {
		if len([]rune(l)) > 79 {
			t.Errorf("line wider than 79 columns: %q", l)
		}
	}
	if r := sandbox.RunCmd(t, sb.Mail("bob", "-e"), ""); r.Code != 1 || r.Stdout != "" {
		t.Errorf("mail -e with no mailbox: exit %d, %q", r.Code, r.Stdout)
	}
	if r := sandbox.RunCmd(t, sb.Mail("bob"), ""); r.Code != 1 || !strings.Contains(r.Stderr, "No mail for bob") {
		t.Errorf("mail with no mail: exit %d, %q", r.Code, r.Stderr)
	}
	folder(t, sb.Home("bob"), "five.mbox")
	os.Rename(filepath.Join(sb.Home("bob"), "five.mbox"), sb.Mailbox("bob"))
	if r := sandbox.RunCmd(t, sb.Mail("bob", "-e"), ""); r.Code != 0 {
		t.Errorf("mail -e with mail: exit %d", r.Code)
	}
	if r := sandbox.RunCmd(t, sb.Mail("alice", "-e", "-u", "bob"), ""); r.Code != 0 {
		t.Errorf("mail -e -u bob: exit %d %s", r.Code, r.Stderr)
	}
	r = sandbox.RunCmd(t, sb.Mail("bob", "-N"), "folders\nfile +five.mbox\nfile #\nx\n")
	if !strings.Contains(r.Stdout, "five.mbox") || !strings.Contains(r.Stdout, `"+five.mbox": 5 messages`) {
		t.Errorf("folders / file +name:\n%s\n%s", r.Stdout, r.Stderr)
	}
}

func TestMailAndSnailFixturesAreShownWithDecodedCharsets(t *testing.T) {
	sb := sandbox.New(t)
	dir := t.TempDir()
	p := folder(t, dir, "snail-sent.mbox")
	latin := filepath.Join(dir, "latin1.mbox")
	os.WriteFile(latin, []byte("From mutt@example.org  Wed Nov 25 17:27:50 2026\nFrom: =?iso-8859-1?q?J=FCrgen?= <j@example.org>\nSubject: =?ISO-8859-1?Q?Gr=FC=DFe?=\nMIME-Version: 1.0\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nSch=F6ne Gr=FC=DFe aus K=F6ln\n\nFrom b64@example.org  Wed Nov 25 17:27:51 2026\nFrom: b64@example.org\nSubject: base64\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\nR3LDvMOfZSBhdXMgS8O2bG4K\n\n"), 0o600)
	r := sandbox.RunCmd(t, sb.Mail("bob", "-N", "-R", "-f", p), "p 1\nx\n")
	for _, w := range []string{"Subject: Grüße aus Köln", "From here on", "€", "[-- #2 application/pdf"} {
		if !strings.Contains(r.Stdout, w) {
			t.Errorf("s-nail's message: output lacks %q\n%s", w, r.Stdout)
		}
	}
	r = sandbox.RunCmd(t, sb.Mail("bob", "-N", "-R", "-f", latin), "p 1 2\nx\n")
	for _, w := range []string{"From: Jürgen <j@example.org>", "Subject: Grüße", "Schöne Grüße aus Köln", "Grüße aus Köln\n"} {
		if !strings.Contains(r.Stdout, w) {
			t.Errorf("latin-1 QP / base64: output lacks %q\n%s", w, r.Stdout)
		}
	}
	r = sandbox.RunCmd(t, sb.Mail("bob", "-H", "-f", filepath.Join("testdata", "mutt-after-quit.mbox")), "")
	if !strings.Contains(r.Stdout, ">U   2 carol@") || !strings.Contains(r.Stdout, "     1 alice@") || strings.Contains(r.Stdout, " N ") {
		t.Errorf("mutt's flags (all old or read) not shown:\n%s", r.Stdout)
	}
}

func TestEditAndVisualShowTheMessageInTheEditor(t *testing.T) {
	sb := sandbox.New(t)
	dir := t.TempDir()
	p := folder(t, dir, "five.mbox")
	r := sandbox.RunCmd(t, sb.Mail("bob", "-N", "-f", p), "set EDITOR=cat VISUAL='grep -c Subject'\nedit 1\nvisual 2\nx\n")
	if !strings.Contains(r.Stdout, "Subject: Plain message one") || !strings.Contains(r.Stdout, "1\n") {
		t.Errorf("edit/visual:\n%s\n%s", r.Stdout, r.Stderr)
	}
}

func TestReplyQuotesAndAnswers(t *testing.T) {
	py := sandbox.NeedPeer(t, "python3")
	sb := sandbox.New(t)
	dir := t.TempDir()
	p := folder(t, dir, "five.mbox")
	out := sb.FakeSendmail(t, "bob", "0")
	cmd := sb.Mail("bob", "-N", "-f", p)
	cmd.Dir = dir
	r := sandbox.RunCmd(t, cmd, "reply 1\n~m 1\nThanks!\n~.\nR 2\nok\n~.\nfollowup 4\nnoted\n~.\nq\n")
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	b, _ := exec.Command(py, "-c", `import email,sys
m = email.message_from_binary_file(open(sys.argv[1],'rb'))
print(m['To']); print(m['Subject']); print(m['In-Reply-To'])`, filepath.Join(out, "message")).CombinedOutput()
	if !strings.Contains(string(b), "dave@example.com\nRe: A message with a long") {
		t.Errorf("last reply (followup 4):\n%s", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "dave")); err != nil {
		t.Errorf("followup did not record to ./dave: %v", err)
	}
	after, _ := os.ReadFile(p)
	if !strings.Contains(string(after), "X-Status: A") {
		t.Errorf("answered flag not written:\n%s", after)
	}
}
