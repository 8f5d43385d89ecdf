package mbox

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestRoomIsFoundOnlyWhereRewriteHeaderWouldWriteTheStateFields(t *testing.T) {
	for _, tc := range []struct {
		name, hdr string
		want      Room
	}{
		{"padded by deliver", "Subject: a\n" + Padding() + "\n", Room{Len: uint16(len(Padding())), Blank: 1}},
		{"every field, CRLF", "Subject: a\r\nStatus: RO\r\nX-Status: F\r\nX-Keywords: $Work   \r\n\r\n", Room{Len: 47, Blank: 2, CRLF: true}},
		{"a folded keyword field", "Subject: a\nX-Keywords: a\n  b\n\n", Room{Len: 18, Blank: 1}},
		{"after the UID, as Dovecot writes", "Subject: a\nX-UID: 4\nStatus: O\nX-Keywords:   \n\n", Room{Len: 25, Blank: 1}},
		{"CRLF in the header, LF blank line", "Subject: a\r\nStatus: O\n\n", Room{Len: 10, Blank: 1, CRLF: true}},
		{"lower-case names", "subject: a\nstatus: O\nx-keywords: \n\n", Room{Len: 23, Blank: 1}},
		{"a field after them", "Subject: a\nStatus: O\nX-UID: 4\n\n", Room{}},
		{"one before another field", "Status: O\nSubject: a\nX-Keywords: \n\n", Room{}},
		{"none", "Subject: a\n\n", Room{}},
		{"no blank line", "Subject: a\nStatus: O\n", Room{}},
		{"a space before the colon", "Subject: a\nStatus : O\n\n", Room{}},
		{"a line of CRs rewriteHeader stops at", "Subject: a\n\r\r\nStatus: O\n\n", Room{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := roomOf([]byte(tc.hdr)); got != tc.want {
				t.Fatalf("roomOf(%q) = %+v, want %+v", tc.hdr, got, tc.want)
			}
		})
	}
}

// FuzzRoomIsWhereRewriteHeaderWrites checks the promise the unread
// write of a flag change rests on: where roomOf finds room, the fields
// written there, padded to it, give the header rewriteHeader gives.
func FuzzRoomIsWhereRewriteHeaderWrites(f *testing.F) {
	f.Add([]byte("Subject: a\n"+Padding()+"\n"), byte(Seen|Old), "$Work")
	f.Add([]byte("Subject: a\r\nStatus: RO\r\nX-Status: F\r\nX-Keywords: $Work   \r\n\r\n"), byte(Deleted), "")
	f.Add([]byte("Subject: a\nX-Keywords: a\n  b\n\n"), byte(0), "b")
	f.Fuzz(func(t *testing.T, hdr []byte, flags byte, keyword string) {
		r := roomOf(hdr)
		if r.Len == 0 {
			return
		}
		st := State{Flags: Flags(flags) & (Seen | Old | Answered | Flagged | Draft | Deleted)}
		if keyword = strings.TrimSpace(keyword); keyword != "" && !strings.ContainsAny(keyword, " \t\r\n") {
			st.Keywords = []string{keyword}
		}
		want := rewriteHeader(hdr, headerEdit{state: &st})
		at := len(hdr) - int(r.Blank) - int(r.Len)
		fields := appendStateFields(nil, st, r.eol(), int(r.Len))
		if len(fields) != int(r.Len) {
			if len(want) == len(hdr) {
				t.Fatalf("the fields do not fit the room %+v, yet rewriteHeader keeps the length:\n%q", r, hdr)
			}
			return
		}
		got := append(append(append([]byte(nil), hdr[:at]...), fields...), hdr[len(hdr)-int(r.Blank):]...)
		if !bytes.Equal(got, want) {
			t.Fatalf("room %+v of %q:\nwritten %q\nrewriteHeader %q", r, hdr, got, want)
		}
		if again := roomOf(got); again != r {
			t.Fatalf("after the write the room is %+v, not %+v", again, r)
		}
	})
}

// withoutRooms is idx as an index that never knew a room: every flag
// change reads its header.
func withoutRooms(idx *Index) *Index {
	c := *idx
	c.Entries = append([]Entry(nil), idx.Entries...)
	for i := range c.Entries {
		c.Entries[i].Room = Room{}
	}
	return &c
}

func TestFlagWritesIntoKnownRoomsGiveTheFileReadingEachHeaderGives(t *testing.T) {
	const from = "From a@example.org Mon May  6 07:08:09 2024\n"
	headers := []string{
		"Subject: padded\n" + Padding() + "\n",
		"Subject: crlf\r\nX-UID: 7\r\nStatus: O\r\nX-Keywords:                     \r\n\r\n",
		"Subject: folded\nX-Keywords: $Work\n  $Home                          \n\n",
		"Status: O\nSubject: scattered\nX-Keywords:                                   \n\n",
		"Subject: a field after\nX-Keywords:                                   \nX-UID: 3\n\n",
	}
	var file strings.Builder
	for i, h := range headers {
		file.WriteString(from + h + "body " + strings.Repeat("x", i*5000) + "\n\n")
	}
	var states []NumberedState
	for i := range headers {
		states = append(states, NumberedState{i, State{Flags: Seen | Old | Flagged, Keywords: []string{"$Later"}}})
	}
	write := func(t *testing.T, strip bool) ([]byte, *Index) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "Mailbox")
		if err := os.WriteFile(path, []byte(file.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		aged(t, path)
		mb, idx := openBox(t, path)
		if strip {
			idx = withoutRooms(idx)
		}
		out, ok, err := WriteStates(mb, idx, states, true)
		if err != nil || !ok {
			t.Fatalf("WriteStates: ok %v, err %v", ok, err)
		}
		got, _ := os.ReadFile(path)
		return got, out
	}
	unread, out := write(t, false)
	read, _ := write(t, true)
	if !bytes.Equal(unread, read) {
		t.Fatalf("written into the rooms:\n%s\nwritten after reading each header:\n%s", unread, read)
	}
	// The index written back knows the rooms a scan finds, the moved ones
	// (state fields gathered at the end) included.
	fresh := mustIndex(t, unread)
	for i := range fresh.Entries {
		if got, want := out.Entries[i].Room, fresh.Entries[i].Room; got != want {
			t.Errorf("message %d: the index says room %+v, a scan %+v", i+1, got, want)
		}
	}
	if fresh.Entries[3].Room.Len == 0 {
		t.Errorf("the scattered fields were gathered at the end, yet no room is found there")
	}
}

func TestRoomsLastInTheIndexFile(t *testing.T) {
	path, _ := roomyBox(t, 3, 0)
	idx, err := LoadIndex(IndexPath(path))
	if err != nil || idx == nil {
		t.Fatalf("LoadIndex: %v", err)
	}
	for i, e := range idx.Entries {
		if e.Room != (Room{Len: uint16(len(Padding())), Blank: 1}) {
			t.Errorf("message %d: room %+v after a save and a load", i+1, e.Room)
		}
	}
}

// mustIndex is the index a scan of data gives.
func mustIndex(t *testing.T, data []byte) *Index {
	t.Helper()
	path := filepath.Join(t.TempDir(), "scanned")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	aged(t, path)
	return scannedIndex(t, path)
}

// withNewMail writes file, with a message delivered after it, to path,
// changed a minute ago, and gives what it wrote.
func withNewMail(t *testing.T, path, file string) string {
	t.Helper()
	delivered := file + "From c@example.org Mon May  6 07:09:00 2024\nSubject: new\n\nnew mail\n\n"
	if err := os.WriteFile(path, []byte(delivered), 0o600); err != nil {
		t.Fatal(err)
	}
	aged(t, path)
	return delivered
}

// aged makes the file at path look changed a minute ago: a scan of a
// file changed just now finds no room (changedLately).
func aged(t *testing.T, path string) {
	t.Helper()
	then := time.Now().Add(-time.Minute)
	if err := os.Chtimes(path, then, then); err != nil {
		t.Fatal(err)
	}
}

func TestAScanOfAFileChangedJustNowTrustsNoRoom(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Mailbox")
	data := "From a@b Mon May  6 07:08:09 2024\nSubject: a\n" + Padding() + "\nbody\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	idx := indexOf(t, path)
	if _, ok := idx.roomOfEntry(0); ok {
		t.Fatalf("a room was trusted in a file written this second: %+v", idx.Entries[0].Room)
	}
	aged(t, path)
	if _, ok := indexOf(t, path).roomOfEntry(0); !ok {
		t.Fatal("no room was found in a file last written a minute ago")
	}
}

// Another program (Dovecot) rewrites the header of the first message in
// place, its state fields now first, then mail is delivered: the index
// kept for the file before fits it still (the same first bytes, mail
// appended). The flag change must be written where the fields lie now.
func TestARoomCarriedOverAnotherProgramsAppendIsReadBeforeItIsWritten(t *testing.T) {
	path, before := roomyBox(t, 3, 2000)
	moved := strings.Replace(string(before), "Subject: m0\n"+Padding(), Padding()+"Subject: m0\n", 1)
	if len(moved) != len(before) || moved == string(before) {
		t.Fatal("the test's in-place rewrite is not one")
	}
	delivered := withNewMail(t, path, moved)
	mb, idx := openBox(t, path)
	if _, ok := idx.roomOfEntry(0); ok {
		t.Fatal("the room of a message kept over another program's change is trusted")
	}
	if _, ok, err := WriteStates(mb, idx, []NumberedState{{0, State{Flags: Seen | Old}}}, true); err != nil || !ok {
		t.Fatalf("WriteStates: ok %v, err %v", ok, err)
	}
	got, _ := os.ReadFile(path)
	want := strings.Replace(delivered, Padding()+"Subject: m0\n", "Subject: m0\n"+stateFields(State{Flags: Seen | Old}, "\n", len(Padding())), 1)
	if string(got) != want {
		t.Fatalf("after the flag change:\n%s\nwant:\n%s", got, want)
	}
}

func TestTheGenerationOfRoomsLastsInTheIndexFileAndComesRoundWithoutTrustingOldOnes(t *testing.T) {
	path, _ := roomyBox(t, 3, 0)
	idx := indexOf(t, path)
	idx.distrustRooms()
	if err := idx.Save(IndexPath(path)); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadIndex(IndexPath(path))
	if err != nil || loaded == nil || loaded.roomGen != 1 {
		t.Fatalf("loaded %v, err %v; want generation 1", loaded != nil, err)
	}
	if _, ok := loaded.roomOfEntry(0); ok {
		t.Fatal("a room of the generation before is trusted after a save and a load")
	}
	for range roomGens - 1 {
		loaded.distrustRooms()
	}
	if loaded.roomGen != 0 || loaded.Entries[0].Room.Len != 0 {
		t.Fatalf("generation %d, room %+v: the generations came round with the old rooms kept", loaded.roomGen, loaded.Entries[0].Room)
	}
}

func TestSettleStampsAnMtimeNoLaterWriteKeeps(t *testing.T) {
	path, _ := roomyBox(t, 1, 0)
	mb, _ := openBox(t, path)
	ahead := time.Now().Add(time.Hour).Truncate(time.Second)
	if err := os.Chtimes(path, ahead, ahead); err != nil {
		t.Fatal(err)
	}
	if !mb.settle() {
		t.Fatal("settle could not stamp the file")
	}
	var st unix.Stat_t
	unix.Stat(path, &st)
	if st.Mtim.Nano() != ahead.UnixNano()+1 {
		t.Fatalf("an mtime ahead became %d, want %d: it moved back", st.Mtim.Nano(), ahead.UnixNano()+1)
	}
	if _, err := mb.File.WriteAt([]byte("F"), 0); err != nil {
		t.Fatal(err)
	}
	var after unix.Stat_t
	unix.Stat(path, &after)
	if after.Mtim.Nano() == st.Mtim.Nano() {
		t.Fatal("a write after the stamp left the mtime as it was")
	}
}

// Another program (Dovecot) changes the flags of a message in place, its
// fields the same length, then mail is delivered: the index kept for the
// file still fits it, with the flags it read before. A batch worked out
// from those (\Answered added to what the index says) must not undo the
// other program's change: it is written over the flags the file holds.
func TestAFlagChangeByAnotherProgramUnderACarriedIndexIsKeptBesideOurs(t *testing.T) {
	path, before := roomyBox(t, 3, 5000)
	mb, idx := openBox(t, path)
	if _, ok, err := WriteStates(mb, idx, []NumberedState{{0, State{Flags: Seen | Old, Keywords: []string{"$Work"}}}}, true); err != nil || !ok {
		t.Fatalf("WriteStates: ok %v, err %v", ok, err)
	}
	mb.Close()
	aged(t, path)
	if err := indexOf(t, path).Save(IndexPath(path)); err != nil {
		t.Fatal(err)
	}
	written, _ := os.ReadFile(path)
	// Unread and flagged, the keyword dropped, in Dovecot's layout.
	theirs := strings.Replace(string(written), stateFields(State{Flags: Seen | Old, Keywords: []string{"$Work"}}, "\n", len(Padding())),
		stateFields(State{Flags: Old | Flagged}, "\n", len(Padding())), 1)
	if len(theirs) != len(before) || theirs == string(written) {
		t.Fatal("the test's in-place change is not one")
	}
	delivered := withNewMail(t, path, theirs)
	mb, idx = openBox(t, path)
	if len(idx.Entries) != 4 || idx.Entries[0].Flags != Seen|Old {
		t.Fatalf("the index was not carried over the append: %d entries, message 1 %+v", len(idx.Entries), idx.Entries[0].State)
	}
	ours := idx.Entries[0].State
	ours.Flags |= Answered
	out, ok, err := WriteStates(mb, idx, []NumberedState{{0, ours}}, true)
	if err != nil || !ok {
		t.Fatalf("WriteStates: ok %v, err %v", ok, err)
	}
	want := State{Flags: Old | Flagged | Answered}
	got, _ := os.ReadFile(path)
	if wantFile := strings.Replace(delivered, stateFields(State{Flags: Old | Flagged}, "\n", len(Padding())), stateFields(want, "\n", len(Padding())), 1); string(got) != wantFile {
		t.Fatalf("after the flag change:\n%.300s\nwant:\n%.300s", got, wantFile)
	}
	if e := out.Entries[0]; e.Flags != want.Flags || len(e.Keywords) != 0 {
		t.Errorf("the index says %+v, the file %+v", e.State, want)
	}
}

func TestMergedStateKeepsEachChangeToTheBase(t *testing.T) {
	kw := func(k ...string) []string { return k }
	for _, tc := range []struct {
		name                     string
		base, ours, theirs, want State
	}{
		{"ours alone", State{Flags: Seen}, State{Flags: Seen | Answered}, State{Flags: Seen}, State{Flags: Seen | Answered}},
		{"a flag they cleared stays clear", State{Flags: Seen | Old}, State{Flags: Seen | Old | Answered}, State{Flags: Old}, State{Flags: Old | Answered}},
		{"a flag we cleared goes, theirs stays", State{Flags: Seen | Flagged}, State{Flags: Seen}, State{Flags: Seen | Flagged | Draft}, State{Flags: Seen | Draft}},
		{"keywords both ways", State{Keywords: kw("a", "b")}, State{Keywords: kw("a", "c")}, State{Keywords: kw("b", "d", "d")}, State{Keywords: kw("d", "c")}},
		{"a keyword set by both once", State{}, State{Keywords: kw("x")}, State{Keywords: kw("x")}, State{Keywords: kw("x")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mergedState(tc.base, tc.ours, tc.theirs)
			if got.Flags != tc.want.Flags || strings.Join(got.Keywords, " ") != strings.Join(tc.want.Keywords, " ") {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// A rewrite that gives a message a state worked out from an older one
// (Change.Was) keeps what another program changed in place since.
func TestARewriteKeepsAnotherProgramsInPlaceChangeBesideOurs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Mailbox")
	theirs := "From a@b Mon May  6 07:08:09 2024\nSubject: a\nStatus: O\nX-Status: F\n\nbody\n\n"
	if err := os.WriteFile(path, []byte(theirs+"From a@b Mon May  6 07:08:10 2024\nSubject: b\n\nbody\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mb, idx := openBox(t, path)
	was := State{Flags: Seen | Old, Keywords: []string{"$Work"}}
	ours := State{Flags: Seen | Old | Answered, Keywords: []string{"$Work", "$Later"}}
	err := RewriteWith(mb, idx.Size, nil, func(i int, m *Message) Change {
		if i == 0 {
			return Change{State: &ours, Was: &was}
		}
		return Change{}
	})
	if err != nil {
		t.Fatal(err)
	}
	got := indexOf(t, path).Entries[0].State
	if got.Flags != Old|Flagged|Answered || strings.Join(got.Keywords, " ") != "$Later" {
		t.Errorf("after the rewrite: %+v, want Old|Flagged|Answered and $Later", got)
	}
}
