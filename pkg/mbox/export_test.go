package mbox

import (
	"os"
	"testing"
)

// MappedExact maps the index saved beside the mailbox at path and says
// whether it stands for the file as it is now. It is exported for the
// tests of package mbox_test, which check the same thing.
func MappedExact(t testing.TB, path string) bool {
	t.Helper()
	m, err := MapIndex(IndexPath(path))
	if err != nil || m == nil {
		t.Fatalf("map the index of %s: %v", path, err)
	}
	defer m.Close()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	exact, _ := m.Exact(f)
	return exact
}
