package sandbox

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Mail prepares bin/mail run as user: HOME is the user's home and LOGNAME
// the user, so ~/mbox, ~/.mailrc and ~/dead.letter are theirs, and the
// system mail.rc is skipped (-n) so the host's cannot change the result.
func (s *Sandbox) Mail(user string, args ...string) *exec.Cmd {
	s.t.Helper()
	cmd := s.Command("mail", append([]string{"-n"}, args...)...)
	cmd.Env = append(cmd.Env, "HOME="+s.Home(user), "LOGNAME="+user, "USER="+user, "MAIL=", "MAILRC=", "MBOX=", "PAGER=cat")
	return cmd
}

// FakeSendmail writes a sendmail stand-in that records its arguments (one
// a line) in DIR/argv and its input in DIR/message, exiting with code, and
// sets it as user's sendmail in ~/.mailrc. It returns DIR.
func (s *Sandbox) FakeSendmail(t testing.TB, user string, code string) string {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "sendmail")
	body := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + filepath.Join(dir, "argv") + "\ncat > " + filepath.Join(dir, "message") + "\nexit " + code + "\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	s.MailRC(user, "set sendmail="+script)
	return dir
}

// MailRC appends lines to user's ~/.mailrc.
func (s *Sandbox) MailRC(user string, lines ...string) {
	s.t.Helper()
	f, err := os.OpenFile(filepath.Join(s.Home(user), ".mailrc"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		if _, err := f.WriteString(l + "\n"); err != nil {
			s.t.Fatal(err)
		}
	}
}
