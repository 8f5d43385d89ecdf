package imapstore

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// literal is an APPEND's message as the library hands it over.
type literal struct{ *strings.Reader }

func (l literal) Size() int64 { return l.Reader.Size() }

func groupSession(t *testing.T, u *testUser) *Session {
	t.Helper()
	s := NewPreauthSession(u.store())
	s.GroupCommit = true
	t.Cleanup(func() { s.Close() })
	return s
}

func appendOne(t *testing.T, s *Session, subject string) *imap.AppendData {
	t.Helper()
	m := msg(subject, "body\n")
	data, err := s.Append("INBOX", literal{strings.NewReader(m)}, &imap.AppendOptions{})
	if err != nil {
		t.Fatalf("APPEND %s: %v", subject, err)
	}
	return data
}

// lockedByAnother reports whether a process of its own cannot take the
// fcntl lock of path (python's lockf, as mutt and Dovecot lock).
func lockedByAnother(t *testing.T, path string) bool {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	err = exec.Command(py, "-c", "import fcntl, sys; fcntl.lockf(open(sys.argv[1], 'r+'), fcntl.LOCK_EX | fcntl.LOCK_NB)", path).Run()
	return err != nil
}

func TestGroupCommittedAPPENDsKeepTheirFolderLockedUntilCommitWhichSyncsThem(t *testing.T) {
	u := newUser(t)
	u.deliver(u.inbox, msg("delivered", "1\n"))
	s := groupSession(t, u)
	if _, err := s.Select("INBOX", &imap.SelectOptions{}); err != nil {
		t.Fatal(err)
	}
	first := appendOne(t, s, "first")
	// What the library does after each APPEND: a look at the selected
	// folder, which must see it through the folder held, not lock it
	// again (it would find it busy, by ourselves).
	if err := s.refresh(); err != nil {
		t.Fatal(err)
	}
	second := appendOne(t, s, "second")
	if err := s.refresh(); err != nil {
		t.Fatal(err)
	}
	if !s.Unsynced() || !lockedByAnother(t, u.inbox) {
		t.Fatalf("after two APPENDs: unsynced %v, locked %v; want the folder held until the commit", s.Unsynced(), lockedByAnother(t, u.inbox))
	}
	if second.UID != first.UID+1 || len(s.sel.snap.entries) != 3 {
		t.Fatalf("UIDs %d then %d, %d messages seen", first.UID, second.UID, len(s.sel.snap.entries))
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if s.Unsynced() || lockedByAnother(t, u.inbox) {
		t.Fatal("the folder is still held after the commit")
	}
	got, _ := uidsBySubject(t, u)
	if got["first"] != uint32(first.UID) || got["second"] != uint32(second.UID) {
		t.Fatalf("stored %v; APPENDUIDs %d, %d", got, first.UID, second.UID)
	}
}

func TestAFailedCommitKeepsFailingSoNoReplySaysItsAPPENDsWereDone(t *testing.T) {
	u := newUser(t)
	s := groupSession(t, u)
	appendOne(t, s, "first")
	s.st.held.mb.File.Close() // the sync fails, as on a disk error
	for range 2 {
		if err := s.Commit(); err == nil || !s.Unsynced() {
			t.Fatalf("commit gave %v, unsynced %v; want the failure, kept", err, s.Unsynced())
		}
	}
	if err := s.Close(); err == nil {
		t.Fatal("the session closed as if its APPENDs were done")
	}
}

func TestAnAPPENDToAnotherFolderCommitsTheOneHeldFirst(t *testing.T) {
	u := newUser(t)
	s := groupSession(t, u)
	if err := s.st.Create("Sent"); err != nil {
		t.Fatal(err)
	}
	appendOne(t, s, "to inbox")
	m := msg("to sent", "body\n")
	if _, err := s.Append("Sent", literal{strings.NewReader(m)}, &imap.AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	if lockedByAnother(t, u.inbox) || !lockedByAnother(t, s.st.held.mb.Path) {
		t.Fatal("INBOX still held, or Sent not, after an APPEND to Sent")
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(u.file(u.inbox), "to inbox") || !strings.Contains(u.file(s.st.opts.FolderDir+"/Sent"), "to sent") {
		t.Fatal("a message is missing")
	}
}

// imapd's connection filter asks Unsynced from its flush timer, which may
// fire (the greeting held a moment) while the library's goroutine logs
// the session in: run with -race, this failed.
func TestUnsyncedMayBeAskedFromAnotherGoroutineWhileTheSessionLogsIn(t *testing.T) {
	u := newUser(t)
	s := NewSession(func(string, string, string) (*Store, error) { return u.store(), nil })
	t.Cleanup(func() { s.Close() })
	asked := make(chan struct{})
	go func() {
		defer close(asked)
		for range 1000 {
			if s.Unsynced() {
				t.Error("a session that wrote nothing is unsynced")
				return
			}
		}
	}()
	if err := s.Login("u", "p"); err != nil {
		t.Fatal(err)
	}
	<-asked
}

// In a small folder, whose base is in the file, the APPENDs of one hold
// raise it ahead of their need (a few raises, each synced, not one an
// APPEND): their UIDs follow each other, the base the file is left with
// covers them, UIDNEXT is above them all, and mail added after the hold
// (by deliver here) is numbered above the base, never in the gap. A hold
// of one APPEND leaves no gap.
func TestAHeldRunOfAPPENDsRaisesTheBaseAheadAndMailAfterItIsNumberedAboveIt(t *testing.T) {
	u := newUser(t)
	u.deliver(u.inbox, msg("delivered", "1\n"))
	s := groupSession(t, u)
	alone := appendOne(t, s, "alone")
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	var uids []uint32
	for i := range 10 {
		uids = append(uids, uint32(appendOne(t, s, fmt.Sprintf("run %d", i)).UID))
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if uids[0] != uint32(alone.UID)+1 {
		t.Errorf("a hold of one APPEND left a gap: UID %d, then %d", alone.UID, uids[0])
	}
	for i := 1; i < len(uids); i++ {
		if uids[i] != uids[i-1]+1 {
			t.Errorf("UIDs of the run: %v", uids)
			break
		}
	}
	m := regexp.MustCompile(`X-IMAPbase: \d+ 0*(\d+)`).FindStringSubmatch(u.file(u.inbox))
	if m == nil {
		t.Fatalf("no base in the file:\n%s", u.file(u.inbox))
	}
	base, _ := strconv.ParseUint(m[1], 10, 32)
	last := uids[len(uids)-1]
	if uint32(base) < last || uint32(base) >= last+maxReserve {
		t.Errorf("the file's base is %d for UIDs up to %d", base, last)
	}
	w := dial(t, u.store())
	sel := w.ok("SELECT INBOX")
	if n := regexp.MustCompile(`UIDNEXT (\d+)`).FindStringSubmatch(sel); n == nil || n[1] != fmt.Sprint(base+1) {
		t.Errorf("UIDNEXT: %s, want %d", sel, base+1)
	}
	u.deliver(u.inbox, msg("after", "2\n"))
	got, _ := uidsBySubject(t, u)
	if got["after"] != uint32(base)+1 {
		t.Errorf("mail after the run numbered %d, want %d (above the base)", got["after"], base+1)
	}
	for i, uid := range uids {
		if got[fmt.Sprintf("run %d", i)] != uid {
			t.Errorf("run %d stored as %d, APPENDUID %d", i, got[fmt.Sprintf("run %d", i)], uid)
		}
	}
}
