package userdb

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzParseLine feeds arbitrary lines to the passwd(5) parser: it must
// never panic, and a user it accepts must be safe to build paths from and
// survive being written back out.
func FuzzParseLine(f *testing.F) {
	f.Add("alice:$6$salt$hash:1000:1000:Alice,,,:/home/alice:/bin/sh")
	f.Add("a:h:4294967295:0::/h:/bin/sh")
	f.Add("..:x:1:1::/:/bin/sh")
	f.Fuzz(func(t *testing.T, line string) {
		u, err := parseLine(line)
		if err != nil {
			return
		}
		if !validName(u.Name) || strings.Contains(u.Expand("%u"), "/") {
			t.Errorf("unsafe name %q accepted", u.Name)
		}
		if !strings.HasPrefix(u.Expand("~/Mailbox"), "/") {
			t.Errorf("home %q gives a relative mailbox", u.Home)
		}
		if u.UID < 0 || u.GID < 0 {
			t.Errorf("negative id in %+v", u)
		}
		out := strings.Join([]string{u.Name, u.Hash, strconv.Itoa(u.UID), strconv.Itoa(u.GID), u.Gecos, u.Home, u.Shell}, ":")
		again, err := parseLine(out)
		if err != nil || *again != *u {
			t.Errorf("%q re-parsed as %+v, %v; want %+v", out, again, err, u)
		}
		_ = u.FullName()
	})
}
