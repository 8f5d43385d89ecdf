package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"unixmail/internal/sandbox"
)

// roomMessage is message k of the room tests: the header fields mail
// carries, one of them folded, and a body of some 6 KB of numbered lines,
// so that a change to its header is never in the file's last 4 KiB when
// it is not the last message, and no shift of the file passes for the
// same bytes.
func roomMessage(k int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Alice <alice@test.example>\nTo: bob@test.example\nSubject: roomtest-%d\nMessage-ID: <room-%d@test.example>\n"+
		"Date: Sat, 05 Dec 2026 09:%02d:00 +0000\nReferences: <a-%d@test.example>\n\t<b-%d@test.example>\n\n", k, k, k, k, k)
	for i := range 90 {
		fmt.Fprintf(&b, "roomtest message %d, line %d of its body, a line long enough to fill it\n", k, i)
	}
	return b.String()
}

// imapdStores is an imaplib session on imapd: SELECT, each STORE its
// arguments name ("SET OP FLAGS"), LOGOUT (which writes them).
const imapdStores = `
import imaplib, sys
M = imaplib.IMAP4_stream(sys.argv[1])
typ, data = M.select("INBOX")
assert typ == "OK", data
for c in sys.argv[2:]:
    s, op, fl = c.split(" ", 2)
    typ, data = M.store(s, op, fl)
    assert typ == "OK", (c, data)
M.logout()
`

// fieldsAndBodies is python's mailbox reading the file: every message's
// header fields, in order, and its body.
const fieldsAndBodies = `
import json, mailbox, sys
print(json.dumps([{"fields": [[k, v] for k, v in m.items()], "body": m.get_payload(), "defects": len(m.defects)}
    for m in mailbox.mbox(sys.argv[2], create=False)]))
`

// roomRead is a message as the two readers see it: its header fields
// (a raw field with its continuation lines, from go-mbox; "Name: value"
// from python) and its body.
type roomRead struct {
	goFields, pyFields []string
	goBody, pyBody     string
	subject            string
}

// bookkeeping reports whether a field is one programs add or rewrite in
// place to keep a message's flags and UID: the state fields, UIDs, and
// Dovecot's Content-Length, mutt's Lines.
func bookkeeping(field string) bool {
	name, _, _ := strings.Cut(field, ":")
	switch strings.ToLower(name) {
	case "status", "x-status", "x-keywords", "x-uid", "x-imapbase", "x-imap", "content-length", "lines":
		return true
	}
	return false
}

// roomFolder reads the mailbox with go-mbox and python's mailbox, which
// must agree on the messages there.
func (u *imapUser) roomFolder(t *testing.T) []roomRead {
	t.Helper()
	var py []struct {
		Fields  [][2]string `json:"fields"`
		Body    string      `json:"body"`
		Defects int         `json:"defects"`
	}
	out := u.python(t, fieldsAndBodies, u.mailbox())
	if err := json.Unmarshal([]byte(out), &py); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	raws := sandbox.MessagesByGoMbox(t, u.mailbox())
	if len(raws) != len(py) {
		t.Fatalf("go-mbox reads %d messages, python %d", len(raws), len(py))
	}
	reads := make([]roomRead, len(raws))
	for i, raw := range raws {
		r := &reads[i]
		hdr, body, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
		if !ok {
			t.Fatalf("go-mbox: message %d has no end of header:\n%s", i+1, raw)
		}
		for _, l := range strings.Split(string(hdr), "\r\n") {
			if n := len(r.goFields); n > 0 && (l[0] == ' ' || l[0] == '\t') {
				r.goFields[n-1] += "\n" + l
				continue
			}
			r.goFields = append(r.goFields, l)
			if s, ok := strings.CutPrefix(l, "Subject: "); ok {
				r.subject = s
			}
		}
		r.goBody = string(body)
		for _, f := range py[i].Fields {
			r.pyFields = append(r.pyFields, f[0]+": "+f[1])
		}
		r.pyBody = py[i].Body
		if py[i].Defects > 0 {
			t.Errorf("python finds %d defects in message %d:\n%s", py[i].Defects, i+1, hdr)
		}
	}
	return reads
}

// roomSnapshot is what each message was when delivered: its fields but
// the bookkeeping ones, and its body, by subject.
type roomSnapshot map[string]roomRead

// take records the messages of the mailbox not yet recorded.
func (s roomSnapshot) take(t *testing.T, u *imapUser) {
	t.Helper()
	for _, r := range u.roomFolder(t) {
		if _, ok := s[r.subject]; !ok {
			r.goFields = slices.DeleteFunc(r.goFields, bookkeeping)
			r.pyFields = slices.DeleteFunc(r.pyFields, bookkeeping)
			s[r.subject] = r
		}
	}
}

// A keyword as IMAP allows one (an atom), and a number.
var atom, number = regexp.MustCompile(`^[!#-'*+\-./0-9:;<=>?@A-Z^_a-z|~]+$`), regexp.MustCompile(`^[0-9]+$`)

// flagsOf are the flags and keywords a message's state fields give, as
// IMAP names them, sorted; and whether each state field, X-UID and
// Content-Length is there at most once and well-formed (no torn or mixed
// bytes).
func flagsOf(fields []string) ([]string, error) {
	var flags []string
	count := map[string]int{}
	for _, f := range fields {
		name, value, _ := strings.Cut(f, ":")
		value = strings.TrimSpace(value)
		switch name = strings.ToLower(name); name {
		case "status":
			if strings.Trim(value, "RO") != "" {
				return nil, fmt.Errorf("torn field %q", f)
			}
			if strings.Contains(value, "R") {
				flags = append(flags, `\Seen`)
			}
		case "x-status":
			if strings.Trim(value, "ADFT") != "" {
				return nil, fmt.Errorf("torn field %q", f)
			}
			for c, flag := range map[rune]string{'A': `\Answered`, 'D': `\Deleted`, 'F': `\Flagged`, 'T': `\Draft`} {
				if strings.ContainsRune(value, c) {
					flags = append(flags, flag)
				}
			}
		case "x-keywords":
			for _, k := range strings.FieldsFunc(value, func(r rune) bool { return r == ' ' || r == ',' || r == '\n' || r == '\t' }) {
				if !atom.MatchString(k) {
					return nil, fmt.Errorf("torn field %q", f)
				}
				flags = append(flags, k)
			}
		case "x-uid", "content-length":
			if !number.MatchString(value) {
				return nil, fmt.Errorf("torn field %q", f)
			}
		default:
			continue
		}
		if count[name]++; count[name] > 1 {
			return nil, fmt.Errorf("%s twice", name)
		}
	}
	slices.Sort(flags)
	return flags, nil
}

// checkRooms holds the mailbox to what was delivered and the flags each
// message is meant to have (by subject, space-separated; a subject not
// named wants \Seen alone): every message there once, each field but
// the bookkeeping ones byte for byte as delivered, in order, the body
// too, for go-mbox and python's mailbox alike; no state field twice or
// torn.
func checkRooms(t *testing.T, u *imapUser, delivered roomSnapshot, want map[string]string) {
	t.Helper()
	reads := u.roomFolder(t)
	seen := map[string]bool{}
	for i, r := range reads {
		d, ok := delivered[r.subject]
		switch {
		case !ok:
			t.Errorf("message %d, %q, was never delivered:\n%s", i+1, r.subject, strings.Join(r.goFields, "\n"))
			continue
		case seen[r.subject]:
			t.Errorf("message %d, %q, is there twice", i+1, r.subject)
		}
		seen[r.subject] = true
		if got := slices.DeleteFunc(slices.Clone(r.goFields), bookkeeping); !slices.Equal(got, d.goFields) {
			t.Errorf("%q: go-mbox reads the fields\n%s\nwant, as delivered,\n%s", r.subject, strings.Join(r.goFields, "\n"), strings.Join(d.goFields, "\n"))
		}
		if got := slices.DeleteFunc(slices.Clone(r.pyFields), bookkeeping); !slices.Equal(got, d.pyFields) {
			t.Errorf("%q: python reads the fields\n%q\nwant, as delivered,\n%q", r.subject, r.pyFields, d.pyFields)
		}
		if r.goBody != d.goBody || r.pyBody != d.pyBody {
			t.Errorf("%q: the body changed: %.200q", r.subject, r.goBody)
		}
		flags, err := flagsOf(r.goFields)
		if err != nil {
			t.Errorf("%q: %v:\n%s", r.subject, err, strings.Join(r.goFields, "\n"))
			continue
		}
		w, ok := want[r.subject]
		if !ok {
			w = `\Seen`
		}
		wf := strings.Fields(w)
		slices.Sort(wf)
		if !slices.Equal(flags, wf) {
			t.Errorf("%q has %q, want %q:\n%s", r.subject, flags, wf, strings.Join(r.goFields, "\n"))
		}
	}
	for s := range delivered {
		if !seen[s] {
			t.Errorf("%q is gone", s)
		}
	}
}

// makeRoomFolder makes the user's mailbox: filler messages, enough that
// imapd saves its index (256), small (the folder under 16 MiB, its
// UIDs written into it) or big (over 16 MiB, its UIDs in the index), then
// the room test messages 1 and 2, by deliver. Dovecot has seen them, and
// set and cleared the keyword $Label1 on them: it has written its UIDs
// and Content-Length into the file and $Label1 into the keywords of the
// folder, so that what it changes later it changes in place, the file's
// size kept. (The first message is a filler: Dovecot, with
// mbox_dirty_syncs = no, loses changes to the first message of a file,
// the one that holds X-IMAPbase.) It returns the number of the first room
// test message.
func (u *imapUser) makeRoomFolder(t *testing.T, big bool) int {
	t.Helper()
	fillers, size := 300, 200
	if big {
		fillers, size = 280, 60<<10 // 17 MB
	}
	writeFolder(t, u.mailbox(), fillers, size)
	os.Chown(u.mailbox(), 65534, 65534)
	u.deliver(t, roomMessage(1), roomMessage(2))
	first := fillers + 1
	u.dovecotStores(t, fmt.Sprintf(`STORE %d:%d +FLAGS ($Label1)`, first, first+1), fmt.Sprintf(`STORE %d:%d -FLAGS ($Label1)`, first, first+1))
	return first
}

// dovecotStores runs a session of Dovecot's imap on the live mailbox (set
// as imapd(8) says beside other programs): SELECT, the commands, LOGOUT.
func (u *imapUser) dovecotStores(t *testing.T, commands ...string) {
	t.Helper()
	conf := u.liveDovecot(t, "mbox_dirty_syncs = no\n")
	all := []string{"a SELECT INBOX"}
	for i, c := range commands {
		all = append(all, fmt.Sprintf("s%d %s", i, c))
	}
	tr, err := u.dovecotIMAP(t, conf, append(all, "z LOGOUT")...)
	if err != nil || !strings.Contains(tr, "z OK") || strings.Count(tr, "\ns") != len(commands) || strings.Contains(tr, " NO ") || strings.Contains(tr, " BAD ") {
		log, _ := os.ReadFile(filepath.Join(u.sb.Home(u.name), "dovecot.log"))
		t.Fatalf("dovecot: %v\n%s\n%s", err, tr, log)
	}
}

// A flag change another program makes in place, rewriting headers its
// own way, and then mail appended, so that imapd keeps the index it had
// (the file only grew, its old end as it was): imapd's next flag changes
// must not land where the index last saw the state fields, nor undo the
// other program's changes; every header stays as delivered but its state
// fields, each there once and whole. For each changer (Dovecot's imap,
// mutt) and appender (dovecot-lda, procmail), on a small folder and a big
// one.
func TestFlagChangesAfterAnotherProgramsInPlaceChangeAndAnAppendLandWhereTheFieldsAre(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	dovecot := func(t *testing.T, u *imapUser, first int) {
		u.dovecotStores(t, fmt.Sprintf(`STORE %d +FLAGS (\Flagged $Label1)`, first+1), fmt.Sprintf(`STORE %d -FLAGS (\Seen)`, first))
	}
	mutt := func(t *testing.T, u *imapUser, first int) {
		u.mutt(t, "-e", `push "<tag-pattern>~s roomtest-2<enter><tag-prefix><flag-message><untag-pattern>~A<enter><tag-pattern>~s roomtest-1<enter><tag-prefix><set-flag>N<sync-mailbox><quit>"`)
	}
	for _, tt := range []struct {
		name     string
		big      bool
		change   func(t *testing.T, u *imapUser, first int)
		appender string // of peerWriters
		order    string // their lock order
		second   string // the flags message 2 gets from the changer
		last     string // the flags imapd adds last
	}{
		{"Dovecot then dovecot-lda, small folder", false, dovecot, "lda", "fcntl dotlock", `\Flagged $Label1`, `\Answered`},
		{"Dovecot then dovecot-lda, big folder", true, dovecot, "lda", "fcntl dotlock", `\Flagged $Label1`, `\Answered`},
		// A keyword new to the folder: the file is rewritten.
		{"Dovecot then dovecot-lda, a new keyword", false, dovecot, "lda", "fcntl dotlock", `\Flagged $Label1`, `\Answered $Later`},
		{"mutt then procmail, small folder", false, mutt, "procmail", "dotlock fcntl", `\Flagged`, `\Answered`},
		{"mutt then deliver, small folder", false, mutt, "deliver", "fcntl dotlock", `\Flagged`, `\Answered`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			u := newIMAPUser(t)
			first := u.makeRoomFolder(t, tt.big)
			delivered := roomSnapshot{}
			delivered.take(t, u)
			u.python(t, imapdStores, `1:* +FLAGS (\Seen)`)
			tt.change(t, u, first)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := peerWriters(ctx, t, u, u.mailbox(), "rooms", tt.order)[tt.appender]("roomtest-3"); err != nil {
				t.Fatal(err)
			}
			delivered.take(t, u)
			u.python(t, imapdStores, fmt.Sprintf(`%d:%d +FLAGS (%s)`, first, first+2, tt.last))
			checkRooms(t, u, delivered, map[string]string{
				"roomtest-1": tt.last,
				"roomtest-2": `\Seen ` + tt.second + " " + tt.last,
				"roomtest-3": tt.last,
			})
			t.Logf("%v", time.Since(start).Round(time.Millisecond))
		})
	}
}

// imapd writes flag changes and, at once (the same second, on a kernel
// without fine-grained timestamps maybe the same mtime), Dovecot changes
// flags in place, the file's size kept, nothing appended; then imapd
// changes flags again. It must read where Dovecot left the fields, and
// keep Dovecot's changes: the index saved at the first LOGOUT stands for
// the file only while its mtime is the one imapd stamped.
func TestFlagChangesRightAfterAnotherProgramsInTheSameSecondLandWhereTheFieldsAre(t *testing.T) {
	u := newIMAPUser(t)
	first := u.makeRoomFolder(t, false)
	delivered := roomSnapshot{}
	delivered.take(t, u)
	u.python(t, imapdStores, `1:* +FLAGS (\Seen)`)
	written := time.Now()
	u.dovecotStores(t, fmt.Sprintf(`STORE %d +FLAGS (\Flagged $Label1)`, first+1), fmt.Sprintf(`STORE %d -FLAGS (\Seen)`, first))
	t.Logf("Dovecot done %v after imapd's LOGOUT", time.Since(written).Round(time.Millisecond))
	u.python(t, imapdStores, fmt.Sprintf(`%d:%d +FLAGS (\Answered)`, first, first+1))
	checkRooms(t, u, delivered, map[string]string{
		"roomtest-1": `\Answered`,
		"roomtest-2": `\Seen \Flagged \Answered $Label1`,
	})
}
