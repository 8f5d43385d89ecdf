// Package sandbox makes a throw-away mail system for tests: a user_db file
// of virtual users whose homes live in a temporary directory, a config file
// pointing there, and helpers that run the real binaries against it.
package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"unixmail/internal/testbin"
)

// Sandbox is one test's mail system.
type Sandbox struct {
	t    testing.TB
	Dir  string // the top directory
	Conf string // the config file
	UID  int
	GID  int
	// Extra config lines, written by WriteConf.
	extra []string
}

// New makes a sandbox whose users (default alice and bob) have the
// caller's uid and gid.
func New(t testing.TB, users ...string) *Sandbox {
	t.Helper()
	if len(users) == 0 {
		users = []string{"alice", "bob"}
	}
	s := &Sandbox{t: t, Dir: t.TempDir(), UID: os.Getuid(), GID: os.Getgid()}
	s.Conf = filepath.Join(s.Dir, "unixmail.conf")
	// Children that deliver as another user must read the config.
	os.Chmod(s.Dir, 0755)
	os.Chmod(filepath.Dir(s.Dir), 0755)
	for _, u := range users {
		s.AddUser(u, s.UID, s.GID)
	}
	s.WriteConf()
	return s
}

// Home is a user's home directory.
func (s *Sandbox) Home(user string) string { return filepath.Join(s.Dir, "home", user) }

// Mailbox is a user's INBOX.
func (s *Sandbox) Mailbox(user string) string { return filepath.Join(s.Home(user), "Mailbox") }

// AddUser adds a user to the user_db with the given ids, and makes its home
// owned by them.
func (s *Sandbox) AddUser(name string, uid, gid int) {
	s.t.Helper()
	home := s.Home(name)
	if err := os.MkdirAll(home, 0755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Chown(home, uid, gid); err != nil && os.Geteuid() == 0 {
		s.t.Fatal(err)
	}
	line := fmt.Sprintf("%s:x:%d:%d:%s Example:%s:/bin/sh\n", name, uid, gid, strings.ToUpper(name[:1])+name[1:], home)
	f, err := os.OpenFile(filepath.Join(s.Dir, "passwd"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0644)
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(line); err != nil {
		s.t.Fatal(err)
	}
}

// Set adds "key = value" lines to the config and rewrites it.
func (s *Sandbox) Set(kv ...string) {
	s.t.Helper()
	for i := 0; i+1 < len(kv); i += 2 {
		s.extra = append(s.extra, kv[i]+" = "+kv[i+1])
	}
	s.WriteConf()
}

// WriteConf writes the config file.
func (s *Sandbox) WriteConf() {
	s.t.Helper()
	lines := []string{
		"hostname = test.example",
		"user_db = " + filepath.Join(s.Dir, "passwd"),
		"mailbox = ~/Mailbox",
		"folder_dir = ~/mail",
		"alias_maps = " + filepath.Join(s.Dir, "aliases"),
		"queue_directory = " + filepath.Join(s.Dir, "spool"),
		"log = " + filepath.Join(s.Dir, "maillog"),
	}
	lines = append(lines, s.extra...)
	if err := os.WriteFile(s.Conf, []byte(strings.Join(lines, "\n")+"\n"), 0644); err != nil {
		s.t.Fatal(err)
	}
}

// Log is the sandbox's mail log so far.
func (s *Sandbox) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "maillog"))
	return string(b)
}

// Result is what a run of a command gave.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Command prepares one of our binaries to run in the sandbox.
func (s *Sandbox) Command(name string, args ...string) *exec.Cmd {
	s.t.Helper()
	cmd := exec.Command(testbin.Path(s.t, name), args...)
	cmd.Env = append(os.Environ(), "UNIXMAIL_CONF="+s.Conf, "HOME="+s.Dir, "TZ=UTC")
	return cmd
}

// Run runs one of our binaries with stdin and returns what it did.
func (s *Sandbox) Run(stdin string, name string, args ...string) Result {
	s.t.Helper()
	return RunCmd(s.t, s.Command(name, args...), stdin)
}

// RunCmd runs cmd with stdin; a failure to start fails the test.
func RunCmd(t testing.TB, cmd *exec.Cmd, stdin string) Result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errb.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.Code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run %s: %v", cmd.Path, err)
	}
	return r
}

// ReadMailbox returns a user's mailbox, or "" if there is none.
func (s *Sandbox) ReadMailbox(user string) string {
	b, _ := os.ReadFile(s.Mailbox(user))
	return string(b)
}

// NeedPeer returns the path of a peer program, skipping the test when it is
// missing outside CI (in CI a missing peer is a failure).
func NeedPeer(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("peer %s is not installed: .ci/run must install it", name)
		}
		t.Skipf("peer %s is not installed", name)
	}
	return p
}

// SetPassword gives a user of the sandbox's user_db a password (a SHA-512
// crypt hash made by mkpasswd), for the servers' logins.
func (s *Sandbox) SetPassword(user, password string) {
	s.t.Helper()
	cmd := exec.Command(NeedPeer(s.t, "mkpasswd"), "-m", "sha-512", "--stdin")
	cmd.Stdin = strings.NewReader(password)
	out, err := cmd.Output()
	if err != nil {
		s.t.Fatalf("mkpasswd: %v", err)
	}
	hash := strings.TrimSpace(string(out))
	path := filepath.Join(s.Dir, "passwd")
	b, err := os.ReadFile(path)
	if err != nil {
		s.t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if f := strings.Split(l, ":"); len(f) == 7 && f[0] == user {
			f[1] = hash
			lines[i] = strings.Join(f, ":")
		}
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		s.t.Fatal(err)
	}
}
