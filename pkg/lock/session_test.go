package lock

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestASecondSessionIsRefusedUntilTheFirstEnds(t *testing.T) {
	box := filepath.Join(t.TempDir(), "Mailbox")
	os.WriteFile(box, nil, 0o600)
	first, err := Session(box, os.Getuid())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Session(box, os.Getuid()); !errors.Is(err, ErrInUse) {
		t.Errorf("second session: %v, want ErrInUse", err)
	}
	first.Release()
	again, err := Session(box, os.Getuid())
	if err != nil {
		t.Errorf("after release: %v", err)
	}
	again.Release()
}

func TestSessionLocksOfDifferentMailboxesAreIndependent(t *testing.T) {
	dir := t.TempDir()
	a, err := Session(filepath.Join(dir, "a"), os.Getuid())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	b, err := Session(filepath.Join(dir, "b"), os.Getuid())
	if err != nil {
		t.Fatalf("another mailbox: %v", err)
	}
	b.Release()
}
