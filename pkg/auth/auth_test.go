package auth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"unixmail/pkg/config"
	"unixmail/pkg/userdb"
)

// userDB writes a user_db file with the given name:hash pairs.
func userDB(t *testing.T, users ...[2]string) *userdb.DB {
	t.Helper()
	var b strings.Builder
	for i, u := range users {
		home := filepath.Join(t.TempDir(), u[0])
		b.WriteString(u[0] + ":" + u[1] + ":" + string(rune('1'+i)) + "000:100:Test:" + home + ":/bin/sh\n")
	}
	p := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return userdb.Open(p)
}

func TestAuthenticateAcceptsOnlyTheRightPasswordOfAnOpenAccount(t *testing.T) {
	carol, dave := knownAnswers[0], knownAnswers[4] // $6$ and bcrypt, both "hunter2"
	db := userDB(t,
		[2]string{"carol", carol.hash},
		[2]string{"dave", dave.hash},
		[2]string{"locked", "!" + carol.hash},
		[2]string{"nohash", ""},
		[2]string{"broken", "$9$what$ever"},
	)
	a, err := New(&config.Config{Auth: "userdb"}, db)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		user, pw string
		want     error // nil = success
	}{
		{"carol", "hunter2", nil},
		{"dave", "hunter2", nil},
		{"carol", "hunter3", ErrBadCredentials},
		{"carol", "", ErrBadCredentials},
		{"Carol", "hunter2", ErrBadCredentials},
		{"nobody", "hunter2", ErrBadCredentials},
		{"locked", "hunter2", ErrBadCredentials},
		{"nohash", "", ErrBadCredentials},
		{"../carol", "hunter2", ErrBadCredentials},
	} {
		u, err := a.Authenticate(c.user, c.pw)
		if !errors.Is(err, c.want) || (err == nil) != (u != nil) {
			t.Errorf("Authenticate(%q, %q) = %v, %v; want %v", c.user, c.pw, u, err, c.want)
		}
		if err == nil && u.Name != c.user {
			t.Errorf("Authenticate(%q) returned user %q", c.user, u.Name)
		}
	}
	// A hash we cannot check is the administrator's problem, not a
	// wrong password: the error says so, without the password.
	_, err = a.Authenticate("broken", "Sekr1t-pw")
	if err == nil || errors.Is(err, ErrBadCredentials) || !strings.Contains(err.Error(), "unsupported hash scheme $9$") ||
		strings.Contains(err.Error(), "Sekr1t") {
		t.Errorf("Authenticate(broken) = %v", err)
	}
}

func TestAnUnknownUserIsCheckedAgainstTheLastRealHash(t *testing.T) {
	yes := knownAnswers[5]
	a, err := New(&config.Config{Auth: "userdb"}, userDB(t, [2]string{"carol", yes.hash}))
	if err != nil {
		t.Fatal(err)
	}
	h := a.(*hashAuth)
	if h.decoy.Load() != nil {
		t.Fatal("decoy set before any login")
	}
	a.Authenticate("carol", "wrong")
	if p := h.decoy.Load(); p == nil || *p != yes.hash {
		t.Fatalf("decoy = %v, want carol's yescrypt hash", p)
	}
	// The decoy matching the password must not let an unknown user in.
	if _, err := a.Authenticate("mallory", yes.pw); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("unknown user with carol's password: %v", err)
	}
}

func TestNewRefusesAnUnknownMethod(t *testing.T) {
	if _, err := New(&config.Config{Auth: "ldap"}, userdb.Open("system")); err == nil || !strings.Contains(err.Error(), "ldap") {
		t.Fatalf("New(ldap) = %v", err)
	}
}
