package sandbox

import (
	"os"
	"os/exec"
	"testing"
)

// SmallDisk mounts a tmpfs of the given size (as mount(8) reads it, e.g.
// "64k") on a fresh directory and returns it, to make a disk run full
// (ENOSPC) for real. It needs root; elsewhere the test is skipped, and in
// CI, which runs as root, a failing mount fails the test.
func SmallDisk(t testing.TB, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small disk needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0755", "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mount tmpfs: %v\n%s", err, out)
		}
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}
