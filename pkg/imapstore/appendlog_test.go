package imapstore

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"unixmail/pkg/mbox"
)

var appendUID = regexp.MustCompile(`\[APPENDUID (\d+) (\d+)\]`)

// appendMany appends n messages with subjects "appended <from+i>" through
// w and gives the UID APPENDUID named for each subject, and UIDVALIDITY.
func appendMany(t *testing.T, w *wire, from, n int, uids map[string]uint32) uint32 {
	t.Helper()
	validity := uint32(0)
	for i := from; i < from+n; i++ {
		subject := fmt.Sprintf("appended %d", i)
		m := "Subject: " + subject + "\r\n\r\nbody\r\n"
		out := w.ok("APPEND INBOX {%d+}\r\n%s", len(m), m)
		g := appendUID.FindStringSubmatch(out)
		if g == nil {
			t.Fatalf("APPEND gave no APPENDUID:\n%s", out)
		}
		v, _ := strconv.ParseUint(g[1], 10, 32)
		u, _ := strconv.ParseUint(g[2], 10, 32)
		if validity != 0 && uint32(v) != validity {
			t.Fatalf("UIDVALIDITY went from %d to %d at %q", validity, v, subject)
		}
		validity = uint32(v)
		uids[subject] = uint32(u)
	}
	return validity
}

// uidsBySubject is every message's UID by subject, as a new session on a
// new store (another imapd process, as far as the files go) sees them, and
// the UIDVALIDITY.
func uidsBySubject(t *testing.T, u *testUser) (map[string]uint32, uint32) {
	t.Helper()
	w := dial(t, u.store())
	sel := w.ok("EXAMINE INBOX")
	v, _ := strconv.ParseUint(regexp.MustCompile(`UIDVALIDITY (\d+)`).FindStringSubmatch(sel)[1], 10, 32)
	out := w.ok("UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	got := map[string]uint32{}
	for _, m := range regexp.MustCompile(`UID (\d+) BODY\[HEADER\.FIELDS \("?SUBJECT"?\)\] \{\d+\}\r\nSubject: ([^\r]*)`).FindAllStringSubmatch(out, -1) {
		uid, _ := strconv.ParseUint(m[1], 10, 32)
		got[m[2]] = uint32(uid)
	}
	return got, uint32(v)
}

func TestAppendUIDsOfABigFolderLastAcrossARestartAfterManyAppends(t *testing.T) {
	u, w := bigInbox(t, msg("one", "1\n"), msg("two", "2\n"), msg("three", "3\n"))
	w.ok("SELECT INBOX")
	given := map[string]uint32{"one": 1, "two": 2, "three": 3}
	validity := appendMany(t, w, 1, 40, given)
	u.deliver(u.inbox, msg("delivered", "by another program\n"))
	w.ok("NOOP")
	given["delivered"] = 44
	ip := mbox.IndexPath(u.inbox)
	before, _ := os.Stat(ip)
	if v := appendMany(t, w, 41, 40, given); v != validity {
		t.Fatalf("UIDVALIDITY went from %d to %d", validity, v)
	}
	// Each APPEND added a record to the index file, not a new file.
	if after, _ := os.Stat(ip); before == nil || after == nil || !os.SameFile(before, after) || after.Size() <= before.Size() {
		t.Fatalf("the index file was replaced or not written by the APPENDs: %v then %v", before, after)
	}
	w.ok("LOGOUT")
	if f := u.file(u.inbox); strings.Contains(f, "X-IMAPbase") {
		t.Fatalf("the big folder's base was written into it")
	}
	got, v := uidsBySubject(t, u)
	if v != validity || len(got) != len(given) {
		t.Fatalf("after a restart: UIDVALIDITY %d (was %d), %d messages (want %d)", v, validity, len(got), len(given))
	}
	for subject, uid := range given {
		if got[subject] != uid {
			t.Errorf("%q: UID %d after a restart, APPENDUID said %d", subject, got[subject], uid)
		}
	}
}

func TestAnAppendsIndexRecordTornByACrashNeverLetsAUIDNameAnotherMessage(t *testing.T) {
	u, w := bigInbox(t, msg("one", "1\n"), msg("two", "2\n"))
	w.ok("SELECT INBOX")
	given := map[string]uint32{"one": 1, "two": 2}
	validity := appendMany(t, w, 1, 5, given)
	w.ok("LOGOUT")
	ip := mbox.IndexPath(u.inbox)
	data, err := os.ReadFile(ip)
	if err != nil {
		t.Fatal(err)
	}
	// The last APPEND's record half written: the mail is in the file
	// (synced first), the index does not know its UID.
	if err := os.WriteFile(ip, data[:len(data)-20], 0o600); err != nil {
		t.Fatal(err)
	}
	got, v := uidsBySubject(t, u)
	if len(got) != len(given) {
		t.Fatalf("%d messages after the crash, want %d", len(got), len(given))
	}
	if v == validity {
		for subject, uid := range given {
			if got[subject] != uid {
				t.Errorf("%q: UID %d under the same UIDVALIDITY, APPENDUID said %d", subject, got[subject], uid)
			}
		}
	}
	// Whatever the numbering now, the next APPEND takes a UID nobody had.
	w = dial(t, u.store())
	w.ok("SELECT INBOX")
	after := map[string]uint32{}
	if nv := appendMany(t, w, 100, 1, after); nv == validity && after["appended 100"] <= given["appended 5"] {
		t.Fatalf("after the crash APPEND gave UID %d again under UIDVALIDITY %d", after["appended 100"], nv)
	}
}

func TestASessionAppendingToABigFolderStillHearsOfOtherChanges(t *testing.T) {
	u, w := bigInbox(t, msg("one", "1\n"), msg("two", "2\n"), msg("three", "3\n"))
	w2 := dial(t, u.store())
	w.ok("SELECT INBOX")
	w2.ok("SELECT INBOX")
	app := func() string { // an APPEND, and what the session hears with it
		return w.ok("APPEND INBOX {21+}\r\nSubject: app\r\n\r\nhi!\r\n") + w.ok("NOOP")
	}
	app()
	app()
	w2.ok("NOOP")
	w2.ok(`STORE 2 +FLAGS (\Flagged)`)
	w2.flush()
	if out := app(); !strings.Contains(out, `* 2 FETCH (UID 2 FLAGS (\Flagged \Recent))`) {
		t.Fatalf("another session's flag not heard:\n%s", out)
	}
	w.ok(`STORE 3 +FLAGS.SILENT (\Seen)`)
	app()
	w2.ok(`STORE 1 +FLAGS.SILENT (\Deleted)`)
	w2.ok("EXPUNGE")
	if out := app(); !strings.Contains(out, "* 1 EXPUNGE") || !strings.Contains(out, "* 7 EXISTS") {
		t.Fatalf("another session's expunge not heard:\n%s", out)
	}
	out := w.ok("FETCH 1:* (UID FLAGS)")
	if len(regexp.MustCompile(`(?m)^\* \d+ FETCH`).FindAllString(out, -1)) != 7 || !strings.Contains(out, `(UID 3 FLAGS (\Seen \Recent))`) || !strings.Contains(out, "* 7 FETCH (UID 8 ") {
		t.Fatalf("the view after appends and others' changes:\n%s", out)
	}
}
