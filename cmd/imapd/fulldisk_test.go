package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"unixmail/internal/sandbox"
)

// writeFolder writes an mbox of n messages of about size bytes each, as
// a folder another program left (no state fields).
func writeFolder(t *testing.T, path string, n, size int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	line := strings.Repeat("x", 71) + "\n"
	for i := 1; i <= n; i++ {
		fmt.Fprintf(w, "From user%d@example.org  Wed Nov 25 17:24:14 2026\nFrom: User %d <user%d@example.org>\nTo: bob@example.org\nSubject: message %d\nDate: Wed, 25 Nov 2026 17:24:14 +0000\nMessage-ID: <%d@example.org>\n\n", i, i, i, i, i)
		for range size / len(line) {
			w.WriteString(line)
		}
		w.WriteString("\n")
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// fill takes every free byte of the disk but free, in a file of its own,
// and returns the file's name.
func fill(t *testing.T, disk string, free int64) string {
	t.Helper()
	p := filepath.Join(disk, "filler")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 4096)
	for {
		if _, err := f.Write(block); err != nil {
			break
		}
	}
	if fi, err := f.Stat(); err == nil && free > 0 {
		f.Truncate(max(fi.Size()-free, 0))
	}
	return p
}

// fullDiskSession is what imaplib does on the full disk: every command's
// result is printed, none may end the session.
const fullDiskSession = `
import imaplib, sys
M = imaplib.IMAP4_stream(sys.argv[1])
def show(name, r):
    typ, data = r
    print(name, typ, data[-1].decode(errors="replace") if data and isinstance(data[-1], bytes) else "", flush=True)
    return typ
show("SELECT", M.select("INBOX"))
typ, data = M.uid("FETCH", "1:*", "(UID ENVELOPE)")
print("ENVELOPES", typ, len([d for d in data if d]), flush=True)
show("STORE", M.store("1:5", "+FLAGS", r"(\Flagged)"))
show("APPEND", M.append("INBOX", None, None, b"From: x@example.org\r\nSubject: appended\r\n\r\n" + b"y" * 40000 + b"\r\n"))
show("DELETE", M.store("6", "+FLAGS", r"(\Deleted)"))
show("EXPUNGE", M.expunge())
show("CHECK", M.check())
show("LOGOUT", M.logout())
`

// uidList prints the UIDVALIDITY and every UID, as one line.
const uidList = `
import imaplib, sys
M = imaplib.IMAP4_stream(sys.argv[1])
M.select("INBOX", readonly=True)
typ, data = M.uid("SEARCH", "ALL")
print(M.untagged_responses["UIDVALIDITY"][0].decode(), data[0].decode())
M.logout()
`

// afterwards lists, as IMAP shows them on a disk with room again, every
// message's UID, flags and subject, then what python's mailbox reads in
// the file.
const afterwards = `
import imaplib, mailbox, sys
M = imaplib.IMAP4_stream(sys.argv[1])
M.select("INBOX")
typ, data = M.uid("FETCH", "1:*", "(UID FLAGS ENVELOPE)")
for d in data:
    print("IMAP", d.decode(errors="replace"))
M.logout()
for m in mailbox.mbox(sys.argv[2], create=False):
    print("FILE", m["subject"])
`

// On a disk with no room (or too little for the index and the envelope
// cache beside the folder), a session's commands fail with a clear NO
// ([OVERQUOTA], as Dovecot says it) where the mailbox must grow, CHECK
// included when the flag changes cannot be written, and succeed where it
// need not: SELECT of a folder whose messages have their UIDs (its new
// mail stays \Recent), FETCH. Nothing is lost, no temporary file stays,
// and no index or cache is left half-written for a later session to
// misread: once the disk has room again, IMAP shows every message the
// file holds, under the UIDs it had, with the flags it holds.
func TestAFullDiskGetsNoWhereTheMailboxCannotBeWrittenAndLosesNothing(t *testing.T) {
	for _, tt := range []struct {
		name string
		n    int   // messages
		size int   // bytes a message
		free int64 // bytes left free on the disk
	}{
		{"a small folder, no room at all", 300, 200, 0},
		{"a big folder whose UIDs live in its index", 300, 60 << 10, 0},
		{"a big folder, room for a little", 300, 60 << 10, 8 << 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			disk := sandbox.SmallDisk(t, "24m")
			u := newIMAPUser(t)
			os.Chown(disk, 65534, 65534)
			box := filepath.Join(disk, "Mailbox")
			u.sb.Set("mailbox", box)
			writeFolder(t, box, tt.n, tt.size)
			os.Chown(box, 65534, 65534)
			// A session while there is room numbers the messages; then
			// the disk fills up.
			u.deliver(t, message("last before the disk filled", "hello\n"))
			before := u.python(t, uidList)
			filler := fill(t, disk, tt.free)
			out := u.python(t, fullDiskSession)
			t.Logf("on the full disk:\n%s", out)
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				if f := strings.Fields(l); len(f) < 2 || (f[1] != "OK" && f[1] != "NO" && f[1] != "BYE") {
					t.Errorf("not OK or a clear NO: %q", l)
				}
			}
			os.Remove(filler)
			entries, _ := os.ReadDir(disk)
			for _, e := range entries {
				if n := e.Name(); n != "Mailbox" && n != ".Mailbox.index" && n != ".Mailbox.envelopes" {
					t.Errorf("left behind: %s", n)
				}
			}
			if after := u.python(t, uidList); !strings.HasPrefix(after, strings.TrimSpace(before)) {
				t.Errorf("UIDs changed: before\n%s\nafter\n%s", before, after)
			}
			got := u.python(t, afterwards, box)
			imapSubjects, fileSubjects := subjects(got, "IMAP "), subjects(got, "FILE ")
			if strings.Join(imapSubjects, "|") != strings.Join(fileSubjects, "|") {
				t.Errorf("IMAP shows %d messages, the file holds %d:\n%s", len(imapSubjects), len(fileSubjects), got)
			}
			want := tt.n + 1
			if strings.Contains(out, "APPEND OK") {
				want++
			}
			if strings.Contains(out, "EXPUNGE OK") {
				want--
			}
			if len(fileSubjects) != want {
				t.Errorf("the file holds %d messages, want %d:\n%s", len(fileSubjects), want, out)
			}
			if strings.Contains(out, "CHECK OK") && strings.Count(got, `\Flagged`) < 5 {
				t.Errorf("CHECK said OK, the flags are not there:\n%s\nlog:\n%s", got, u.log())
			}
		})
	}
}

// subjects are the subjects on lines with prefix, in order (IMAP's in
// UID order, as they come).
func subjects(out, prefix string) []string {
	var s []string
	re := regexp.MustCompile(`ENVELOPE \((?:NIL|"[^"]*") "([^"]*)"`)
	for _, l := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(l, prefix)
		if !ok {
			continue
		}
		if prefix == "IMAP " {
			if m := re.FindStringSubmatch(rest); m != nil {
				rest = m[1]
			}
		}
		s = append(s, rest)
	}
	return s
}
