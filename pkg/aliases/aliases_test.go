package aliases

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"unixmail/pkg/userdb"
)

func TestParseReadsEveryTargetKindAndContinuations(t *testing.T) {
	in := "# comment\nroot: alice\nTeam: bob, /var/log/team,\n  \"|/usr/bin/vacation -a x, y\", :include:/etc/team,\n\tcarol@remote.example, \\bob\n"
	m, errs := Parse(strings.NewReader(in), "aliases")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	got, ok := m.Lookup("team")
	if !ok {
		t.Fatal("team missing (names are case-insensitive)")
	}
	const at = "aliases line 3" // where the logical line starts
	want := []Target{
		{Kind: Address, Value: "bob", Where: at},
		{Kind: File, Value: "/var/log/team", Where: at},
		{Kind: Pipe, Value: "/usr/bin/vacation -a x, y", Where: at},
		{Kind: Include, Value: "/etc/team", Where: at},
		{Kind: Address, Value: "carol@remote.example", Where: at},
		{Kind: Address, Value: "bob", NoExpand: true, Where: at},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("target %d: got %+v want %+v", i, got[i], want[i])
		}
	}
}

func TestParseReportsErrorsByLineAndKeepsTheRest(t *testing.T) {
	in := "ok: bob\nno colon here\n-bad: bob\nq: \"|x\nempty:\ninc: :include:relative\nok: again\nfine: -rm\n"
	m, errs := Parse(strings.NewReader(in), "f")
	var lines []int
	for _, err := range errs {
		var le *LineError
		if !errors.As(err, &le) {
			t.Fatalf("%v is not a LineError", err)
		}
		lines = append(lines, le.Line)
	}
	if want := []int{2, 3, 4, 5, 6, 7, 8}; len(lines) != len(want) {
		t.Fatalf("error lines %v, want %v (%v)", lines, want, errs)
	}
	if m.Len() != 1 {
		t.Fatalf("%d aliases, want 1", m.Len())
	}
}

func testUsers(t *testing.T, dir string, names ...string) *userdb.DB {
	t.Helper()
	var b strings.Builder
	for _, n := range names {
		home := filepath.Join(dir, n)
		os.MkdirAll(home, 0755)
		b.WriteString(n + ":x:" + strconv.Itoa(os.Getuid()) + ":" + strconv.Itoa(os.Getgid()) + "::" + home + ":/bin/sh\n")
	}
	p := filepath.Join(dir, "passwd")
	if err := os.WriteFile(p, []byte(b.String()), 0644); err != nil {
		t.Fatal(err)
	}
	return userdb.Open(p)
}

func TestExpandFollowsAliasesIncludesForwardsAndStopsLoops(t *testing.T) {
	dir := t.TempDir()
	users := testUsers(t, dir, "alice", "bob", "carol")
	inc := filepath.Join(dir, "inc")
	os.WriteFile(inc, []byte("carol\nfar@remote.example\n"), 0644)
	os.WriteFile(filepath.Join(dir, "carol", ".forward"), []byte("\\carol, \"|/bin/archive\"\n"), 0600)
	m, errs := Parse(strings.NewReader("team: bob, :include:"+inc+", /tmp/f\nself: self-user\nbob2: bob\na: b\nb: a\nroot: bob2, root\n"), "x")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	x := &Expander{Map: m, Users: users, DefaultPrivs: "nobody", IsLocal: func(d string) bool { return d == "test.example" }}
	got, err := x.Expand("team@test.example")
	if err != nil {
		t.Fatal(err)
	}
	want := []Dest{
		{Kind: Address, Value: "bob", Local: true},
		{Kind: Address, Value: "carol", Local: true},
		{Kind: Pipe, Value: "/bin/archive", Privs: "carol"},
		{Kind: Address, Value: "far@remote.example"},
		{Kind: File, Value: "/tmp/f", Privs: "nobody"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("dest %d: got %+v want %+v", i, got[i], want[i])
		}
	}
	if _, err := x.Expand("a"); !errors.Is(err, ErrLoop) {
		t.Errorf("a <-> b: %v, want a loop", err)
	}
	if _, err := x.Expand("root"); !errors.Is(err, ErrLoop) {
		t.Errorf("root in its own expansion without a user: %v, want a loop", err)
	}
	if _, err := x.Expand("nobody-here"); !errors.Is(err, userdb.ErrNoUser) {
		t.Errorf("unknown: %v", err)
	}
}

func TestAnUnsafeForwardIsIgnoredWithAWarningNamingFileAndReason(t *testing.T) {
	cases := []struct {
		name string
		make func(fwd string)
		why  string
	}{
		{"group-writable", func(fwd string) { os.WriteFile(fwd, []byte("carol\n"), 0644); os.Chmod(fwd, 0664) },
			"group or others may write it (mode 0664)"},
		{"world-writable", func(fwd string) { os.WriteFile(fwd, []byte("carol\n"), 0644); os.Chmod(fwd, 0646) },
			"group or others may write it (mode 0646)"},
		{"a symbolic link", func(fwd string) {
			os.WriteFile(fwd+"-real", []byte("carol\n"), 0644)
			os.Symlink(fwd+"-real", fwd)
		}, "it is a symbolic link"},
		{"a directory", func(fwd string) { os.Mkdir(fwd, 0755) }, "it is not a regular file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			users := testUsers(t, dir, "bob", "carol")
			fwd := filepath.Join(dir, "bob", ".forward")
			c.make(fwd)
			var warned []string
			x := &Expander{Map: &Map{}, Users: users, IsLocal: func(string) bool { return true },
				Warn: func(format string, args ...any) { warned = append(warned, fmt.Sprintf(format, args...)) }}
			got, err := x.Expand("bob")
			if err != nil || len(got) != 1 || got[0].Value != "bob" {
				t.Fatalf("unsafe .forward followed: %+v %v", got, err)
			}
			if want := "ignoring " + fwd + ": " + c.why; len(warned) != 1 || warned[0] != want {
				t.Fatalf("warned %q, want %q", warned, want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add("root: alice\nteam: bob, /f, \"|cmd\", :include:/x\n  carol\n")
	f.Add("a: \"b\nc: d")
	f.Fuzz(func(t *testing.T, s string) {
		m, _ := Parse(strings.NewReader(s), "fuzz")
		for _, ts := range m.entries {
			for _, tg := range ts {
				if tg.Kind == Address && strings.HasPrefix(tg.Value, "-") {
					t.Fatalf("address target starting with '-': %q", tg.Value)
				}
			}
		}
	})
}
