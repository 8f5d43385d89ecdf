// Package testbin builds unixmail's commands once per test binary so that
// tests can drive the real programs the way users and peers do.
package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	built = map[string]string{}
	dir   string
)

// Root is the module's top directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// companions are the programs a command runs from its own directory:
// deliver -l runs deliver-lmtp.
var companions = map[string][]string{"deliver": {"deliver-lmtp"}}

// Path returns the path of the named command (a directory under cmd/),
// building it (and its companions, beside it) on first use. $UNIXMAIL_BIN
// names a directory of prebuilt binaries (make test sets it to bin/),
// which saves the builds.
func Path(t testing.TB, name string) string {
	t.Helper()
	if d := os.Getenv("UNIXMAIL_BIN"); d != "" {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, c := range companions[name] {
		build(t, c)
	}
	return build(t, name)
}

// build builds the named command into dir once; mu is held.
func build(t testing.TB, name string) string {
	t.Helper()
	if p, ok := built[name]; ok {
		return p
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "unixmail-testbin-")
		if err != nil {
			t.Fatalf("testbin: %v", err)
		}
		dir = d
	}
	p := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-tags", "urfave_cli_no_docs", "-o", p, "./cmd/"+name)
	cmd.Dir = Root()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testbin: build %s: %v\n%s", name, err, out)
	}
	built[name] = p
	return p
}
