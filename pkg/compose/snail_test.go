package compose

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBuildIsReadBySNail has s-nail, the mailx mail(1) is modelled on, show
// a built message from an mbox: it must decode the subject, the sender's
// name and the quoted-printable UTF-8 text, and see the attachment.
func TestBuildIsReadBySNail(t *testing.T) {
	snail, err := exec.LookPath("s-nail")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("s-nail not installed")
		}
		t.Fatal("s-nail not installed")
	}
	dir := t.TempDir()
	var msg bytes.Buffer
	msg.WriteString("From alice@example.org  Wed Nov 25 17:24:14 2026\n")
	err = Build(&msg, &Message{
		From:        "Jürgen Müller <juergen@example.de>",
		To:          []string{"Anna Beispiel <anna@example.de>"},
		Subject:     "Grüße aus Köln",
		Body:        []byte("Hallo Anna,\nviele Grüße! € 🙂\n"),
		Attachments: []string{"testdata/attachment.pdf"},
		Hostname:    "example.de",
		Date:        time.Date(2026, 11, 25, 17, 12, 0, 0, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	msg.WriteString("\n")
	box := filepath.Join(dir, "box")
	if err := os.WriteFile(box, msg.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(snail, "-:/", "-N", "-R", "-f", box)
	cmd.Env = []string{"HOME=" + dir, "LC_ALL=C.UTF-8", "PATH=/usr/bin:/bin", "TERM=dumb"}
	cmd.Stdin = strings.NewReader("type 1\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("s-nail: %v\n%s", err, out)
	}
	for _, want := range []string{
		"From: Jürgen Müller <juergen@example.de>\n",
		"Subject: Grüße aus Köln\n",
		"Hallo Anna,\nviele Grüße! € 🙂\n",
		"[-- #1.2 ",
		"Content-Type: application/pdf; name=attachment.pdf\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("s-nail output lacks %q:\n%s", want, out)
		}
	}
}
