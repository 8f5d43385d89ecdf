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
// With system set the fixture is bob's system mailbox, mbox lists the
// senders whose messages ~/mbox holds after the session and kept (when
// set) those left in the mailbox; sent, when set,
// is what the last message handed to the (fake) sendmail must contain;
// rc is added to bob's ~/.mailrc; clean asks for exit 0 and a silent
// stderr; nothingSent, that sendmail never ran.
func TestScriptedSessions(t *testing.T) {
	cases := []struct {
		name, script string
		want, not    []string
		system       bool
		mbox         string
		sent         []string
		rc           []string // lines of ~/.mailrc
		flags        []string // more command-line flags
		clean        bool     // exit 0, nothing on stderr
		nothingSent  bool     // sendmail must not run
		kept         string   // with system: the senders left in the mailbox ("": not checked)
	}{
		{name: "number", script: "p 2\nx\n", want: []string{"Message 2:", "Subject: Body lines that look like From_ lines", "From here on, everything is quoted text."}, not: []string{"Message 1:"}},
		{name: "bare number prints", script: "4\nx\n", want: []string{"Message 4:"}},
		{name: "range", script: "f 2-4\nx\n", want: []string{"   2 carol@", "   3 juergen@", "   4 dave@"}, not: []string{"   1 alice@", "   5 eve@"}},
		{name: "star", script: "f *\nx\n", want: []string{"   1 alice@", "   5 eve@"}},
		{name: "dot caret dollar", script: "f .\nf ^\nf $\nx\n", want: []string{">N   1 alice@", "   5 eve@"}, not: []string{"   3 juergen"}},
		{name: "colon new", script: "p 1\nf :n\nx\n", want: []string{"   2 carol@"}, not: []string{"R   1 alice"}},
		{name: "colon read", script: "p 1\nf :r\nx\n", want: []string{">R   1 alice@"}, not: []string{"   2 carol@"}},
		{name: "colon unread takes old messages not read, not new ones", script: "p 1\nf :u\nx\n", not: []string{"1 alice@", "2 carol@"}},
		{name: "colon deleted", script: "d 3\nf :d\nx\n", want: []string{"D   3 juergen@"}, not: []string{"2 carol"}},
		{name: "colon old", script: "f :o\nx\n", not: []string{"alice@", "carol@"}},
		{name: "subject search", script: "f /cheese\nf /long\nx\n", want: []string{"   4 dave@"}, not: []string{"1 alice"}},
		{name: "user name", script: "f eve\nf carol@example.org\nx\n", want: []string{"   5 eve@", "   2 carol@"}, not: []string{"alice@"}},
		{name: "decoded charset", script: "p 3\nx\n", want: []string{"From: Jürgen Müller <juergen@example.de>", "Subject: Schöne Grüße mit Anhang", "[-- #2 application/octet-stream"}},
		{name: "ignore", script: "ignore date message-id to\np 1\nx\n", want: []string{"Subject: Plain message one"}, not: []string{"Message-ID:", "Date:"}},
		{name: "retain", script: "retain subject\np 1\nretain\nx\n", want: []string{"Subject: Plain message one", "subject\n"}, not: []string{"From: Alice"}},
		{name: "Print shows the message as stored with its From_ line", script: "P 3\nx\n", want: []string{"Message 3:\nFrom juergen@example.de  Wed Nov 25 17:28:49 2026\nFrom: =?UTF-8?Q?", "Subject: =?UTF-8?Q?Sch=C3=B6ne", "Content-Transfer-Encoding: base64"}},
		{name: "top prints toplines lines counting the header", script: "set toplines=3\ntop 1\nx\n",
			want: []string{"Message 1:\nFrom: Alice Example <alice@example.org>\nTo: Bob", "Subject: Plain"}, not: []string{"Date:", "Hello Bob"}},
		{name: "top makes the message read", script: "top 1\nf 1\nx\n", want: []string{">R   1 alice@"}},
		{name: "size", script: "size 1 5\nx\n", want: []string{"1: 255", "5: 214"}},
		{name: "equals", script: "p 3\n=\nx\n", want: []string{"\n3\n"}},
		{name: "next and previous", script: "p 2\nn\n-\nx\n", want: []string{"Message 3:", "Message 2:"}},
		{name: "delete and undelete", script: "d 1\nf *\nu 1\nf 1\nx\n", want: []string{"   1 alice@"}},
		{name: "dp", script: "dp 1\nx\n", want: []string{"Message 2:"}},
		{name: "headers", script: "h\nx\n", want: []string{">N   1 alice@", " N   5 eve@"}},
		{name: "z", script: "set screen=2\nz\nz-\nx\n", want: []string{"   3 juergen@", "   1 alice@"}},
		{name: "echo and set", script: "set foo=bar\nset\necho hello world\nunset foo\nset\nx\n", want: []string{"foo\t\"bar\"", "hello world"}},
		{name: "if else endif", script: "if r\necho receiving\nelse\necho sending\nendif\nif t\necho term\nendif\nx\n", want: []string{"receiving"}, not: []string{"sending", "term"}},
		{name: "alias", script: "alias team a@x b@y\nalias team\nalias\nunalias team\nalias team\nx\n", want: []string{"team\ta@x b@y"}},
		{name: "alternates", script: "alternates me@elsewhere\nalternates\nx\n", want: []string{"me@elsewhere"}},
		{name: "help and list", script: "help\nlist\n?\nx\n", want: []string{"undelete", "next alias"}},
		{name: "version", script: "version\nx\n", want: []string{"unixmail mail"}},
		{name: "pipe", script: "pipe 1 grep -c ^Subject:.Plain\n| 2 wc -l\nx\n", want: []string{"1\n"}},
		{name: "shell", script: "!echo from-shell\nx\n", want: []string{"from-shell"}},
		{name: "attachments", script: "attachments 3\nx\n", want: []string{"2     application/octet-stream", "data.bin"}},
		{name: "file", script: "file\nfolder\nx\n", want: []string{"five.mbox\": 5 messages 5 new"}},
		{name: "unknown command", script: "frobnicate\nx\n"},
		{name: "comment", script: "# nothing\nx\n", not: []string{"Unknown"}},
		{name: "unread and touch", script: "p 1\nunread 1\ntouch 2\nf 1 2\nx\n", want: []string{" N   1 alice@"}, system: true},
		{name: "hold and mbox marks", script: "hold 1\nmbox 2\nf 1 2\nx\n", want: []string{"P   1 alice@", "M   2 carol@"}, system: true},
		{name: "hold preserve mbox and touch are refused outside the system mailbox", script: "mbox 4\nhold 3\npreserve 1\ntouch 2\nf *\nx\n",
			want: []string{" N   4 dave@", " N   3 juergen@"}, not: []string{"M   4", "P   3"}},
		{name: "flag", script: "flag 1\nunflag 1\nx\n"},
		{name: "newmail", script: "newmail\nx\n", want: []string{"No new mail."}},
		{name: "source", script: "source SRC\nx\n", want: []string{"sourced!"}},
		{name: "plus and minus are the next and previous undeleted message", script: "f 2\nf +\nf -\nd 3\nf 2\nf +\nx\n",
			want: []string{"   3 juergen@", "   4 dave@"}, not: []string{"1 alice@", "5 eve@"}},
		{name: "undelete without a list takes the deleted message before the current one", script: "d 1\nu\nf 1\nx\n",
			want: []string{">R   1 alice@"}},
		{name: "dp of the last message prints no earlier one", script: "dp 5\nx\n", want: []string{"At EOF"}, not: []string{"Message 4:"}},
		{name: "next past the last message says At EOF on standard output", script: "5\nn\n\nx\n", want: []string{"At EOF\nAt EOF\n"}, clean: true},
		{name: "next right after hold goes past the current message", script: "hold 3\nnext\nx\n",
			want: []string{"Message 4:"}, not: []string{"Message 3:"}, system: true},
		{name: "touch undoes hold and the message goes to mbox", script: "p 1\nhold 1 2\ntouch 1\nq\n", system: true, mbox: "alice"},
		{name: "save in the system mailbox removes the message instead of moving it to mbox", script: "p 1\nsave 2 +sv\nq\n", system: true, mbox: "alice"},
		{name: "hold keeps a saved message in the system mailbox whichever came first", script: "save 2 +sv\nhold 2\nhold 3\nsave 3 +sv\nq\n",
			system: true, kept: "alice carol juergen dave eve"},
		{name: "with keepsave a saved message goes to mbox", script: "set keepsave\np 1\nsave 2 +sv\nq\n", system: true, mbox: "alice carol"},
		{name: "headers with a message makes the top of its screen current", script: "set screen=2\nh 4\n=\nx\n",
			want: []string{">N   3 juergen@", "\n3\n"}, not: []string{">N   4"}},
		{name: "a shell command in the start-up file is refused and ends the file", rc: []string{"!echo from-rc", "echo after-it"},
			script: "echo session-runs\nx\n", want: []string{"session-runs"}, not: []string{"from-rc", "after-it"}},
		{name: "with dot set a lone dot from a pipe stays in the message", script: "set dot\nmail x@example.org\none\n.\ntwo\n~.\nx\n",
			sent: []string{"\none\n.\ntwo\n"}},
		{name: "~m indents only non-empty lines and makes the message read", script: "set indentprefix=\"> \"\nretain subject\nmail x@example.org\n~m 5\n~.\nf 5\nx\n",
			sent: []string{"\n> Subject: Last message, to be deleted in some fixtures\n\n> Short body.\n"}, want: []string{"R   5 eve@"}},
		{name: "Copy writes a file named after the author", script: "Copy 2\n!grep -c '^Subject: Body lines' carol\nx\n", want: []string{"\"carol\" [New file]", "1\n!"}},
		{name: "Followup answers every sender and records in the first one's file", script: "Followup 2 4\nnoted\n~.\n!grep -c '^To: carol@example.org, dave@example.com' carol\nx\n",
			want: []string{"1\n!"}, sent: []string{"To: carol@example.org, dave@example.com\n", "Subject: Re: Body lines"}},
		{name: "flipr makes reply answer the sender only", script: "set flipr\nreply 4\nok\n~.\nx\n", sent: []string{"To: dave@example.com\n"}, not: []string{"erin@"}},
		{name: "file names and echo expand environment variables and patterns", script: "save 1 $HOME/sv1\ncopy 2 ~/s*1\n!grep -c '^Subject: ' $HOME/sv1\necho $LOGNAME\nx\n",
			want: []string{"2\n!", "\nbob\n"}},
		{name: "-F records a message sent in a file named after its first recipient", flags: []string{"-F"}, rc: []string{"set record=+all"},
			script: "Reply 2\nok\n~.\n!grep -c '^Subject: Re: Body' carol\nx\n", want: []string{"1\n!"}},
		{name: "with bang set a ! in a shell command is the previous one", script: "!echo one\nset bang\n!! two \\!\nx\n",
			want: []string{"one\n!\none two !\n!"}},
		{name: "~d reads back the last draft saved without its From_ line", script: "mail x@example.org\nfirst draft\n~q\nmail x@example.org\nsecond draft\n~q\nmail x@example.org\n~d\n~.\nx\n",
			sent: []string{"\n\nsecond draft\n"}, not: []string{"first draft\n\"", "From bob"}},
		{name: "size and unread make the last message listed current", script: "size 3\n=\nunread 4\n=\nx\n", want: []string{"\n3\n4\n"}},
		{name: "autoprint prints the message made current by delete and undelete", script: "set autoprint\nd 2\nu 2\nx\n", want: []string{"Message 3:", "Message 2:"}},
		{name: "cd changes the directory shell commands and file names use", script: "cd /\n!pwd\nx\n", want: []string{"/\n!"}},
		{name: "showto shows the recipient of your own messages", rc: []string{"alternates eve@example.com"}, script: "set showto\nf 5\nx\n", want: []string{"To bob@example.net"}},
		{name: "with debug set nothing is sent", script: "set debug\nmail x@example.org\n~s not-sent\nhi\n~.\nx\n",
			want: []string{"debug: not sent: ", "Subject: not-sent\n"}, nothingSent: true},
		{name: "a blank line in the start-up file is ignored", rc: []string{"set a=1", "", "set b=2"}, script: "set\nx\n",
			want: []string{"a\t\"1\"", "b\t\"2\""}, clean: true},
		{name: "unset MBOX is still ~/mbox", script: "unset MBOX\np 1\nq\n", system: true, mbox: "alice"},
		{name: "unset SHELL and LISTER fall back on sh and ls", script: "save 1 +sv-here\nunset SHELL LISTER\n!echo via-sh\nfolders\nx\n", want: []string{"via-sh\n!", "\nsv-here\n"}, clean: true},
		{name: "colon o takes unread preserved and saved messages, not read ones", script: "hold 2\nsave 3 +sv\nf :o\nx\n", system: true,
			want: []string{"P   2 carol@", "*   3 juergen@"}, not: []string{"1 alice@"}},
		{name: "set noask unsets asksub", script: "set noask\nset\nx\n", not: []string{"\nasksub\n"}},
		{name: "sign keeps its backslashes in quotes and ~a turns them into tab and newline",
			script: "set sign=\"a\\tb\\nc\"\nmail x@example.org\n~a\n~A\n~i nosuch\n~.\nx\n",
			sent:   []string{"\n\na\tb\nc\n"}, not: []string{"atbnc"}},
		{name: "unset escape leaves the tilde as escape", script: "unset escape\nmail x@example.org\n~s escaped\nbody\n~.\nx\n",
			sent: []string{"Subject: escaped\n"}},
		{name: "an alias sends to its members without you unless metoo", script: "alias team bob x@example.org\nmail team\nhi\n~.\nx\n",
			sent: []string{"To: x@example.org\n"}},
		{name: "with metoo an alias keeps you", script: "set metoo\nalias team bob x@example.org\nmail team\nhi\n~.\nx\n",
			sent: []string{"To: bob, x@example.org\n"}},
		{name: "~w appends to an existing file", script: "mail x@example.org\none\n~w out\n~w out\n~.\n!cat out\nx\n",
			want: []string{"one\none\n!"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sb := sandbox.New(t)
			sent := sb.FakeSendmail(t, "bob", "0")
			sb.MailRC("bob", c.rc...)
			dir := t.TempDir()
			p := folder(t, dir, "five.mbox")
			src := filepath.Join(dir, "rc")
			os.WriteFile(src, []byte("echo sourced!\n"), 0o644)
			cmd := sb.Mail("bob", append([]string{"-N", "-f", p}, c.flags...)...)
			if c.system {
				if err := os.Rename(p, sb.Mailbox("bob")); err != nil {
					t.Fatal(err)
				}
				cmd = sb.Mail("bob", append([]string{"-N"}, c.flags...)...)
			}
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
			if c.system {
				if got := mboxSenders(t, filepath.Join(sb.Home("bob"), "mbox")); got != c.mbox {
					t.Errorf("~/mbox holds mail from %q, want %q\nstdout:\n%s\nstderr:\n%s", got, c.mbox, r.Stdout, r.Stderr)
				}
				if got := mboxSenders(t, sb.Mailbox("bob")); c.kept != "" && got != c.kept {
					t.Errorf("the mailbox holds mail from %q, want %q\nstdout:\n%s\nstderr:\n%s", got, c.kept, r.Stdout, r.Stderr)
				}
			}
			if _, err := os.Stat(filepath.Join(sent, "message")); c.nothingSent && err == nil {
				t.Error("sendmail ran")
			}
			if c.sent != nil {
				msg, _ := os.ReadFile(filepath.Join(sent, "message"))
				for _, w := range c.sent {
					if !strings.Contains(string(msg), w) {
						t.Errorf("sent message lacks %q\n%s\nstderr:\n%s", w, msg, r.Stderr)
					}
				}
			}
			if c.clean && (r.Code != 0 || r.Stderr != "") {
				t.Errorf("want exit 0 and nothing on stderr: exit %d, stderr %q", r.Code, r.Stderr)
			}
			if c.name == "unknown command" && (r.Code == 0 || !strings.Contains(r.Stderr, "Unknown command")) {
				t.Errorf("unknown command: exit %d, stderr %q", r.Code, r.Stderr)
			}
		})
	}
}

// mboxSenders is the senders of the From_ lines of the mbox at path, their
// local parts joined by blanks ("" when there is no file).
func mboxSenders(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var who []string
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "From "); ok {
			local, _, _ := strings.Cut(rest, "@")
			who = append(who, local)
		}
	}
	return strings.Join(who, " ")
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
	if !strings.HasPrefix(string(saved), "From alice@example.org") || !strings.Contains(string(saved), "Status: RO\n") {
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
	// A folder other than the system mailbox keeps saved messages, now
	// read (POSIX; bsd-mailx and s-nail do the same).
	after, _ := os.ReadFile(p)
	for _, subj := range []string{"Plain message one", "Last message", "Body lines that look"} {
		if !strings.Contains(string(after), "Subject: "+subj) {
			t.Errorf("the folder lost %q:\n%s", subj, after)
		}
	}
	if n := strings.Count(string(after), "Status: RO\n"); n != 3 {
		t.Errorf("%d messages are read, want the saved, copied and written ones:\n%s", n, after)
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
	// %user is that user's system mailbox (POSIX file names).
	r = sandbox.RunCmd(t, sb.Mail("alice", "-N", "-R", "-f", "%bob"), "file\nx\n")
	if !strings.Contains(r.Stdout, `"`+sb.Mailbox("bob")+`": 5 messages`) {
		t.Errorf("mail -f %%bob:\n%s\n%s", r.Stdout, r.Stderr)
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
