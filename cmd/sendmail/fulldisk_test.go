package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"unixmail/internal/sandbox"
)

// A queue on a full disk: sendmail says "try again" (75), as callers like
// cron and mail expect, and leaves no half-written file behind.
func TestAQueueOnAFullDiskExits75AndKeepsNothingHalfWritten(t *testing.T) {
	disk := sandbox.SmallDisk(t, "64k")
	sb := sandbox.New(t)
	sb.Set("queue_directory", disk)
	big := "Subject: big\n\n" + strings.Repeat(strings.Repeat("q", 99)+"\n", 2000)
	r := sb.Run(big, "sendmail", "-odq", "bob")
	if r.Code != 75 {
		t.Fatalf("exit %d (%s), want 75", r.Code, r.Stderr)
	}
	var files []string
	filepath.Walk(disk, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 0 {
		t.Fatalf("files left in the queue: %v", files)
	}
	// A message that fits still goes in.
	if r := sb.Run("Subject: small\n\nok\n", "sendmail", "-odq", "bob"); r.Code != 0 {
		t.Fatalf("small message: exit %d (%s)", r.Code, r.Stderr)
	}
}
