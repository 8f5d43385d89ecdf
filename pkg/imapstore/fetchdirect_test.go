package imapstore

import (
	"bytes"
	"fmt"
	"mime"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"unixmail/internal/mboxgen"
	"unixmail/pkg/mbox"
)

// oddHeaders are headers whose ENVELOPE is not written the plain way:
// quotes and backslashes to escape, 8-bit bytes and long strings sent as
// literals, encoded words, groups, missing fields, several In-Reply-To.
var oddHeaders = []string{
	"From: \"Quote \\\"Me\\\" Back\\\\slash\" <q@example.org>\nSubject: a \"quoted\" \\ subject\nDate: Tue, 7 May 2024 08:09:10 +0200\n",
	"From: Grüße <g@example.org>\nSubject: Grüße aus Köln\nMessage-ID: <ü@example.org>\n",
	"From: =?iso-8859-1?q?J=F6rg?= <j@example.org>\nSubject: =?utf-8?b?w6TDtsO8?=\nIn-Reply-To: <a@x> <b@y>\n",
	"From: undisclosed-recipients:;\nTo: group: a@example.org, b@example.org;\nCc: <c@example.org>\nBcc: d@example.org (comment)\n",
	"Subject: " + strings.Repeat("long ", 1000) + "\nFrom: long@example.org\n",
	"Subject: no from, no date\n",
	"From: a@example.org\nSender: s@example.org\nReply-To: r@example.org, r2@example.org\nSubject: \n",
	"From: \"\" <empty@example.org>\nDate: garbage\nMessage-ID: no angle brackets\n",
	"From: tab\there <t@example.org>\nSubject: tab\there\n",
	"From: bad@@example.org, <>, @example.org\nSubject: bad addresses\n",
	"From: \"Grüße \\\"aus\\\" Köln\" <k@example.org>\nSubject: \"Grüße\" \\ aus Köln = ? _ " + strings.Repeat("é", 40) + "\n",
	"From: a@example.org\nSubject: bad \xff\xfe UTF-8, \x01 a control, \x7f, " + strings.Repeat("ü", 600) + "\n",
}

// FuzzAppendText: a subject or a display name is written as the library
// writes it, the nstring of mime's encoded words.
func FuzzAppendText(f *testing.F) {
	for _, s := range []string{"", "plain", "Grüße \"aus\" Köln", "tab\there", "\xff\x01_=?", strings.Repeat("é", 40), strings.Repeat("ü", 600)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := appendText(nil, s), appendNString(nil, mime.QEncoding.Encode("utf-8", s)); !bytes.Equal(got, want) {
			t.Fatalf("%q: %q, the library's %q", s, got, want)
		}
	})
}

// directUsers are two users with the same mailbox: messages of every
// kind the generator makes, and the odd ones, more than aheadMin of them
// so that a FETCH of all makes its envelopes ahead.
func directUsers(t *testing.T) (*testUser, *testUser) {
	var b bytes.Buffer
	if _, err := mboxgen.Write(&b, mboxgen.Options{Messages: 3 * aheadMin, AvgSize: 3000, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	lib, direct := newUser(t), newUser(t)
	for _, u := range []*testUser{lib, direct} {
		if err := os.WriteFile(u.inbox, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		var msgs []string
		for i, h := range oddHeaders {
			msgs = append(msgs, h+fmt.Sprintf("X-N: %d\n\nbody\n", i))
		}
		u.deliver(u.inbox, msgs...)
	}
	return lib, direct
}

func TestDirectFetchWritesWhatTheLibraryWrites(t *testing.T) {
	lib, direct := directUsers(t)
	wl, wd := dial(t, lib.store()), dialDirect(t, direct.store())
	wl.ok("SELECT INBOX")
	wd.ok("SELECT INBOX")
	wl.ok("STORE 3 +FLAGS (\\Flagged $Label1)")
	wd.ok("STORE 3 +FLAGS (\\Flagged $Label1)")
	fetches := []string{
		"FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)", // envelopes made, ahead
		"FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)", // ...and from the cache
		"UID FETCH 1:* (ENVELOPE)",
		"FETCH 1:5 (UID FLAGS ENVELOPE)", // made here, not ahead
		"FETCH * ENVELOPE",
		"FETCH 2:4 (RFC822.SIZE INTERNALDATE)",
		"FETCH 1:* FAST",
		"FETCH 1:* ALL",
	}
	for _, f := range fetches {
		got, want := wd.ok("%s", f), wl.ok("%s", f)
		if got != want {
			t.Fatalf("%s: direct and library differ at byte %d:\n%s\n---\n%s", f, firstDiff(got, want), got, want)
		}
	}
	wl.ok("LOGOUT")
	wd.ok("LOGOUT")
	// A new session reads the envelopes its FETCH makes ahead from the
	// cache the first left.
	wl, wd = dial(t, lib.store()), dialDirect(t, direct.store())
	wl.ok("SELECT INBOX")
	wd.ok("SELECT INBOX")
	f := "FETCH 1:* (UID ENVELOPE)"
	if got, want := wd.ok("%s", f), wl.ok("%s", f); got != want {
		t.Fatalf("%s: direct and library differ at byte %d", f, firstDiff(got, want))
	}
}

func firstDiff(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestAFetchWithABodyItemIsLeftToTheLibrary(t *testing.T) {
	lib, direct := directUsers(t)
	wl, wd := dial(t, lib.store()), dialDirect(t, direct.store())
	wl.ok("SELECT INBOX")
	wd.ok("SELECT INBOX")
	for _, f := range []string{"FETCH 1:* (ENVELOPE BODY.PEEK[HEADER.FIELDS (SUBJECT)])", "FETCH 1:2 (ENVELOPE BODYSTRUCTURE)", "FETCH 1 (FLAGS BODY[])"} {
		if got, want := wd.ok("%s", f), wl.ok("%s", f); got != want {
			t.Fatalf("%s: direct and library differ at byte %d", f, firstDiff(got, want))
		}
	}
}

func TestAppendFlagsLeavesOutWhatIsNoFlag(t *testing.T) {
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{nil, "()"},
		{[]string{`\Seen`, "$Label1"}, `(\Seen $Label1)`},
		{[]string{"bad(", "a\\b", "", "\\", "ok"}, "(ok)"},
		{[]string{"8bit\xe9"}, "()"},
	} {
		var flags []imap.Flag
		for _, f := range c.flags {
			flags = append(flags, imap.Flag(f))
		}
		if got := string(appendFlags(nil, flags)); got != c.want {
			t.Errorf("%q: %s, want %s", c.flags, got, c.want)
		}
	}
}

// aheadSession is a session with INBOX selected and made whole, on n
// generated messages (see msg) numbered from 1.
func aheadSession(t *testing.T, n int) *Session {
	u := newUser(t)
	var msgs []string
	for i := 1; i <= n; i++ {
		msgs = append(msgs, msg(fmt.Sprintf("number %d", i), "body\n"))
	}
	u.deliver(u.inbox, msgs...)
	s := NewPreauthSession(u.store())
	t.Cleanup(func() { s.Close() })
	if _, err := s.Select("INBOX", &imap.SelectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.needSelected(); err != nil {
		t.Fatal(err)
	}
	return s
}

// drain takes records from a until it ends, giving the subject of each.
func drain(t *testing.T, a *envelopesAhead) []string {
	var got []string
	for {
		rec, _ := a.next()
		if rec == nil {
			return got
		}
		env, ok := decodeRecord(rec)
		if !ok {
			t.Fatalf("record %d does not decode", len(got)+1)
		}
		got = append(got, env.Subject)
	}
}

func TestEnvelopesMadeAheadComeInTheFetchsOrder(t *testing.T) {
	const n = 5*aheadBatchLen + 3
	s := aheadSession(t, n)
	sel := s.sel
	file, err := sel.reader()
	if err != nil {
		t.Fatal(err)
	}
	// Backwards and skipping: batches of different work, in any order
	// the workers finish them.
	var targets []int
	for i := n - 1; i >= 0; i -= 2 {
		targets = append(targets, i)
	}
	a := sel.envelopesAhead(file, sel.snap, targets)
	got := drain(t, a)
	a.stop()
	if len(got) != len(targets) {
		t.Fatalf("%d records for %d messages", len(got), len(targets))
	}
	for k, i := range targets {
		if want := fmt.Sprintf("number %d", i+1); got[k] != want {
			t.Fatalf("record %d is %q, want %q", k, got[k], want)
		}
	}
}

// everyMessage is the indexes of all of sel's messages, as 1:* gives them.
func everyMessage(sel *selected) []int {
	all := make([]int, len(sel.msgs))
	for i := range all {
		all[i] = i
	}
	return all
}

func TestEnvelopesAheadStopWhenTheFetchEndsEarly(t *testing.T) {
	s := aheadSession(t, 4*aheadBatchLen)
	sel := s.sel
	file, _ := sel.reader()
	targets := everyMessage(sel)
	for _, take := range []int{0, 1, aheadBatchLen + 1} {
		a := sel.envelopesAhead(file, sel.snap, targets)
		for range take {
			if rec, _ := a.next(); rec == nil {
				t.Fatal("ended early")
			}
		}
		a.stop() // returns: no goroutine is left waiting
	}
}

func TestEnvelopesAheadEndAtAMessageGoneOrAFileChanged(t *testing.T) {
	s := aheadSession(t, 3*aheadBatchLen)
	sel := s.sel
	file, _ := sel.reader()
	all := everyMessage(sel)
	// A message expunged meanwhile: those before it are made.
	gone := aheadBatchLen + 7
	snap := *sel.snap
	snap.entries = append(append([]mbox.Entry{}, snap.entries[:gone]...), snap.entries[gone+1:]...)
	a := sel.envelopesAhead(file, &snap, all)
	if got := drain(t, a); len(got) != gone {
		t.Errorf("message %d gone: %d made", gone+1, len(got))
	}
	a.stop()
	// The file no longer the snapshot's: nothing read from it is used.
	snap = *sel.snap
	snap.stamp.size++
	a = sel.envelopesAhead(file, &snap, all)
	if got := drain(t, a); len(got) != 0 {
		t.Errorf("file changed: %d made", len(got))
	}
	a.stop()
}

func TestAppendInternalDateWritesTheLibrarysLayout(t *testing.T) {
	for _, d := range []time.Time{
		time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 0, time.FixedZone("", -(9*3600+30*60))),
		time.Date(2030, 1, 10, 0, 0, 0, 0, time.FixedZone("", 14*3600)),
		time.Date(5, 2, 3, 4, 5, 6, 0, time.UTC),
		time.Date(12345, 2, 3, 4, 5, 6, 0, time.UTC),
		time.Date(2024, 2, 3, 4, 5, 6, 0, time.FixedZone("", 3600+17)),
		time.Date(2024, 2, 3, 4, 5, 6, 0, time.FixedZone("", -120*3600)),
		time.Unix(0, 0),
	} {
		want := `"` + d.Format(internalDateLayout) + `"`
		if got := string(appendInternalDate(nil, d)); got != want {
			t.Errorf("%v: %s, want %s", d, got, want)
		}
	}
}

func TestAppendStringQuotesWhatItCanAsTheLibraryDoes(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain", `"plain"`},
		{`say "hi" \ bye`, `"say \"hi\" \\ bye"`},
		{"", `""`},
		{"a\r\nb", "{4}\r\na\r\nb"},
		{"Grüße", "{7}\r\nGrüße"},
		{strings.Repeat("x", maxQuoted), `"` + strings.Repeat("x", maxQuoted) + `"`},
		{strings.Repeat("x", maxQuoted+1), "{4097}\r\n" + strings.Repeat("x", maxQuoted+1)},
	} {
		if got := string(appendString(nil, c.in)); got != c.want {
			t.Errorf("%q: %q, want %q", c.in, got, c.want)
		}
	}
}

// A FETCH answered from the index alone (a SELECT from the index, not yet
// made whole) writes its responses directly too.
func TestADirectFetchFromTheIndexAloneWritesWhatTheLibraryWrites(t *testing.T) {
	lib, direct := indexedInbox(t, 5), indexedInbox(t, 5)
	for _, u := range []*testUser{lib, direct} {
		w := dial(t, u.store())
		w.ok("SELECT INBOX")
		w.ok(`STORE 2 +FLAGS (\Seen work)`)
		w.ok("LOGOUT")
	}
	wl, wd := dial(t, lib.store()), dialDirect(t, direct.store())
	for _, c := range []string{"EXAMINE INBOX", "FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)", "UID FETCH 2:4 (FLAGS ENVELOPE)", "FETCH 1:* (UID FLAGS BODY.PEEK[HEADER])"} {
		got, want := wd.ok("%s", c), wl.ok("%s", c)
		if strings.Contains(c, "FETCH") && got != want {
			t.Fatalf("%s: direct and library differ at byte %d:\n%s\n---\n%s", c, firstDiff(got, want), got, want)
		}
	}
}
