package pop3

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"unixmail/pkg/mbox"
)

const threeMbox = "From a@example.org  Mon Dec  1 10:00:00 2026\nSubject: one\n\nbody one\n>From quoted\n\n" +
	"From b@example.org  Mon Dec  1 10:01:00 2026\nSubject: two\n\nbody two\n\n" +
	"From c@example.org  Mon Dec  1 10:02:00 2026\nSubject: three\n\nbody three\n"

func mailbox(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "Mailbox")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func openDrop(t *testing.T, path string) Maildrop {
	t.Helper()
	d, err := OpenMbox(path, os.Getuid(), 0, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func read(t *testing.T, d Maildrop, i int) string {
	t.Helper()
	rc, err := d.Open(i)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

var uidl = regexp.MustCompile(`^[0-9a-f]{16}$`)

func TestUIDsAreRecordedOnceAndLast(t *testing.T) {
	path := mailbox(t, threeMbox)
	d := openDrop(t, path)
	first, err := d.UIDs()
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 3 || !uidl.MatchString(first[0]) || first[0][8:] != "00000001" || first[2][8:] != "00000003" || first[0][:8] != first[2][:8] {
		t.Fatalf("UIDs = %v", first)
	}
	if got := read(t, d, 0); !strings.Contains(got, "X-UID: 1\n") || !strings.Contains(got, "\nFrom quoted\n") {
		t.Errorf("message 1 after numbering:\n%s", got)
	}
	d.Close()
	d = openDrop(t, path)
	defer d.Close()
	again, _ := d.UIDs()
	if strings.Join(again, " ") != strings.Join(first, " ") {
		t.Errorf("UIDs changed: %v then %v", first, again)
	}
}

func TestANewUIDVALIDITYIsLoggedWithWhyOnceASession(t *testing.T) {
	path := mailbox(t, "From a@example.org  Mon Dec  1 10:00:00 2026\nX-IMAPbase: 1000 5\nX-UID: 4\nSubject: one\n\nbody one\n\n"+
		"From b@example.org  Mon Dec  1 10:01:00 2026\nX-UID: 2\nSubject: two\n\nbody two\n")
	var logged []string
	d, err := OpenMbox(path, os.Getuid(), 0, func(format string, args ...any) {
		logged = append(logged, fmt.Sprintf(format, args...))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	uids, err := d.UIDs()
	if err != nil {
		t.Fatal(err)
	}
	if len(uids) != 2 || uids[0][:8] <= fmt.Sprintf("%08x", 1000) || uids[0][8:] != "00000001" || uids[1][8:] != "00000002" {
		t.Fatalf("UIDs = %v, want 1 and 2 under a new UIDVALIDITY", uids)
	}
	want := fmt.Sprintf("mailbox=%s new uidvalidity=%d: the UIDs in it could not stand: message 2 has UID 2, not above 4 before it (", path, mustHex(t, uids[0][:8]))
	if len(logged) != 1 || !strings.HasPrefix(logged[0], want) {
		t.Errorf("logged %q, want once %q...", logged, want)
	}
}

func mustHex(t *testing.T, s string) uint64 {
	t.Helper()
	var n uint64
	if _, err := fmt.Sscanf(s, "%x", &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCommitDeletesMarksReadAndKeepsMailThatCameMeanwhile(t *testing.T) {
	path := mailbox(t, threeMbox)
	d := openDrop(t, path)
	if n := d.Count(); n != 3 {
		t.Fatalf("%d messages", n)
	}
	// deliver appends while the client thinks: no lock is held.
	mb, err := mbox.Open(path, mbox.OpenOptions{Owner: -1})
	if err != nil {
		t.Fatalf("the mailbox is locked during the session: %v", err)
	}
	mb.Append(t.Context(), func(w io.Writer) error {
		_, err := mbox.WriteMessage(w, mbox.FromLine("d@example.org", time.Now()), strings.NewReader("Subject: new\n\nnew mail\n"))
		return err
	})
	mb.Close()
	if err := d.Commit([]bool{true, false, false}, []bool{true, true, false}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	s := string(got)
	if strings.Contains(s, "Subject: one") || !strings.Contains(s, "Subject: new\n\nnew mail") {
		t.Errorf("after commit:\n%s", s)
	}
	if !strings.Contains(s, "Subject: two\nStatus: RO\n") || strings.Contains(s, "Subject: three\nStatus") {
		t.Errorf("read marks:\n%s", s)
	}
}

func TestASecondSessionOnTheSameMailboxIsInUse(t *testing.T) {
	path := mailbox(t, threeMbox)
	d := openDrop(t, path)
	if _, err := OpenMbox(path, os.Getuid(), 0, t.Logf); !errors.Is(err, ErrInUse) {
		t.Errorf("second session: %v", err)
	}
	d.Close()
	openDrop(t, path).Close()
}

func TestAMissingMailboxIsAnEmptyMaildrop(t *testing.T) {
	d := openDrop(t, filepath.Join(t.TempDir(), "Mailbox"))
	defer d.Close()
	if n := d.Count(); n != 0 {
		t.Errorf("%d messages", n)
	}
	if u, err := d.UIDs(); err != nil || len(u) != 0 {
		t.Errorf("UIDs = %v, %v", u, err)
	}
	if err := d.Commit(nil, nil); err != nil {
		t.Error(err)
	}
}

func TestCommitFindsMessagesByUIDAfterAnotherProgramRewrote(t *testing.T) {
	path := mailbox(t, threeMbox)
	numbered := openDrop(t, path)
	numbered.UIDs()
	numbered.Close()
	d := openDrop(t, path)
	// mail(1) expunges message 1 meanwhile: the others move.
	mb, _ := mbox.Open(path, mbox.OpenOptions{Owner: -1})
	st, _ := mb.File.Stat()
	if err := mbox.Rewrite(mb, st.Size(), nil, func(i int, m *mbox.Message) (bool, *mbox.State) { return i != 0, nil }); err != nil {
		t.Fatal(err)
	}
	mb.Close()
	if err := d.Commit([]bool{false, false, true}, []bool{false, false, false}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if strings.Contains(string(got), "Subject: three") || !strings.Contains(string(got), "Subject: two") || strings.Contains(string(got), "Subject: one") {
		t.Errorf("after commit:\n%s", got)
	}
}

func TestRetrReadsTheMessageWithoutItsMboxQuoting(t *testing.T) {
	d := openDrop(t, mailbox(t, threeMbox))
	defer d.Close()
	if got := read(t, d, 0); got != "Subject: one\n\nbody one\nFrom quoted\n" {
		t.Errorf("message 1: %q", got)
	}
}

// RFC 1939 5: LIST and STAT give the exact size of a message as RETR
// sends it (CRLF line ends, before the dot-stuffing), whatever the file
// holds: mboxrd-quoted From lines, CRLF and LF lines mixed, a lone CR, no
// line end after the last line.
func TestListGivesTheExactSizeRetrSends(t *testing.T) {
	const quoted = "From a@example.org  Mon Dec  1 10:00:00 2026\nSubject: quoted\n\n>From the start\n>>From deeper\n.a dot\n\n"
	const mixed = "From b@example.org  Mon Dec  1 10:01:00 2026\r\nSubject: mixed\r\n\nCRLF line\r\nLF line\nlone\rCR\n\n"
	const unended = "From c@example.org  Mon Dec  1 10:02:00 2026\nSubject: unended\n\n>From here, no newline at the end"
	d := start(t, setup{drop: openDrop(t, mailbox(t, quoted+mixed+unended))})
	d.login()
	var total int
	for n := 1; n <= 3; n++ {
		var size int
		if _, err := fmt.Sscanf(d.send(fmt.Sprintf("LIST %d", n)), "+OK %d %d", new(int), &size); err != nil {
			t.Fatalf("LIST %d: %v", n, err)
		}
		if got := d.send(fmt.Sprintf("RETR %d", n)); got != fmt.Sprintf("+OK %d octets", size) {
			t.Errorf("RETR %d: %q", n, got)
		}
		text := strings.ReplaceAll("\r\n"+d.multi(), "\r\n..", "\r\n.")[2:]
		if len(text) != size {
			t.Errorf("message %d: LIST says %d octets, RETR sent %d: %q", n, size, len(text), text)
		}
		total += size
	}
	if got, want := d.send("STAT"), fmt.Sprintf("+OK 3 %d", total); got != want {
		t.Errorf("STAT = %q, want %q", got, want)
	}
}

// RETR leaves out the state headers the mailbox keeps (Status, X-UID,
// X-IMAPbase... written by mail, imapd and UIDL itself), and LIST counts
// without them: the sizes do not change when UIDL records UIDs.
func TestRetrHidesTheStateHeadersAndListCountsWithoutThem(t *testing.T) {
	const box = "From a@example.org  Mon Dec  1 10:00:00 2026\nStatus: RO\nX-Status: F\nX-Keywords: work\nSubject: one\nContent-Length: 5\n\nbody\n\n" +
		"From b@example.org  Mon Dec  1 10:01:00 2026\nSubject: two\n\n>From here\n"
	path := mailbox(t, box)
	d := start(t, setup{drop: openDrop(t, path)})
	d.login()
	before := d.send("LIST 2")
	if got := d.send("UIDL 1"); !strings.HasPrefix(got, "+OK 1 ") {
		t.Fatalf("UIDL 1: %q", got)
	}
	if stored, _ := os.ReadFile(path); !strings.Contains(string(stored), "X-UID: 2") {
		t.Fatalf("UIDL recorded no UIDs:\n%s", stored)
	}
	if after := d.send("LIST 2"); after != before {
		t.Errorf("LIST 2 was %q, after UIDL %q", before, after)
	}
	for n, want := range []string{"Subject: one\r\n\r\nbody\r\n", "Subject: two\r\n\r\nFrom here\r\n"} {
		if got := d.send(fmt.Sprintf("LIST %d", n+1)); got != fmt.Sprintf("+OK %d %d", n+1, len(want)) {
			t.Errorf("LIST %d = %q, want size %d", n+1, got, len(want))
		}
		d.send(fmt.Sprintf("RETR %d", n+1))
		if got := d.multi(); got != want {
			t.Errorf("RETR %d sent %q, want %q", n+1, got, want)
		}
	}
	d.send("TOP 1 0")
	if got := d.multi(); got != "Subject: one\r\n\r\n" {
		t.Errorf("TOP 1 0 sent %q", got)
	}
}

func TestABigMailboxsUIDLsComeFromItsIndexAndMatchImapds(t *testing.T) {
	old := mbox.SetLazyFrom(0)
	t.Cleanup(func() { mbox.SetLazyFrom(old) })
	path := mailbox(t, threeMbox)
	// imapd numbered the mailbox in its index alone.
	f, _ := os.Open(path)
	idx, err := mbox.UpdateIndex(nil, f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	idx.Number(nil, time.Unix(1800000000, 0))
	if err := idx.Save(mbox.IndexPath(path)); err != nil {
		t.Fatal(err)
	}
	d := openDrop(t, path)
	got, err := d.UIDs()
	d.Close()
	if err != nil || strings.Join(got, " ") != "6b49d20000000001 6b49d20000000002 6b49d20000000003" {
		t.Fatalf("UIDs = %v, %v", got, err)
	}
	if b, _ := os.ReadFile(path); string(b) != threeMbox {
		t.Errorf("UIDL wrote the mailbox:\n%s", b)
	}

	// Without an index yet, ipop3d numbers it the same way, in the index.
	os.Remove(mbox.IndexPath(path))
	d = openDrop(t, path)
	first, _ := d.UIDs()
	d.Close()
	d = openDrop(t, path)
	again, _ := d.UIDs()
	d.Close()
	if len(first) != 3 || first[0][8:] != "00000001" || strings.Join(again, " ") != strings.Join(first, " ") {
		t.Fatalf("UIDs %v then %v", first, again)
	}
	if b, _ := os.ReadFile(path); string(b) != threeMbox {
		t.Errorf("UIDL wrote the mailbox:\n%s", b)
	}
}

func TestABigMailboxsBaseIsRaisedOverTheUIDLsItsIndexGivesBeforeTheyAreShown(t *testing.T) {
	old := mbox.SetLazyFrom(0)
	t.Cleanup(func() { mbox.SetLazyFrom(old) })
	numbered := "From a@example.org  Mon Dec  1 10:00:00 2026\nSubject: one\nX-IMAPbase: 1800000000 0000000001\nX-UID: 1\n\nbody one\n\n"
	path := mailbox(t, numbered+"From b@example.org  Mon Dec  1 10:01:00 2026\nSubject: two\n\nbody two\n")
	d := openDrop(t, path)
	got, err := d.UIDs()
	d.Close()
	if err != nil || strings.Join(got, " ") != "6b49d20000000001 6b49d20000000002" {
		t.Fatalf("UIDs = %v, %v", got, err)
	}
	b, _ := os.ReadFile(path)
	// Message two comes after one whose X-UID the file holds: its own
	// goes in too (mbox.Index.ToWrite), so that a file whose index is
	// lost still says which UID was shown.
	if !strings.Contains(string(b), "X-IMAPbase: 1800000000 0000000002\n") || !strings.Contains(string(b), "X-UID: 2\n") {
		t.Fatalf("the base is not raised over UID 2, or message two lacks its X-UID:\n%s", b)
	}
	// Read again, by this process's index or without it.
	for _, lost := range []bool{false, true} {
		if lost {
			os.Remove(mbox.IndexPath(path))
		}
		d := openDrop(t, path)
		again, err := d.UIDs()
		d.Close()
		if err != nil || strings.Join(again, " ") != strings.Join(got, " ") {
			t.Fatalf("index lost %v: UIDs = %v, %v; want %v", lost, again, err, got)
		}
	}
}

func TestAfterQuitTheSavedIndexIsWhatAScanOfTheRewrittenFileFinds(t *testing.T) {
	old := mbox.SetLazyFrom(0)
	t.Cleanup(func() { mbox.SetLazyFrom(old) })
	path := mailbox(t, threeMbox)
	d := openDrop(t, path)
	before, _ := d.UIDs()
	if err := d.Commit([]bool{false, true, false}, []bool{true, false, false}); err != nil {
		t.Fatal(err)
	}
	saved, err := mbox.LoadIndex(mbox.IndexPath(path))
	if err != nil || saved == nil {
		t.Fatalf("no index saved: %v", err)
	}
	f, _ := os.Open(path)
	scanned, err := mbox.UpdateIndex(nil, f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(saved.Entries) != len(scanned.Entries) {
		t.Fatalf("saved index has %d messages, a scan finds %d", len(saved.Entries), len(scanned.Entries))
	}
	for i := range scanned.Entries {
		s, w := saved.Entries[i], scanned.Entries[i]
		if s.Offset != w.Offset || s.BodyOffset != w.BodyOffset || s.End != w.End || s.Flags != w.Flags || s.ClientSize != w.ClientSize {
			t.Errorf("message %d: saved %+v, scanned %+v", i+1, s, w)
		}
	}
	d = openDrop(t, path)
	after, _ := d.UIDs()
	d.Close()
	if strings.Join(after, " ") != before[0]+" "+before[2] {
		t.Errorf("UIDLs %v after deleting the second of %v", after, before)
	}
}
