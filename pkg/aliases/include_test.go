package aliases

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"unixmail/pkg/sysexits"
	"unixmail/pkg/userdb"
)

// secret is what a root-only file holds; no error may ever carry it.
const secret = "root:$y$j9T$SECRETHASH:19000:0:99999:7:::"

// ownedFile writes text to a file owned by uid with mode perm.
func ownedFile(t *testing.T, dir, name, text string, uid int, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, uid, uid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil {
		t.Fatal(err)
	}
	return p
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("needs root, which CI has")
		}
		t.Skip("needs root")
	}
}

// usersWithIDs makes a user database of name:uid pairs, homes under dir.
func usersWithIDs(t *testing.T, dir string, ids map[string]int) *userdb.DB {
	t.Helper()
	var b strings.Builder
	for n, id := range ids {
		home := filepath.Join(dir, n)
		os.MkdirAll(home, 0o755)
		b.WriteString(n + ":x:" + strconv.Itoa(id) + ":" + strconv.Itoa(id) + "::" + home + ":/bin/sh\n")
	}
	p := filepath.Join(dir, "passwd")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return userdb.Open(p)
}

func TestIncludesAreReadOnlyWithTheRightsOfWhoeverNamedThem(t *testing.T) {
	needRoot(t)
	const bobUID, privsUID, otherUID = 60001, 60002, 60003
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	users := usersWithIDs(t, dir, map[string]int{"bob": bobUID, "carol": bobUID + 10, "privs": privsUID})
	rootOnly := ownedFile(t, dir, "shadow", secret+"\n", 0, 0o600)
	othersPrivate := ownedFile(t, dir, "others-private", "carol\n", otherUID, 0o600)
	othersPublic := ownedFile(t, dir, "others-public", "carol\n", otherUID, 0o644)
	privsOwn := ownedFile(t, dir, "privs-own", "carol\n", privsUID, 0o600)
	bobsOwn := ownedFile(t, dir, "bobs-own", "carol\n", bobUID, 0o600)

	tests := []struct {
		name     string
		aliases  string // the aliases file
		forward  string // bob's .forward
		rcpt     string
		wantErr  string // "" = expands to carol
		wantCode int
	}{
		{"a .forward include of a root-only file", "", ":include:" + rootOnly, "bob",
			"include file at " + dir + "/bob/.forward line 1 is not owned by bob", sysexits.NoPerm},
		{"a .forward include of someone else's readable file", "", ":include:" + othersPublic, "bob",
			"is not owned by bob", sysexits.NoPerm},
		{"a .forward include of the user's own file", "", ":include:" + bobsOwn, "bob", "", 0},
		{"an aliases include owned by root", "team: :include:" + rootOnly + "\n", "", "team",
			"shadow line 1: no such user", sysexits.NoUser},
		{"an aliases include default_privs cannot read", "team: :include:" + othersPrivate + "\n", "", "team",
			"include file at aliases line 1 is not readable by privs", sysexits.NoPerm},
		{"an aliases include anyone can read", "team: :include:" + othersPublic + "\n", "", "team", "", 0},
		{"an aliases include default_privs owns", "team: :include:" + privsOwn + "\n", "", "team", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fwd := filepath.Join(dir, "bob", ".forward")
			os.Remove(fwd)
			if tt.forward != "" {
				ownedFile(t, filepath.Join(dir, "bob"), ".forward", tt.forward+"\n", bobUID, 0o600)
			}
			m, errs := Parse(strings.NewReader(tt.aliases), "aliases")
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			x := &Expander{Map: m, Users: users, DefaultPrivs: "privs", IsLocal: func(string) bool { return true },
				Privs: users.Lookup}
			got, err := x.Expand(tt.rcpt)
			if tt.wantErr == "" {
				if err != nil || len(got) != 1 || got[0].Value != "carol" {
					t.Fatalf("Expand = %+v, %v; want carol", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Expand = %+v, %v; want an error with %q", got, err, tt.wantErr)
			}
			if c := sysexits.Code(err); c != tt.wantCode {
				t.Errorf("exit code %d, want %d", c, tt.wantCode)
			}
			if strings.Contains(err.Error(), "SECRETHASH") || strings.Contains(err.Error(), "root:") {
				t.Errorf("the error quotes the file: %v", err)
			}
		})
	}
}

func TestErrorsAboutTargetsFromFilesNameTheLineNotTheText(t *testing.T) {
	dir := t.TempDir()
	users := testUsers(t, dir, "bob")
	inc := filepath.Join(dir, "inc")
	os.WriteFile(inc, []byte("# a comment\n"+secret+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "bob", ".forward"), []byte("\n:include:"+inc+"\n"), 0o600)
	m, _ := Parse(strings.NewReader("a: nosuch-"+secret[:4]+"\nteam: :include:"+inc+"\nbad: :include:/nonexistent/"+secret[:4]+"\ndev: :include:/dev/null\n"), "/etc/aliases")
	x := &Expander{Map: m, Users: users, DefaultPrivs: "bob", IsLocal: func(string) bool { return true },
		Privs: users.Lookup}
	tests := []struct{ rcpt, want string }{
		{"a", "/etc/aliases line 1: no such user"},
		{"bob", inc + " line 2: no such user"},
		{"bad", "include file at /etc/aliases line 3: no such file or directory"},
		{"dev", "include file at /etc/aliases line 4: not a regular file"},
	}
	for _, tt := range tests {
		_, err := x.Expand(tt.rcpt)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Expand(%s) = %v, want %q", tt.rcpt, err, tt.want)
		}
		if (tt.rcpt == "a" || tt.rcpt == "bob") && !errors.Is(err, userdb.ErrNoUser) {
			t.Errorf("Expand(%s): %v is not ErrNoUser", tt.rcpt, err)
		}
	}
}

// FuzzReadTargets: a .forward or include file is another user's text.
// Whatever it holds, reading it never panics, an address target never
// starts with '-', and a parse error names the line, not its text.
func FuzzReadTargets(f *testing.F) {
	f.Add("carol, \"|/usr/bin/vacation -a x, y\"\n# comment\n:include:/etc/team\n\\\\bob\n")
	f.Add(secret + "\n")
	f.Add("\"unbalanced\n<a@b>, -rm\n")
	f.Fuzz(func(t *testing.T, text string) {
		p := filepath.Join(t.TempDir(), ".forward")
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		fh, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		targets, err := readTargets(fh, p)
		if err != nil {
			if msg := strings.TrimPrefix(err.Error(), p); len(text) > 8 && strings.Contains(msg, strings.TrimSpace(text)) {
				t.Fatalf("error %q quotes the file", err)
			}
			return
		}
		for _, tg := range targets {
			if tg.Kind == Address && strings.HasPrefix(tg.Value, "-") {
				t.Fatalf("address target starting with '-': %q", tg.Value)
			}
			if !strings.HasPrefix(tg.Where, p+" line ") {
				t.Fatalf("target %+v does not say where it came from", tg)
			}
		}
	})
}
