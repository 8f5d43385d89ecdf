package mbox_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"unixmail/internal/sandbox"
	"unixmail/pkg/lock"
	"unixmail/pkg/mbox"
)

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func TestEveryKindOfRewriteKeepsTheInodeAndLeavesNoJournal(t *testing.T) {
	seen := func(m *mbox.Message) mbox.Change {
		st := m.State
		st.Flags |= mbox.Seen | mbox.Old
		return mbox.Change{State: &st}
	}
	tests := []struct {
		name string
		plan mbox.RewritePlan
		want []string
	}{
		{"drop the last", func(i int, m *mbox.Message) mbox.Change { return mbox.Change{Drop: i == 2} }, []string{"one", "two"}},
		{"drop the first", func(i int, m *mbox.Message) mbox.Change { return mbox.Change{Drop: i == 0} }, []string{"two", "three"}},
		{"drop the middle", func(i int, m *mbox.Message) mbox.Change { return mbox.Change{Drop: i == 1} }, []string{"one", "three"}},
		{"drop them all", func(i int, m *mbox.Message) mbox.Change { return mbox.Change{Drop: true} }, []string{"DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA"}},
		{"flags on one", func(i int, m *mbox.Message) mbox.Change {
			if i == 1 {
				return seen(m)
			}
			return mbox.Change{}
		}, []string{"one", "two", "three"}},
		{"flags on all", func(i int, m *mbox.Message) mbox.Change { return seen(m) }, []string{"one", "two", "three"}},
		{"new content", func(i int, m *mbox.Message) mbox.Change {
			if i == 0 {
				return mbox.Change{Content: strings.NewReader("Subject: edited\n\nshorter\n")}
			}
			return mbox.Change{}
		}, []string{"edited", "two", "three"}},
		{"nothing", func(i int, m *mbox.Message) mbox.Change { return mbox.Change{} }, []string{"one", "two", "three"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, known, offs := rewriteFile(t, rewriteInput)
			before := inode(t, path)
			mb := openRW(t, path)
			if err := mbox.RewriteWith(mb, known, offs, tt.plan); err != nil {
				t.Fatal(err)
			}
			mb.Close()
			if got := inode(t, path); got != before {
				t.Errorf("inode %d became %d", before, got)
			}
			if _, err := os.Lstat(mbox.JournalPath(path)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("journal left behind: %v", err)
			}
			got := sandbox.SubjectsByGoMbox(t, path)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("go-mbox reads subjects %q, want %q", got, tt.want)
			}
			data, _ := os.ReadFile(path)
			checkLayout(t, data, mustScan(t, data))
		})
	}
}

func TestRewriteOfTheLastMessageLeavesEveryEarlierByteAlone(t *testing.T) {
	path, known, offs := rewriteFile(t, rewriteInput)
	mb := openRW(t, path)
	if err := mbox.Rewrite(mb, known, offs, func(i int, m *mbox.Message) (bool, *mbox.State) { return i != 2, nil }); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if string(data) != rewriteInput[:offs[2]] {
		t.Errorf("mailbox is\n%q\nwant\n%q", data, rewriteInput[:offs[2]])
	}
}

// dovecotOrderScript holds the fcntl lock, then, when told, takes the
// dot-lock too, waiting for it, the way Debian's Dovecot and mutt do
// (fcntl first); then lets go of both.
const dovecotOrderScript = `
import fcntl, os, sys, time
f = open(sys.argv[1], "r+")
fcntl.lockf(f, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.readline()
while True:
    try:
        fd = os.open(sys.argv[1] + ".lock", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        break
    except FileExistsError:
        time.sleep(0.001)
os.write(fd, b"%d\n" % os.getpid())
os.close(fd)
os.unlink(sys.argv[1] + ".lock")
print("done", flush=True)
`

func TestOpenNeverHoldsTheDotLockWhileWaitingForFcntl(t *testing.T) {
	path, _, _ := rewriteFile(t, rewriteInput)
	py := exec.Command(sandbox.NeedPeer(t, "python3"), "-c", dovecotOrderScript, path)
	stdin, _ := py.StdinPipe()
	stdout, _ := py.StdoutPipe()
	py.Stderr = os.Stderr
	if err := py.Start(); err != nil {
		t.Fatal(err)
	}
	defer py.Process.Kill()
	out := bufio.NewReader(stdout)
	if line, _ := out.ReadString('\n'); line != "locked\n" {
		t.Fatalf("python3: %q", line)
	}
	opened := make(chan error, 1)
	go func() {
		mb, err := mbox.Open(path, mbox.OpenOptions{Owner: -1, Lock: lock.Options{Timeout: time.Minute}})
		if err == nil {
			mb.Close()
		}
		opened <- err
	}()
	time.Sleep(50 * time.Millisecond) // Open is now taking and dropping the dot-lock
	io.WriteString(stdin, "go\n")
	if line, _ := out.ReadString('\n'); line != "done\n" {
		t.Fatalf("python3 never got the dot-lock: %q", line)
	}
	if err := <-opened; err != nil {
		t.Fatalf("Open after the other let go: %v", err)
	}
}

func TestOpenGivesUpNamingTheMailboxAndTheHolder(t *testing.T) {
	path, _, _ := rewriteFile(t, rewriteInput)
	holder := exec.Command("sleep", "60")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Process.Kill()
	host, _ := os.Hostname()
	os.WriteFile(lock.Path(path), []byte(strconv.Itoa(holder.Process.Pid)+"\nhost "+host+"\n"), 0o600)
	for _, ro := range []bool{false, true} {
		_, err := mbox.Open(path, mbox.OpenOptions{Owner: -1, ReadOnly: ro, Lock: lock.Options{Timeout: 100 * time.Millisecond}})
		if !errors.Is(err, lock.ErrTimeout) {
			t.Fatalf("read-only %v: Open = %v, want a timeout", ro, err)
		}
		for _, want := range []string{path, "pid " + strconv.Itoa(holder.Process.Pid)} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("read-only %v: %q does not say %q", ro, err, want)
			}
		}
	}
}

func TestRewriteSomeWritesWhatRewriteWithWrites(t *testing.T) {
	seen := func(m *mbox.Message) mbox.Change {
		st := m.State
		st.Flags |= mbox.Seen
		return mbox.Change{State: &st}
	}
	tests := []struct {
		name    string
		changes map[int]bool // message -> dropped (else marked seen)
	}{
		{"drop the last", map[int]bool{2: true}},
		{"drop the first", map[int]bool{0: true}},
		{"drop the first and flag the last", map[int]bool{0: true, 2: false}},
		{"drop the middle", map[int]bool{1: true}},
		{"drop them all", map[int]bool{0: true, 1: true, 2: true}},
		{"flag one", map[int]bool{1: false}},
		{"nothing", map[int]bool{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := func(i int, m *mbox.Message) mbox.Change {
				drop, ok := tt.changes[i]
				switch {
				case !ok:
					return mbox.Change{}
				case drop:
					return mbox.Change{Drop: true}
				}
				return seen(m)
			}
			path, known, offs := rewriteFile(t, rewriteInput)
			mb := openRW(t, path)
			if err := mbox.RewriteWith(mb, known, offs, plan); err != nil {
				t.Fatal(err)
			}
			mb.Close()
			want, _ := os.ReadFile(path)

			path, known, offs = rewriteFile(t, rewriteInput)
			before := inode(t, path)
			mb = openRW(t, path)
			changes := map[int]mbox.Change{}
			for i := range tt.changes {
				s := mbox.NewScanner(strings.NewReader(rewriteInput))
				for j := 0; s.Next(); j++ {
					if j == i {
						changes[i] = plan(i, s.Message())
					}
				}
			}
			if err := mbox.RewriteSome(mb, known, offs, changes); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(path)
			// The same mail and states; RewriteSome may pad more (see
			// TestRewriteSomePadsEveryMessageAfterAnInsertion).
			if g, w := mailOf(t, got), mailOf(t, want); g != w {
				t.Errorf("RewriteSome wrote\n%s\nRewriteWith\n%s", got, want)
			}
			if inode(t, path) != before {
				t.Error("the inode changed")
			}
		})
	}
}

// mailOf is what a reader makes of a mailbox: each message's From_ line,
// state, fields other than the state fields (in order) and body; not
// where the state fields lie in the header, nor their padding, nor when
// UW's pseudo-message was written.
func mailOf(t *testing.T, data []byte) string {
	t.Helper()
	when := regexp.MustCompile(`(?m)^(From MAILER-DAEMON .*|Date: .*)$`)
	var b strings.Builder
	for _, m := range mustScan(t, data) {
		from := data[m.Offset:m.HeaderOffset]
		fmt.Fprintf(&b, "%s%v %q %d\n", when.ReplaceAll(from, nil), m.Flags, m.Keywords, m.UID)
		for _, line := range strings.SplitAfter(string(data[m.HeaderOffset:m.BodyOffset]), "\n") {
			if name, _, _ := strings.Cut(line, ":"); !mbox.IsStateHeader(name) || name == "X-UID" || name == "X-IMAPbase" || name == "X-IMAP" {
				b.WriteString(when.ReplaceAllString(line, ""))
			}
		}
		b.Write(data[m.BodyOffset:m.Next])
	}
	return b.String()
}

func TestRewriteSomePadsEveryMessageAfterAnInsertion(t *testing.T) {
	path, known, offs := rewriteFile(t, rewriteInput)
	mb := openRW(t, path)
	seen := mbox.State{Flags: mbox.Seen | mbox.Old, UID: 2}
	if err := mbox.RewriteSome(mb, known, offs, map[int]mbox.Change{1: {State: &seen}}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	msgs := mustScan(t, got)
	if want := mailOf(t, []byte(rewriteInput)); mailOf(t, got) == want {
		t.Fatalf("nothing changed:\n%s", got)
	}
	// The first message, before the insertion, is left as it was;
	// the third, after it, takes every flag in place from now on.
	if !strings.HasPrefix(string(got), rewriteInput[:offs[1]]) {
		t.Errorf("the first message changed:\n%s", got)
	}
	idx, err := mbox.UpdateIndex(nil, mb.File)
	if err != nil {
		t.Fatal(err)
	}
	all := mbox.State{Flags: mbox.Seen | mbox.Old | mbox.Answered | mbox.Flagged | mbox.Draft | mbox.Deleted, Keywords: msgs[2].Keywords}
	_, ok, err := mbox.WriteStates(mb, idx, []mbox.NumberedState{{I: 1, State: all}, {I: 2, State: all}}, true)
	if err != nil || !ok {
		t.Fatalf("WriteStates after the padding rewrite = %v, %v; want it in place\n%s", ok, err, got)
	}
	after, _ := os.ReadFile(path)
	if len(after) != len(got) {
		t.Errorf("the file went from %d to %d bytes", len(got), len(after))
	}
	for i, m := range mustScan(t, after)[1:] {
		if m.Flags != all.Flags {
			t.Errorf("message %d: flags %v, want %v", i+2, m.Flags, all.Flags)
		}
	}
}

func TestRewriteSomeRefusesMessagesThatMoved(t *testing.T) {
	path, known, offs := rewriteFile(t, rewriteInput)
	mb := openRW(t, path)
	offs[1] += 3
	err := mbox.RewriteSome(mb, known, offs, map[int]mbox.Change{1: {Drop: true}})
	if !errors.Is(err, mbox.ErrChanged) {
		t.Fatalf("err = %v, want ErrChanged", err)
	}
	if got, _ := os.ReadFile(path); string(got) != rewriteInput {
		t.Error("the refused rewrite changed the file")
	}
}

// A flag change where the state fields have room (the padding a first
// change leaves) moves no byte: the length stays, and only the bytes of
// the state fields differ.
func TestASecondFlagChangeOverwritesOnlyTheStateFields(t *testing.T) {
	path, known, offs := rewriteFile(t, rewriteInput)
	set := func(f mbox.Flags, kw ...string) {
		t.Helper()
		mb := openRW(t, path)
		data, _ := os.ReadFile(path)
		msgs := mustScan(t, data)
		offs = offs[:0]
		for _, m := range msgs {
			offs = append(offs, m.Offset)
		}
		st := msgs[1].State
		st.Flags, st.Keywords = f, kw
		if err := mbox.RewriteSome(mb, int64(len(data)), offs, map[int]mbox.Change{1: {State: &st}}); err != nil {
			t.Fatal(err)
		}
		mb.Close()
	}
	set(mbox.Seen | mbox.Old)
	first, _ := os.ReadFile(path)
	if len(first) <= int(known) {
		t.Fatalf("the first change reserved no room: %d bytes, was %d", len(first), known)
	}
	for _, c := range []struct {
		flags mbox.Flags
		kw    []string
	}{{mbox.Old, nil}, {mbox.Seen | mbox.Old | mbox.Answered | mbox.Flagged | mbox.Deleted | mbox.Draft, nil}, {mbox.Seen, []string{"$Label1", "work"}}, {0, nil}} {
		before, _ := os.ReadFile(path)
		set(c.flags, c.kw...)
		after, _ := os.ReadFile(path)
		if len(after) != len(before) {
			t.Fatalf("flags %b %q: the length went from %d to %d", c.flags, c.kw, len(before), len(after))
		}
		hdr := mustScan(t, after)[1]
		for i := range after {
			if after[i] != before[i] && (int64(i) < hdr.HeaderOffset || int64(i) >= hdr.BodyOffset) {
				t.Fatalf("flags %b: byte %d outside message 2's header changed", c.flags, i)
			}
		}
		if hdr.Flags != c.flags || strings.Join(hdr.Keywords, " ") != strings.Join(c.kw, " ") {
			t.Errorf("read back flags %b %q, want %b %q", hdr.Flags, hdr.Keywords, c.flags, c.kw)
		}
	}
}

// readBytes is what this process has read so far (rchar of /proc/self/io).
func readBytes(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skip("no /proc/self/io")
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	t.Skip("no rchar in /proc/self/io")
	return 0
}

func TestRewriteSomeReadsNothingOfTheMessagesItDrops(t *testing.T) {
	big := strings.Repeat("a line of a big message, never read when it goes\n", 160000) // 8 MB
	msg := func(subject, body string) string {
		return "From a@example.org  Wed Nov 25 17:24:14 2026\nSubject: " + subject + "\n\n" + body + "\n"
	}
	data := msg("one", big) + msg("two", "small\n") + msg("three", big) + msg("four", big)
	tests := []struct {
		name string
		drop []int
		want []string
	}{
		{"all of them", []int{0, 1, 2, 3}, nil},
		{"the last two", []int{2, 3}, []string{"one", "two"}},
		{"the big ones", []int{0, 2, 3}, []string{"two"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, known, offs := rewriteFile(t, data)
			mb := openRW(t, path)
			changes := map[int]mbox.Change{}
			for _, i := range tt.drop {
				changes[i] = mbox.Change{Drop: true}
			}
			before := readBytes(t)
			if err := mbox.RewriteSome(mb, known, offs, changes); err != nil {
				t.Fatal(err)
			}
			if read := readBytes(t) - before; read > 256<<10 {
				t.Errorf("read %d bytes to drop messages of 8 MB", read)
			}
			if got := sandbox.SubjectsByGoMbox(t, path); strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("left %q, want %q", got, tt.want)
			}
		})
	}
}
