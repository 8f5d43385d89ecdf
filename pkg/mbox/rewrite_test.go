package mbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"unixmail/internal/sandbox"
	"unixmail/pkg/mbox"
)

const rewriteInput = "From alice@example.org  Wed Nov 25 17:24:14 2026\n" +
	"From: alice@example.org\nSubject: one\nX-IMAPbase: 1795600000 4\nX-UID: 1\n\nfirst body\n>From a quoted line\n\n" +
	"From bob@example.org  Wed Nov 25 17:25:14 2026\n" +
	"From: bob@example.org\nSubject: two\nStatus: O\nX-UID: 2\n\nsecond body\n\n" +
	"From carol@example.org  Wed Nov 25 17:26:14 2026\n" +
	"From: carol@example.org\nSubject: three\nX-Status: F\nX-Keywords: $Label1\nX-UID: 3\n\nthird body\n\n"

// rewriteFile writes data to a mailbox file and scans it as a reader
// would, returning its path, its size and the message offsets.
func rewriteFile(t *testing.T, data string) (string, int64, []int64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mbox")
	if err := os.WriteFile(path, []byte(data), 0o640); err != nil {
		t.Fatal(err)
	}
	var offs []int64
	for _, m := range mustScan(t, []byte(data)) {
		offs = append(offs, m.Offset)
	}
	return path, int64(len(data)), offs
}

func openRW(t *testing.T, path string) *mbox.Mailbox {
	t.Helper()
	mb, err := mbox.Open(path, mbox.OpenOptions{Owner: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mb.Close() })
	return mb
}

func TestRewriteWritesFlagsTheScannerReadsBack(t *testing.T) {
	path, known, offs := rewriteFile(t, rewriteInput)
	mb := openRW(t, path)
	err := mbox.Rewrite(mb, known, offs, func(i int, m *mbox.Message) (bool, *mbox.State) {
		st := m.State
		st.Flags |= mbox.Seen | mbox.Old
		if i == 1 {
			st.Flags |= mbox.Answered | mbox.Flagged
		}
		return true, &st
	})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	msgs := mustScan(t, data)
	checkLayout(t, data, msgs)
	want := []mbox.Flags{mbox.Seen | mbox.Old, mbox.Seen | mbox.Old | mbox.Answered | mbox.Flagged, mbox.Seen | mbox.Old | mbox.Flagged}
	for i, m := range msgs {
		if m.Flags != want[i] {
			t.Errorf("message %d flags = %b, want %b", i+1, m.Flags, want[i])
		}
		if m.UID != uint32(i+1) {
			t.Errorf("message %d lost its X-UID: %d", i+1, m.UID)
		}
	}
	if len(msgs[2].Keywords) != 1 || msgs[2].Keywords[0] != "$Label1" {
		t.Errorf("keywords of message 3 = %q", msgs[2].Keywords)
	}
	if !strings.Contains(string(data), "first body\n>From a quoted line\n") {
		t.Errorf("body changed:\n%s", data)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode = %v, want 0640", fi.Mode().Perm())
	}
}

func TestRewriteFlagsArePythonsFlags(t *testing.T) {
	py := needPython(t)
	path, known, offs := rewriteFile(t, rewriteInput)
	mb := openRW(t, path)
	err := mbox.Rewrite(mb, known, offs, func(i int, m *mbox.Message) (bool, *mbox.State) {
		st := mbox.State{Flags: mbox.Seen | mbox.Old}
		if i == 2 {
			st.Flags |= mbox.Answered | mbox.Deleted
		}
		return true, &st
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "-c", `import mailbox,sys
for m in mailbox.mbox(sys.argv[1]): print(m.get_flags(), m['Subject'])`, path).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	if got, want := string(out), "RO one\nRO two\nRODA three\n"; got != want {
		t.Errorf("python reads flags\n%s\nwant\n%s", got, want)
	}
}

func needPython(t *testing.T) string {
	p, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 is not installed")
		}
		t.Skip("python3 is not installed")
	}
	return p
}

func TestRewriteDeletingKeepsEveryOtherMessageByteIdentical(t *testing.T) {
	path, known, offs := rewriteFile(t, rewriteInput)
	before := mustScan(t, []byte(rewriteInput))
	mb := openRW(t, path)
	err := mbox.Rewrite(mb, known, offs, func(i int, m *mbox.Message) (bool, *mbox.State) { return i != 1, nil })
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	want := rewriteInput[:before[1].Offset] + rewriteInput[before[2].Offset:]
	if string(data) != want {
		t.Errorf("got\n%q\nwant\n%q", data, want)
	}
}

func TestRewriteMovesTheUIDBaseWhenTheFirstMessageGoes(t *testing.T) {
	path, known, offs := rewriteFile(t, rewriteInput)
	mb := openRW(t, path)
	if err := mbox.Rewrite(mb, known, offs, func(i int, m *mbox.Message) (bool, *mbox.State) { return i != 0, nil }); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	s := mbox.NewScanner(strings.NewReader(string(data)))
	if !s.Next() {
		t.Fatal(s.Err())
	}
	if b := s.Base(); b == nil || b.UIDValidity != 1795600000 || b.LastUID != 4 {
		t.Errorf("base after dropping the first message = %+v\n%s", b, data)
	}
}

func TestRewriteKeepsMailDeliveredMeanwhile(t *testing.T) {
	path, known, offs := rewriteFile(t, rewriteInput)
	// Delivered after the reader scanned, before it quit.
	late, err := mbox.Open(path, mbox.OpenOptions{Owner: -1})
	if err != nil {
		t.Fatal(err)
	}
	err = late.Append(context.Background(), func(w io.Writer) error {
		_, err := mbox.WriteMessage(w, mbox.FromLine("dave@example.org", time.Now()), strings.NewReader("Subject: late\n\nFrom the late one\n"))
		return err
	})
	late.Close()
	if err != nil {
		t.Fatal(err)
	}
	grown, _ := os.ReadFile(path)

	mb := openRW(t, path)
	err = mbox.Rewrite(mb, known, offs, func(i int, m *mbox.Message) (bool, *mbox.State) {
		return i != 0, &mbox.State{Flags: mbox.Seen | mbox.Old}
	})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasSuffix(string(data), string(grown[known:])) {
		t.Errorf("the late message was not kept verbatim:\n%s", data)
	}
	msgs := mustScan(t, data)
	if len(msgs) != 3 || msgs[2].content != "Subject: late\n\nFrom the late one\n" || msgs[2].Flags != 0 {
		t.Errorf("after rewrite: %d messages; last %+v", len(msgs), msgs[len(msgs)-1])
	}
}

func TestRewriteRefusesAMailboxRewrittenByAnother(t *testing.T) {
	cases := map[string]func(path string) error{
		"shrunk": func(path string) error { return os.Truncate(path, 100) },
		"moved": func(path string) error {
			return os.WriteFile(path, []byte(strings.Replace(rewriteInput, "second body", "second body, longer now", 1)), 0o600)
		},
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			path, known, offs := rewriteFile(t, rewriteInput)
			if err := change(path); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(path)
			mb := openRW(t, path)
			err := mbox.Rewrite(mb, known, offs, func(int, *mbox.Message) (bool, *mbox.State) { return false, nil })
			if !errors.Is(err, mbox.ErrChanged) {
				t.Fatalf("err = %v, want ErrChanged", err)
			}
			after, _ := os.ReadFile(path)
			if string(after) != string(before) {
				t.Error("the refused rewrite changed the file")
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".mbox.*")); len(left) != 0 {
				t.Errorf("files left beside the mailbox: %v", left)
			}
		})
	}
}

func TestRewriteRefusesAReadOnlyMailbox(t *testing.T) {
	path, known, offs := rewriteFile(t, rewriteInput)
	mb, err := mbox.Open(path, mbox.OpenOptions{Owner: -1, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	if err := mbox.Rewrite(mb, known, offs, func(int, *mbox.Message) (bool, *mbox.State) { return true, nil }); err == nil {
		t.Fatal("rewrite of a read-only mailbox succeeded")
	}
}

func TestWithStateSetsTheStateFieldsOfACopyPaddedForLaterChanges(t *testing.T) {
	r := mbox.WithState(strings.NewReader("Subject: x\nStatus: O\nX-Status:\n  F\n\nbody\nStatus: in body\n"), mbox.State{Flags: mbox.Seen | mbox.Old | mbox.Answered})
	b, _ := io.ReadAll(r)
	if got, want := string(b), "Subject: x\nStatus: RO\nX-Status: A\nX-Keywords:"+strings.Repeat(" ", 32)+"\n\nbody\nStatus: in body\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestACopyLeavesItsUIDsBehind(t *testing.T) {
	in := "X-IMAPbase: 17 9\nX-UID: 4\nX-IMAP: 1 2\nSubject: s\nStatus: O\n\nbody\nX-UID: 5\n"
	b, err := io.ReadAll(mbox.WithState(strings.NewReader(in), mbox.State{Flags: mbox.Seen, Keywords: []string{"$Work"}}))
	if err != nil {
		t.Fatal(err)
	}
	want := "Subject: s\nStatus: R\nX-Keywords: $Work" + strings.Repeat(" ", 32) + "\n\nbody\nX-UID: 5\n"
	if string(b) != want {
		t.Fatalf("copy is\n%q\nwant\n%q", b, want)
	}
}

// An IMAP server gives new mail UIDs by a rewrite: X-UID on each message,
// X-IMAPbase on the first. Dovecot, reading the same file, must agree.
func TestRewriteGivesUIDsThatDovecotReads(t *testing.T) {
	p := filepath.Join(t.TempDir(), "Mailbox")
	var src bytes.Buffer
	for i, subj := range []string{"one", "two", "three"} {
		mbox.WriteMessage(&src, mbox.FromLine("a@b", time.Date(2026, 1, 1, i, 0, 0, 0, time.UTC)), strings.NewReader("Subject: "+subj+"\n\nbody "+subj+"\n"))
	}
	os.WriteFile(p, src.Bytes(), 0o600)
	mb, err := mbox.Open(p, mbox.OpenOptions{Owner: -1})
	if err != nil {
		t.Fatal(err)
	}
	base := &mbox.Base{UIDValidity: 1795600000, LastUID: 12}
	err = mbox.RewriteWith(mb, int64(src.Len()), nil, func(i int, m *mbox.Message) mbox.Change {
		c := mbox.Change{UID: uint32(10 + i)}
		if i == 0 {
			c.Base = base
		}
		return c
	})
	mb.Close()
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(p)
	defer f.Close()
	s := mbox.NewScanner(f)
	var uids []uint32
	for s.Next() {
		uids = append(uids, s.Message().UID)
	}
	if !reflect.DeepEqual(uids, []uint32{10, 11, 12}) || !reflect.DeepEqual(s.Base(), base) {
		t.Fatalf("read back UIDs %v, base %+v", uids, s.Base())
	}
	data, _ := os.ReadFile(p)
	transcript, _ := sandbox.DovecotIMAP(t, data, "a EXAMINE INBOX", "b UID FETCH 1:* (FLAGS)", "c LOGOUT")
	for _, want := range []string{"[UIDVALIDITY 1795600000]", "[UIDNEXT 13]", "* 1 FETCH (UID 10", "* 3 FETCH (UID 12"} {
		if !strings.Contains(transcript, want) {
			t.Errorf("Dovecot does not say %q:\n%s", want, transcript)
		}
	}
}

// SPEC: when a mailbox becomes empty its UIDVALIDITY and last UID must
// survive; UW keeps them in a pseudo-message, which Dovecot honours.
func TestEmptyingAMailboxKeepsItsUIDStateInAPseudoMessage(t *testing.T) {
	p := filepath.Join(t.TempDir(), "Mailbox")
	content := "From a@b Wed Nov 25 17:24:14 2026\nX-IMAPbase: 1795600000 0000000007 $Work\nX-UID: 7\nSubject: last\n\nbye\n\n"
	os.WriteFile(p, []byte(content), 0o600)
	mb, err := mbox.Open(p, mbox.OpenOptions{Owner: -1})
	if err != nil {
		t.Fatal(err)
	}
	err = mbox.Rewrite(mb, int64(len(content)), nil, func(int, *mbox.Message) (bool, *mbox.State) { return false, nil })
	mb.Close()
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(p)
	s := mbox.NewScanner(bytes.NewReader(data))
	n := 0
	for s.Next() {
		if !s.Message().Pseudo {
			n++
		}
	}
	if n != 0 || s.Base() == nil || s.Base().UIDValidity != 1795600000 || s.Base().UIDNext() != 8 {
		t.Fatalf("%d messages, base %+v:\n%s", n, s.Base(), data)
	}
	transcript, _ := sandbox.DovecotIMAP(t, data, "a EXAMINE INBOX", "b LOGOUT")
	for _, want := range []string{"* 0 EXISTS", "[UIDVALIDITY 1795600000]", "[UIDNEXT 8]"} {
		if !strings.Contains(transcript, want) {
			t.Errorf("Dovecot does not say %q:\n%s", want, transcript)
		}
	}
}

// dovecot-lda, procmail and mutt append to a file whose last message does
// not end in a blank line by writing the missing newline first, so the
// new mail begins one byte after what a reader saw.
func TestRewriteKeepsMailAppendedAfterANewlineThatEndedTheLastMessage(t *testing.T) {
	const first = "From alice@example.org Thu Nov 26 10:00:00 2026\nSubject: first\n\nno blank line after me\n"
	const late = "From dave@example.org Thu Nov 26 10:05:00 2026\nSubject: late\n\nlate body\n\n"
	keepSeen := func(int, *mbox.Message) mbox.Change {
		return mbox.Change{State: &mbox.State{Flags: mbox.Seen | mbox.Old}}
	}
	drop := func(int, *mbox.Message) mbox.Change { return mbox.Change{Drop: true} }
	cases := []struct {
		name     string
		some     bool
		plan     func(int, *mbox.Message) mbox.Change
		subjects []string
	}{
		{"kept and marked read", false, keepSeen, []string{"first", "late"}},
		{"dropped", false, drop, []string{"late"}},
		{"dropped by RewriteSome", true, drop, []string{"late"}},
		{"kept by RewriteSome", true, keepSeen, []string{"first", "late"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path, known, offs := rewriteFile(t, first)
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("\n" + late)
			f.Close()
			mb := openRW(t, path)
			if c.some {
				err = mbox.RewriteSome(mb, known, offs, map[int]mbox.Change{0: c.plan(0, nil)})
			} else {
				err = mbox.RewriteWith(mb, known, offs, c.plan)
			}
			if err != nil {
				t.Fatal(err)
			}
			data, _ := os.ReadFile(path)
			if !strings.HasPrefix(string(data), "From ") || !strings.HasSuffix(string(data), "\n\n"+late) && !strings.HasPrefix(string(data), late) {
				t.Errorf("the late message is not kept whole after one blank line:\n%q", data)
			}
			if got := sandbox.SubjectsByGoMbox(t, path); strings.Join(got, ",") != strings.Join(c.subjects, ",") {
				t.Errorf("go-mbox reads %q, want %q:\n%s", got, c.subjects, data)
			}
			if c.subjects[0] == "first" && !strings.Contains(string(data), "no blank line after me\n\nFrom dave") {
				t.Errorf("the first body changed:\n%q", data)
			}
		})
	}
}

// Dovecot tells a changed mbox by its size and its mtime in whole
// seconds: a file cut back to a length it had within the second of
// Dovecot's last look (mail appended, then expunged) must not look
// unchanged to it.
func TestARewriteThatShortensAMailboxLeavesTheSecondOfTheChangeBefore(t *testing.T) {
	path, size, offs := rewriteFile(t, rewriteInput)
	var before os.FileInfo
	for {
		// Written now, well inside a second: the rewrite comes within it.
		if err := os.WriteFile(path, []byte(rewriteInput), 0o640); err != nil {
			t.Fatal(err)
		}
		before, _ = os.Stat(path)
		if before.ModTime().Nanosecond() < 500_000_000 {
			break
		}
		time.Sleep(time.Duration(1_000_000_000-before.ModTime().Nanosecond()) * time.Nanosecond)
	}
	mb, err := mbox.Open(path, mbox.OpenOptions{Owner: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	err = mbox.Rewrite(mb, size, offs, func(i int, m *mbox.Message) (bool, *mbox.State) { return i < 2, nil })
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(path)
	if after.Size() != offs[2] || after.ModTime().Unix() <= before.ModTime().Unix() {
		t.Fatalf("size %d (want %d), mtime %v after %v: in the same second", after.Size(), offs[2], after.ModTime(), before.ModTime())
	}
}

func TestRewriteSomeChecksEveryCutOfManyDropsAndNamesTheFirstMessageNotWhereItWas(t *testing.T) {
	var b strings.Builder
	for i := range 1200 {
		fmt.Fprintf(&b, "From a@example.org  Wed Nov 25 17:24:14 2026\nSubject: m%d\n\nbody %d\n\n", i, i)
	}
	in := b.String()
	drop := map[int]mbox.Change{}
	for i := 1; i < 1200; i += 3 {
		drop[i] = mbox.Change{Drop: true} // 400 runs of one: 800 cuts
	}
	tests := []struct {
		name string
		off  []int // messages whose offset the caller has one byte off
		want string
	}{
		{"with every message where it was, the 400 go", nil, ""},
		{"a run's first message off names it", []int{4}, "message 5 is"},
		{"the message after a run off names it", []int{1199}, "message 1200 is"},
		{"of two off, the first in the file is named", []int{1195, 8}, "message 9 is"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, known, offs := rewriteFile(t, in)
			for _, i := range tt.off {
				offs[i]++
			}
			err := mbox.RewriteSome(openRW(t, path), known, offs, drop)
			got, _ := os.ReadFile(path)
			if tt.want != "" {
				if !errors.Is(err, mbox.ErrChanged) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want ErrChanged naming %q", err, tt.want)
				}
				if string(got) != in {
					t.Error("the refused rewrite changed the file")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			msgs := mustScan(t, got)
			if len(msgs) != 800 {
				t.Fatalf("%d messages left, want 800", len(msgs))
			}
			for k, m := range msgs {
				if i := k/2*3 + k%2*2; !strings.HasPrefix(m.content, fmt.Sprintf("Subject: m%d\n", i)) {
					t.Fatalf("message %d left is %q, want m%d", k+1, m.content, i)
				}
			}
		})
	}
}
