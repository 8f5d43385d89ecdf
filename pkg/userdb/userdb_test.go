package userdb

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"unixmail/pkg/sysexits"
)

const virtualUsers = `# virtual users for the sandbox
alice:$6$salt$hash:1000:1000:Alice Liddell,Room 1,,:/home/alice:/bin/sh

bob:$y$j9T$x$y:1001:100:&ert the builder:/srv/mail/bob:/usr/sbin/nologin
carol:*:1002:100
dave:x:12x:100::/home/dave:/bin/sh
# duplicate: the first entry wins
alice:other:2000:2000::/elsewhere:/bin/sh
eve:x:1003:100::home/eve:/bin/sh
Frank:x:1004:100::/home/frank:/bin/sh
windows:x:1005:100::/home/windows:/bin/sh` + "\r\n" +
	`+nisuser::::::
-nisuser2::::::
uidtwin:x:1000:1000::/home/uidtwin:/bin/sh
`

func writeDB(t testing.TB, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "passwd")
	writeFile(t, p, text)
	return p
}

func writeFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLookupFindsVirtualUsers(t *testing.T) {
	db := Open(writeDB(t, virtualUsers))
	tests := []struct {
		name string
		want User
	}{
		{"alice", User{Name: "alice", Hash: "$6$salt$hash", UID: 1000, GID: 1000, Gecos: "Alice Liddell,Room 1,,", Home: "/home/alice", Shell: "/bin/sh"}},
		{"bob", User{Name: "bob", Hash: "$y$j9T$x$y", UID: 1001, GID: 100, Gecos: "&ert the builder", Home: "/srv/mail/bob", Shell: "/usr/sbin/nologin"}},
		{"Frank", User{Name: "Frank", Hash: "x", UID: 1004, GID: 100, Home: "/home/frank", Shell: "/bin/sh"}},
		{"windows", User{Name: "windows", Hash: "x", UID: 1005, GID: 100, Home: "/home/windows", Shell: "/bin/sh"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := db.Lookup(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if *u != tt.want {
				t.Errorf("Lookup(%q) = %+v, want %+v", tt.name, *u, tt.want)
			}
		})
	}
}

func TestLookupDoesNotFindUnknownOrTrickyNames(t *testing.T) {
	db := Open(writeDB(t, virtualUsers+"..:x:1:1::/:/bin/sh\n-x:x:1:1::/:/bin/sh\n"))
	for _, name := range []string{
		"mallory", "ALICE", "frank", "", ".", "..", "../alice", "alice/..", "/alice",
		"-x", "-nisuser2", "+nisuser", "nisuser", "alice\n", "al\x00ice", "alice:", "#",
	} {
		_, err := db.Lookup(name)
		if !errors.Is(err, ErrNoUser) {
			t.Errorf("Lookup(%q) = %v, want ErrNoUser", name, err)
		}
		if code := sysexits.Code(err); code != sysexits.NoUser {
			t.Errorf("Lookup(%q) exit code %d, want %d", name, code, sysexits.NoUser)
		}
	}
}

func TestLookupOfMalformedEntryNamesFileAndLine(t *testing.T) {
	p := writeDB(t, virtualUsers)
	db := Open(p)
	tests := []struct {
		name, where, msg string
	}{
		{"carol", ":5: ", "want 7 fields"},
		{"dave", ":6: ", `bad uid "12x"`},
		{"eve", ":9: ", "not an absolute path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := db.Lookup(tt.name)
			if err == nil || errors.Is(err, ErrNoUser) {
				t.Fatalf("Lookup(%q) = %v, want a malformed-entry error", tt.name, err)
			}
			if !strings.Contains(err.Error(), p+tt.where) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q, want %q and %q", err, p+tt.where, tt.msg)
			}
			if code := sysexits.Code(err); code != sysexits.TempFail {
				t.Errorf("exit code %d, want %d", code, sysexits.TempFail)
			}
		})
	}
}

func TestLookupOfMissingFileIsNotNoUser(t *testing.T) {
	db := Open(filepath.Join(t.TempDir(), "nosuch"))
	_, err := db.Lookup("alice")
	if err == nil || errors.Is(err, ErrNoUser) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Lookup in a missing file = %v", err)
	}
	if code := sysexits.Code(err); code != sysexits.TempFail {
		t.Errorf("exit code %d, want %d", code, sysexits.TempFail)
	}
}

func TestLookupOfOverlongLineIsAnError(t *testing.T) {
	db := Open(writeDB(t, "x:"+strings.Repeat("a", 1<<17)+"\nalice:x:1:1::/h:/bin/sh\n"))
	if _, err := db.Lookup("alice"); err == nil || errors.Is(err, ErrNoUser) {
		t.Errorf("Lookup past an overlong line = %v, want a read error", err)
	}
}

func TestLookupUIDFindsTheFirstWellFormedEntry(t *testing.T) {
	db := Open(writeDB(t, virtualUsers))
	u, err := db.LookupUID(1000)
	if err != nil || u.Name != "alice" {
		t.Errorf("LookupUID(1000) = %+v, %v", u, err)
	}
	for _, uid := range []int{12, 1002, 4242, -1} {
		if _, err := db.LookupUID(uid); !errors.Is(err, ErrNoUser) {
			t.Errorf("LookupUID(%d) = %v, want ErrNoUser", uid, err)
		}
	}
}

func TestCallerIsTheUserLOGNAMENamesWhenItHasTheCallersUID(t *testing.T) {
	db := Open(writeDB(t, "alice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\nroot:x:0:0::/root:/bin/sh\n"))
	cases := []struct {
		name   string
		uid    int
		anyUID bool
		names  []string
		want   string
	}{
		{"LOGNAME names a user sharing the uid", 1000, false, []string{"bob", ""}, "bob"},
		{"USER when LOGNAME is unset", 1000, false, []string{"", "bob"}, "bob"},
		{"LOGNAME first", 1000, false, []string{"alice", "bob"}, "alice"},
		{"no names: the first of the uid", 1000, false, nil, "alice"},
		{"a name of another uid is not believed", 0, false, []string{"bob"}, "root"},
		{"an unknown name falls back to the uid", 1000, false, []string{"mallory"}, "alice"},
		{"anyUID believes the name", 0, true, []string{"bob"}, "bob"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, err := db.Caller(c.uid, c.anyUID, c.names...)
			if err != nil || u.Name != c.want {
				t.Fatalf("Caller(%d, %v, %q) = %+v, %v; want %s", c.uid, c.anyUID, c.names, u, err, c.want)
			}
		})
	}
}

func TestSystemDatabaseHasRoot(t *testing.T) {
	db := Open("system")
	u, err := db.Lookup("root")
	if err != nil {
		t.Fatal(err)
	}
	if u.UID != 0 || u.GID != 0 || u.Home == "" {
		t.Errorf("root = %+v", u)
	}
	if os.Geteuid() == 0 && u.Hash == "x" {
		if _, err := os.Stat("/etc/shadow"); err == nil {
			t.Errorf("root's hash not read from /etc/shadow")
		}
	}
	if byUID, err := db.LookupUID(0); err != nil || byUID.Name != "root" {
		t.Errorf("LookupUID(0) = %+v, %v", byUID, err)
	}
}

func TestSystemHashComesFromReadableShadow(t *testing.T) {
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	shadow := filepath.Join(dir, "shadow")
	writeFile(t, passwd, "alice:x:1000:1000::/home/alice:/bin/sh\nbob:!:1001:1001::/home/bob:/bin/sh\n")
	writeFile(t, shadow, "bob:$6$never:19000::::::\nalice:$6$s$h:19000:0:99999:7:::\n")
	db := &DB{passwd: passwd, shadow: shadow}
	for name, want := range map[string]string{"alice": "$6$s$h", "bob": "!"} {
		u, err := db.Lookup(name)
		if err != nil || u.Hash != want {
			t.Errorf("Lookup(%q) = %+v, %v, want hash %q", name, u, err, want)
		}
	}
	db.shadow = filepath.Join(dir, "unreadable")
	if u, err := db.Lookup("alice"); err != nil || u.Hash != "x" {
		t.Errorf("without shadow: %+v, %v, want hash x", u, err)
	}
}

func TestWithoutHashesLeavesTheShadowFileUnread(t *testing.T) {
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	shadow := filepath.Join(dir, "shadow")
	writeFile(t, passwd, "alice:x:1000:1000::/home/alice:/bin/sh\n")
	writeFile(t, shadow, "alice:$6$s$h:19000:0:99999:7:::\n")
	db := (&DB{passwd: passwd, shadow: shadow}).WithoutHashes()
	u, err := db.Lookup("alice")
	if err != nil || u.Hash != "x" || u.UID != 1000 {
		t.Errorf("Lookup(alice) = %+v, %v; want uid 1000 and the passwd hash x", u, err)
	}
	if u, err := db.LookupUID(1000); err != nil || u.Hash != "x" {
		t.Errorf("LookupUID(1000) = %+v, %v; want the passwd hash x", u, err)
	}
}

func TestExpand(t *testing.T) {
	u := &User{Name: "alice", Home: "/home/alice"}
	tests := []struct{ pattern, want string }{
		{"~/Mailbox", "/home/alice/Mailbox"},
		{"~", "/home/alice"},
		{"~/mail/%u", "/home/alice/mail/alice"},
		{"/var/mail/%u", "/var/mail/alice"},
		{"/var/mail/%%u", "/var/mail/%u"},
		{"/var/mail/100%", "/var/mail/100%"},
		{"/var/mail/%x%u", "/var/mail/%xalice"},
		{"/x/~/y", "/x/~/y"},
		{"~alice/Mailbox", "~alice/Mailbox"},
		{"/mail/%u/%u", "/mail/alice/alice"},
	}
	for _, tt := range tests {
		if got := u.Expand(tt.pattern); got != tt.want {
			t.Errorf("Expand(%q) = %q, want %q", tt.pattern, got, tt.want)
		}
	}
	odd := &User{Name: "b", Home: "/srv/%u/"}
	if got := odd.Expand("~/Mailbox"); got != "/srv/%u/Mailbox" {
		t.Errorf("home with %%u and a final slash: %q", got)
	}
	root := &User{Name: "root", Home: "/"}
	if got := root.Expand("~/Mailbox"); got != "/Mailbox" {
		t.Errorf("home /: %q", got)
	}
}

func TestFullNameFollowsTheBSDRule(t *testing.T) {
	tests := []struct{ name, gecos, want string }{
		{"alice", "Alice Liddell,Room 1,,", "Alice Liddell"},
		{"bob", "&ert the builder", "Bobert the builder"},
		{"émile", "& Zola,,", "Émile Zola"},
		{"carol", "", ""},
		{"dave", ",,,", ""},
	}
	for _, tt := range tests {
		u := &User{Name: tt.name, Gecos: tt.gecos}
		if got := u.FullName(); got != tt.want {
			t.Errorf("FullName(%q, %q) = %q, want %q", tt.name, tt.gecos, got, tt.want)
		}
	}
}

func TestParseLine(t *testing.T) {
	tests := []struct {
		line string
		want *User // nil: malformed
	}{
		{"a:h:0:0:g:/:/bin/sh", &User{Name: "a", Hash: "h", Gecos: "g", Home: "/", Shell: "/bin/sh"}},
		{"a::4294967294:1::/h:", &User{Name: "a", UID: 4294967294, GID: 1, Home: "/h"}},
		{"a:h:4294967295:0::/h:/bin/sh", nil},
		{"a:h:-1:0::/h:/bin/sh", nil},
		{"a:h:+1:0::/h:/bin/sh", nil},
		{"a:h:1::/h:/bin/sh", nil},
		{"a:h:1:1::/h:/bin/sh:extra", nil},
		{"a:h:1:1:::/bin/sh", nil},
		{"../a:h:1:1::/h:/bin/sh", nil},
		{":h:1:1::/h:/bin/sh", nil},
	}
	for _, tt := range tests {
		u, err := parseLine(tt.line)
		if tt.want == nil {
			if err == nil {
				t.Errorf("parseLine(%q) = %+v, want an error", tt.line, u)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(u, tt.want) {
			t.Errorf("parseLine(%q) = %+v, %v, want %+v", tt.line, u, err, tt.want)
		}
	}
}

func BenchmarkLookupInVirtualFile(b *testing.B) {
	var sb strings.Builder
	for i := range 1000 {
		sb.WriteString("user")
		sb.WriteString(strings.Repeat("x", i%7))
		sb.WriteString(":x:1000:1000::/home/u:/bin/sh\n")
	}
	sb.WriteString("last:x:1:1::/home/last:/bin/sh\n")
	db := Open(writeDB(b, sb.String()))
	for b.Loop() {
		if _, err := db.Lookup("last"); err != nil {
			b.Fatal(err)
		}
	}
}
