package e2e

import (
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"unixmail/internal/sandbox"
	"unixmail/internal/testbin"
)

// The man pages are read as a user reads them, rendered by mandoc, and
// what they claim is checked against the programs.

var overstrike = regexp.MustCompile(".\x08")

// manPage renders man/NAME as text, without bold and underline.
func manPage(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command(sandbox.NeedPeer(t, "mandoc"), "-Tutf8", filepath.Join(testbin.Root(), "man", name)).Output()
	if err != nil {
		t.Fatalf("mandoc %s: %v", name, err)
	}
	return overstrike.ReplaceAllString(string(out), "")
}

// section is the text of one section (SH) of a rendered page, its lines
// joined with single spaces, so that a claim wrapped across lines reads whole.
func section(t *testing.T, page, title string) string {
	t.Helper()
	_, rest, ok := strings.Cut(page, "\n"+title+"\n")
	if !ok {
		t.Fatalf("no section %s in:\n%s", title, page)
	}
	if i := regexp.MustCompile(`\n[A-Z][A-Z ]+\n`).FindStringIndex(rest); i != nil {
		rest = rest[:i[0]]
	}
	return strings.Join(strings.Fields(rest), " ")
}

func TestAliases5ShowsThePipeFormThatWorks(t *testing.T) {
	page := manPage(t, "aliases.5")
	if !strings.Contains(page, "\n     |command\n") || strings.Contains(page, "&|") {
		t.Fatalf("aliases(5) does not show the pipe form as |command:\n%s", section(t, page, "DESCRIPTION"))
	}
}

func TestTheMail1ExampleRunsAsPrinted(t *testing.T) {
	ex := section(t, manPage(t, "mail.1"), "EXAMPLES")
	m := regexp.MustCompile(`printf '[^']*' \| mail -N -f ~/Mailbox`).FindString(ex)
	if m == "" {
		t.Fatalf("mail(1) EXAMPLES has no printf ... | mail -N -f ~/Mailbox:\n%s", ex)
	}
	sb := newSandbox(t)
	if r := sb.Run("Subject: the example\n\nexample body\n", "deliver", "bob"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	cmd := sb.Mail("bob")
	cmd.Path, cmd.Args = "/bin/sh", []string{"sh", "-c", m}
	cmd.Env = append(cmd.Env, "PATH="+filepath.Dir(testbin.Path(t, "mail"))+":/usr/bin:/bin")
	r := run(t, cmd, "")
	if !strings.Contains(r.Stdout, "example body") {
		t.Fatalf("%s printed:\n%s%s", m, r.Stdout, r.Stderr)
	}
}

func TestSendmail8ListsWhatEHLOOffers(t *testing.T) {
	smtp := section(t, manPage(t, "sendmail.8"), "DESCRIPTION")
	sb := newSandbox(t)
	r := sb.Run("EHLO client.example\r\nQUIT\r\n", "sendmail", "-bs")
	var offered []string
	for _, l := range strings.Split(r.Stdout, "\r\n") {
		ext, ok := strings.CutPrefix(l, "250-")
		if !ok {
			ext, ok = strings.CutPrefix(l, "250 ")
		}
		if ok && !strings.HasPrefix(ext, "Hello") && !strings.HasPrefix(ext, "2.0.0") {
			offered = append(offered, ext)
		}
	}
	if len(offered) < 5 {
		t.Fatalf("EHLO offered %q:\n%s", offered, r.Stdout)
	}
	for _, ext := range offered {
		want := strings.Fields(ext)[0]
		if want == "LIMITS" {
			want = ext // its value is a promise too
		}
		if !strings.Contains(smtp, want) {
			t.Errorf("EHLO offers %q; sendmail(8) does not say %q", ext, want)
		}
	}
}

func TestSendmailBdOnABusyPortExits71AsSendmail8Says(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sb := newSandbox(t)
	r := sb.Run("", "sendmail", "-bd", "-o", "smtp_listen="+l.Addr().String())
	if r.Code != 71 || !strings.Contains(r.Stderr, "address already in use") {
		t.Fatalf("sendmail -bd on a busy port: exit %d, %q; want 71", r.Code, r.Stderr)
	}
	exit := section(t, manPage(t, "sendmail.8"), "EXIT STATUS")
	if !regexp.MustCompile(`71 -bd could not listen`).MatchString(exit) {
		t.Fatalf("sendmail(8) EXIT STATUS does not give 71 for -bd:\n%s", exit)
	}
}

func TestDeliver8ShowsTheBounceLineDeliverLogs(t *testing.T) {
	logging := section(t, manPage(t, "deliver.8"), "LOGGING")
	sb := newSandbox(t)
	if r := sb.Run("Subject: lost\n\nx\n", "deliver", "eve"); r.Code != 67 {
		t.Fatalf("deliver eve: exit %d, want 67", r.Code)
	}
	m := regexp.MustCompile(`deliver\[\d+\]: (.*)`).FindStringSubmatch(sb.Log())
	if m == nil {
		t.Fatalf("no deliver line in the log:\n%s", sb.Log())
	}
	if want := "deliver[PID]: " + m[1]; !strings.Contains(logging, want) {
		t.Fatalf("deliver logs %q; deliver(8) LOGGING lacks it:\n%s", want, logging)
	}
}
