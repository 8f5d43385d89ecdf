package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"unixmail/internal/sandbox"
)

// TestPoplibFetchesAndDeletesInEveryStartMode runs python's poplib against
// ipop3d started the ways it is run: by inetd (socat execs it on the
// socket), by systemd's socket activation and by xinetd with the files in
// dist/, and by itself with --listen.
func TestPoplibFetchesAndDeletesInEveryStartMode(t *testing.T) {
	modes := []struct {
		name  string
		start func(t *testing.T, s *sandbox.Sandbox) string
	}{
		{"inetd style under socat", func(t *testing.T, s *sandbox.Sandbox) string { return s.UnderSocat("ipop3d") }},
		{"systemd socket activation", func(t *testing.T, s *sandbox.Sandbox) string { return s.UnderSystemd("ipop3d") }},
		{"xinetd with the service in dist/", func(t *testing.T, s *sandbox.Sandbox) string { return s.UnderXinetd("ipop3d") }},
		{"--listen", func(t *testing.T, s *sandbox.Sandbox) string { return listen(t, s, "127.0.0.1:0") }},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s := box(t, 3)
			addr := m.start(t, s)
			out := poplib(t, "plain", addr, "bob", password, "", "stat", "uidl", "retr-all", "dele-all", "quit")
			if out[0] != "stat 3 "+strings.Fields(out[0])[2] || !slices.Contains(out, "retr 2 Subject: message 2") || !strings.HasPrefix(out[len(out)-1], "quit +OK") {
				t.Errorf("poplib:\n%s", strings.Join(out, "\n"))
			}
			if n := left(s); n != 0 {
				t.Errorf("%d messages left after DELE of all and QUIT:\n%s", n, s.ReadMailbox("bob"))
			}
			if log := s.Log(); !strings.Contains(log, "login user=<bob> rip=127.0.0.1 method=USER tls=no") || !strings.Contains(log, "logout user=<bob> rip=127.0.0.1 retr=3 del=3") {
				t.Errorf("log:\n%s", log)
			}
		})
	}
}

func TestPoplibOverSTLSAndImplicitTLS(t *testing.T) {
	s := box(t, 2)
	ca := withTLS(t, s)
	plain := listen(t, s, "127.0.0.1:0")
	out := poplib(t, "stls", plain, "bob", password, ca, "stat", "retr-all", "quit")
	if !slices.Contains(out, "retr 1 Subject: message 1") {
		t.Errorf("STLS:\n%s", strings.Join(out, "\n"))
	}
	secure := listen(t, s, "127.0.0.1:0", "--tls")
	out = poplib(t, "ssl", secure, "bob", password, ca, "uidl", "quit")
	if len(out) != 3 || !strings.HasPrefix(out[0], "uidl 1 ") {
		t.Errorf("POP3_SSL:\n%s", strings.Join(out, "\n"))
	}
	if !strings.Contains(s.Log(), "method=USER tls=yes") {
		t.Errorf("log:\n%s", s.Log())
	}
}

func TestCurlRetrievesOverPop3AndPop3s(t *testing.T) {
	s := box(t, 2)
	ca := withTLS(t, s)
	curl := sandbox.NeedPeer(t, "curl")
	plain := listen(t, s, "127.0.0.1:0")
	secure := listen(t, s, "127.0.0.1:0", "--tls")
	for _, url := range []string{"pop3://" + plain + "/2", "pop3s://" + strings.Replace(secure, "127.0.0.1", "localhost", 1) + "/2"} {
		out, err := exec.Command(curl, "-sS", "--cacert", ca, "-u", "bob:"+password, url).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Subject: message 2\r\n") || !strings.Contains(string(out), "\r\n.a line with a dot\r\nFrom the start\r\n") {
			t.Errorf("curl %s: %v\n%q", url, err, out)
		}
	}
}

// fetchmail runs one fetchmail poll against addr with the given options
// ("keep", "flush"...) and returns what it delivered (BSMTP). fetchmail
// insists on STLS before it sends a password, and checks the certificate.
func fetchmail(t *testing.T, s *sandbox.Sandbox, addr, ca string, opts ...string) string {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	dir := filepath.Join(s.Dir, "fetchmail")
	os.MkdirAll(dir, 0o700)
	out := filepath.Join(dir, "out.bsmtp")
	os.Remove(out)
	rc := filepath.Join(dir, "fetchmailrc")
	os.WriteFile(rc, []byte("poll "+host+" service "+port+" protocol pop3 uidl auth password\n  user bob password \""+password+"\" is bob here "+strings.Join(opts, " ")+" sslcertck sslcertfile "+ca+" sslcommonname localhost\n"), 0o600)
	cmd := exec.Command(sandbox.NeedPeer(t, "fetchmail"), "-f", rc, "--idfile", filepath.Join(dir, "ids"), "--pidfile", filepath.Join(dir, "pid"), "--bsmtp", out, "--nosyslog")
	cmd.Env = append(os.Environ(), "HOME="+dir)
	b, err := cmd.CombinedOutput()
	// fetchmail exits 1 when there was no new mail.
	if err != nil && !strings.Contains(string(b), "No mail") {
		t.Fatalf("fetchmail: %v\n%s\nlog:\n%s", err, b, s.Log())
	}
	got, _ := os.ReadFile(out)
	return string(got)
}

func TestFetchmailKeepsFetchesOnlyNewByUIDLAndFlushes(t *testing.T) {
	s := box(t, 2)
	ca := withTLS(t, s)
	addr := listen(t, s, "127.0.0.1:0")
	got := fetchmail(t, s, addr, ca, "keep")
	if strings.Count(got, "Subject: message") != 2 {
		t.Fatalf("first poll:\n%s", got)
	}
	deliverTo(t, s, "bob", 3)
	got = fetchmail(t, s, addr, ca, "keep")
	if strings.Count(got, "Subject: message") != 1 || !strings.Contains(got, "Subject: message 3") {
		t.Errorf("second poll, only new:\n%s", got)
	}
	if n := left(s); n != 3 {
		t.Errorf("keep left %d messages", n)
	}
	got = fetchmail(t, s, addr, ca, "fetchall", "flush")
	if strings.Count(got, "Subject: message") != 3 {
		t.Errorf("flush poll:\n%s", got)
	}
	if n := left(s); n != 0 {
		t.Errorf("flush left %d messages", n)
	}
}

// getmail6 fetches every message into an mbox and deletes them on the server.
func TestGetmailRetrievesAndDeletes(t *testing.T) {
	for attempt := 1; ; attempt++ {
		s, fetched, out, err := getmail(t)
		if err != nil && getmailRace(out) && attempt < 3 {
			t.Logf("getmail lost its delivery child's exit, trying again: %s", out)
			continue
		}
		if err != nil {
			t.Fatalf("getmail: %v\n%s", err, out)
		}
		if sandbox.CountMessages(fetched) != 2 || !strings.Contains(fetched, "\n.a line with a dot\n") {
			t.Errorf("getmail fetched:\n%s", fetched)
		}
		if n := left(s); n != 0 {
			t.Errorf("%d messages left", n)
		}
		return
	}
}

// getmailRace reports whether getmail failed in its own handling of its
// delivery child's exit: the SIGCHLD handler ran before the wait began
// (the wait times out) or before getmail noted the child
// (self.child missing: an AttributeError).
func getmailRace(out []byte) bool {
	return strings.Contains(string(out), "waiting child pid") || strings.Contains(string(out), "AttributeError")
}

// getmail fetches two messages of a fresh mailbox with getmail6 into an
// mboxrd file and returns what it wrote. getmail waits for its delivery
// child on a condition its SIGCHLD handler may notify before the wait
// starts (getmail6 6.18): the wait then times out, a race of getmail's own
// that a loaded machine shows, so the socket timeout (which getmail also
// uses for that wait) is short and the caller tries again.
func getmail(t *testing.T) (s *sandbox.Sandbox, fetched string, out []byte, err error) {
	s = box(t, 2)
	addr := listen(t, s, "127.0.0.1:0")
	host, port, _ := strings.Cut(addr, ":")
	dir := filepath.Join(s.Dir, "getmail")
	os.MkdirAll(dir, 0o755)
	dest := filepath.Join(dir, "fetched.mbox")
	os.WriteFile(dest, nil, 0o600)
	user := ""
	if os.Getuid() == 0 {
		// getmail will not write a mailbox as root: it delivers as nobody.
		os.Chown(dest, 65534, 65534)
		user = "user = nobody\n"
	}
	rc := "[retriever]\ntype = SimplePOP3Retriever\nserver = " + host + "\nport = " + port + "\nusername = bob\npassword = " + password +
		"\ntimeout = 20\n\n[destination]\ntype = Mboxrd\npath = " + dest + "\n" + user + "\n[options]\nread_all = true\ndelete = true\nverbose = 0\n"
	os.WriteFile(filepath.Join(dir, "getmailrc"), []byte(rc), 0o600)
	out, err = exec.Command(sandbox.NeedPeer(t, "getmail"), "--getmaildir", dir, "--rcfile", "getmailrc").CombinedOutput()
	got, _ := os.ReadFile(dest)
	return s, string(got), out, err
}

// left counts bob's messages, UW's pseudo-message aside.
func left(s *sandbox.Sandbox) int {
	box := s.ReadMailbox("bob")
	return sandbox.CountMessages(box) - strings.Count(box, "\nSubject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\n")
}
