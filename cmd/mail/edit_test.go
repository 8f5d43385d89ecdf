package main

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"unixmail/internal/sandbox"
)

// TestEditedMessageIsWrittenBackAtQuit edits message 1 with an EDITOR
// that runs sed -i, and leaves message 2 as the editor found it: quit
// writes the edit into the folder (python's mailbox reads it), the other
// messages stay byte for byte, and a copy saved after the edit is the
// edited text.
func TestEditedMessageIsWrittenBackAtQuit(t *testing.T) {
	sb := sandbox.New(t)
	dir := t.TempDir()
	p := folder(t, dir, "five.mbox")
	before := pyList(t, p)
	editor := filepath.Join(dir, "editor")
	os.WriteFile(editor, []byte("#!/bin/sh\nexec sed -i 's/^Subject: Plain message one$/Subject: Edited by sed/; s/^Hello/Edited hello/' \"$1\"\n"), 0o755)
	sb.MailRC("bob", "set EDITOR="+editor, "set VISUAL=true", "set sendmail=/bin/false")
	copyTo := filepath.Join(dir, "copy.mbox")
	r := sandbox.RunCmd(t, sb.Mail("bob", "-N", "-f", p), "e 1\nv 2\nf 1\np 1\ncopy 1 "+copyTo+"\nq\n")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	if !strings.Contains(r.Stdout, `"Edited by sed"`) || !strings.Contains(r.Stdout, "Subject: Edited by sed") {
		t.Errorf("the session does not show the edit:\n%s", r.Stdout)
	}
	after := pyList(t, p)
	if len(after) != 5 || after[0] == before[0] {
		t.Fatalf("message 1 was not written back (%d messages)", len(after))
	}
	for i := 1; i < 5; i++ {
		b, a := before[i], after[i]
		if i == 1 { // read with visual: only its state fields may change
			// (python writes the padded X-Keywords field without its padding)
			a = strings.Replace(a, hex.EncodeToString([]byte("Status: RO\nX-Keywords: \n")), "", 1)
		}
		if a != b {
			t.Errorf("message %d changed", i+1)
		}
	}
	box, _ := os.ReadFile(p)
	copied, _ := os.ReadFile(copyTo)
	for name, b := range map[string][]byte{"folder": box, "copy": copied} {
		if !strings.Contains(string(b), "Subject: Edited by sed\n") || strings.Contains(string(b), "Subject: Plain message one") {
			t.Errorf("%s after the edit:\n%s", name, b)
		}
	}
	if !strings.HasPrefix(string(box), "From alice@example.org") {
		t.Errorf("the From_ line was not kept:\n%.200s", box)
	}
}

// TestEditThenExitLeavesTheFolderAlone: exit (x) drops the edit.
func TestEditThenExitLeavesTheFolderAlone(t *testing.T) {
	sb := sandbox.New(t)
	dir := t.TempDir()
	p := folder(t, dir, "five.mbox")
	orig, _ := os.ReadFile(p)
	sb.MailRC("bob", `set EDITOR="sed -i s/Plain/Changed/"`, "set sendmail=/bin/false")
	r := sandbox.RunCmd(t, sb.Mail("bob", "-N", "-f", p), "e 1\nx\n")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	now, _ := os.ReadFile(p)
	if string(now) != string(orig) {
		t.Error("exit wrote the edit")
	}
}

// TestSaveKeepsIMAPKeywords: a copy made by save (and so by MBOX at quit)
// keeps the message's X-Keywords beside its flags now (padded with
// spaces for later flag changes in place).
func TestSaveKeepsIMAPKeywords(t *testing.T) {
	sb := sandbox.New(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "kw.mbox")
	os.WriteFile(p, []byte("From alice@example.org  Wed Nov 25 17:24:14 2026\nFrom: alice@example.org\nSubject: tagged\nX-Keywords: $Label1 Junk\nX-Status: F\n\nbody\n\n"), 0o600)
	sb.MailRC("bob", "set sendmail=/bin/false")
	out := filepath.Join(dir, "saved.mbox")
	r := sandbox.RunCmd(t, sb.Mail("bob", "-N", "-f", p), "p 1\nsave 1 "+out+"\nx\n")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	b, _ := os.ReadFile(out)
	if !strings.Contains(string(b), "X-Keywords: $Label1 Junk ") || !strings.Contains(string(b), "Status: RO\n") || !strings.Contains(string(b), "X-Status: F\n") {
		t.Errorf("saved copy:\n%s", b)
	}
}
