package mbox_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"unixmail/pkg/mbox"
)

// appendMail appends n messages to the mailbox at p, the ith with head
// (a header line, or "") formatted with i.
func appendMail(t testing.TB, p string, from, n int, head string) {
	t.Helper()
	mb, err := mbox.Open(p, mbox.OpenOptions{Owner: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	err = mb.Append(context.Background(), func(w io.Writer) error {
		for i := from; i < from+n; i++ {
			h := ""
			if head != "" {
				h = fmt.Sprintf(head, i)
			}
			content := fmt.Sprintf("%sMessage-ID: <late%d@x>\nSubject: late %d\n\nnew mail %d\n", h, i, i, i)
			if _, err := mbox.WriteMessage(w, mbox.FromLine("late@x", time.Unix(1700000000+int64(i), 0)), strings.NewReader(content)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// caughtUp is idx brought up to date with the file at p after an append,
// numbered from idx, as imapd does after its APPEND.
func caughtUp(t testing.TB, p string, idx *mbox.Index) *mbox.Index {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	up, err := mbox.Reindex(idx, f, idx.Size)
	if err != nil {
		t.Fatal(err)
	}
	up.Number(idx, numberedAt)
	return up
}

// sameState asserts that two indexes hold the same UID state and entries.
func sameState(t *testing.T, got, want *mbox.Index) {
	t.Helper()
	sameEntries(t, got, want)
	if got.UIDValidity != want.UIDValidity || got.LastUID != want.LastUID || got.RecentFrom != want.RecentFrom {
		t.Fatalf("UID state %d/%d/%d, want %d/%d/%d", got.UIDValidity, got.LastUID, got.RecentFrom, want.UIDValidity, want.LastUID, want.RecentFrom)
	}
}

func fileSize(t testing.TB, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func loaded(t testing.TB, ip string) *mbox.Index {
	t.Helper()
	idx, err := mbox.LoadIndex(ip)
	if err != nil || idx == nil {
		t.Fatalf("LoadIndex = %v, %v", idx != nil, err)
	}
	return idx
}

func TestSavingAfterAnAppendWritesARecordProportionalToTheNewMailNotTheIndex(t *testing.T) {
	tests := []struct {
		name string
		head string // what the appended messages carry, as imapd's APPEND gives them their X-UID
	}{
		{"messages without a UID", ""},
		{"messages with their X-UID", "X-UID: %d\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := generated(t, 400)
			ip := mbox.IndexPath(p)
			idx, _ := numbered(t, p)
			whole := fileSize(t, ip)
			for i := 1; i <= 30; i++ {
				head := tt.head
				if head != "" {
					head = fmt.Sprintf("X-UID: %d\n", idx.LastUID+1)
					idx.LastUID++ // given before the append, as imapd's deliver does
				}
				before := fileSize(t, ip)
				appendMail(t, p, i, 1, strings.ReplaceAll(head, "%", "%%"))
				idx = caughtUp(t, p, idx)
				if err := idx.Save(ip); err != nil {
					t.Fatal(err)
				}
				if grew := fileSize(t, ip) - before; grew <= 0 || grew > 1024 {
					t.Fatalf("append %d: the index file grew by %d bytes (a whole one is %d)", i, grew, whole)
				}
				back := loaded(t, ip)
				sameState(t, back, idx)
			}
			// What the records give is what numbering a fresh scan from
			// them gives: nothing new, nothing renumbered.
			back := loaded(t, ip)
			fresh := freshIndex(t, p)
			if fresh.Number(back, numberedAt) {
				t.Fatal("the reloaded index made the mailbox renumbered")
			}
			sameState(t, fresh, idx)
			sameState(t, back, idx)
			if fresh.LastUID != 430 || fresh.Entries[len(fresh.Entries)-1].UID != 430 {
				t.Fatalf("last UID %d, the last message's %d, want 430", fresh.LastUID, fresh.Entries[len(fresh.Entries)-1].UID)
			}
		})
	}
}

func TestAGrowingLogIsCompactedIntoAWholeIndex(t *testing.T) {
	p := generated(t, 20)
	ip := mbox.IndexPath(p)
	idx, _ := numbered(t, p)
	most, shrank := int64(0), false
	for i := 1; i <= 300; i++ {
		appendMail(t, p, i, 1, "")
		idx = caughtUp(t, p, idx)
		before := fileSize(t, ip)
		if err := idx.Save(ip); err != nil {
			t.Fatal(err)
		}
		most = max(most, fileSize(t, ip))
		shrank = shrank || fileSize(t, ip) < before
	}
	sameState(t, loaded(t, ip), idx)
	wholePath := ip + ".whole"
	if err := loaded(t, ip).Save(wholePath); err != nil {
		t.Fatal(err)
	}
	whole := fileSize(t, wholePath)
	if !shrank || most > whole+max(whole/4, 64<<10)+1024 {
		t.Fatalf("the index file reached %d bytes (compacted: %v); a whole one is %d", most, shrank, whole)
	}
}

func TestATornLastRecordLeavesTheStateBeforeIt(t *testing.T) {
	p := generated(t, 60)
	ip := mbox.IndexPath(p)
	first, _ := numbered(t, p)
	appendMail(t, p, 1, 1, "")
	second := caughtUp(t, p, first)
	if err := second.Save(ip); err != nil {
		t.Fatal(err)
	}
	mid := fileSize(t, ip)
	appendMail(t, p, 2, 2, "")
	third := caughtUp(t, p, second)
	if err := third.Save(ip); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(ip)
	if int64(len(data)) <= mid {
		t.Fatal("the third state was not appended")
	}
	sameState(t, loaded(t, ip), third)
	for cut := mid; cut < int64(len(data)); cut++ {
		os.WriteFile(ip, data[:cut], 0o600)
		sameState(t, loaded(t, ip), second)
	}
	// A byte of the record changed, or garbage after it, is the same.
	for _, at := range []int64{mid, mid + 3, mid + 4, mid + 9, int64(len(data)) - 1} {
		bad := append([]byte(nil), data...)
		bad[at] ^= 0x20
		os.WriteFile(ip, bad, 0o600)
		sameState(t, loaded(t, ip), second)
	}
	os.WriteFile(ip, append(append([]byte(nil), data...), "\x10\x00\x00\x00garbage after the last record"...), 0o600)
	sameState(t, loaded(t, ip), third)
}

func TestNoSaveAppendsAfterATornRecord(t *testing.T) {
	p := generated(t, 60)
	ip := mbox.IndexPath(p)
	idx, _ := numbered(t, p)
	appendMail(t, p, 1, 1, "")
	idx = caughtUp(t, p, idx)
	idx.Save(ip)
	// A crash tore the next record: its first bytes are there.
	f, _ := os.OpenFile(ip, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{200, 0, 0, 0, 1, 2})
	f.Close()
	back := loaded(t, ip)
	appendMail(t, p, 2, 1, "")
	next := caughtUp(t, p, back)
	if err := next.Save(ip); err != nil {
		t.Fatal(err)
	}
	sameState(t, loaded(t, ip), next)
}

func TestASaveAfterAnotherWriterRewritesTheFileWhole(t *testing.T) {
	tests := []struct {
		name  string
		other func(t *testing.T, p, ip string, idx *mbox.Index)
	}{
		{"another index renamed over it", func(t *testing.T, p, ip string, idx *mbox.Index) {
			other := loaded(t, ip)
			os.Remove(ip)
			if err := other.Save(ip); err != nil {
				t.Fatal(err)
			}
		}},
		{"another process appended a record", func(t *testing.T, p, ip string, idx *mbox.Index) {
			other := loaded(t, ip)
			appendMail(t, p, 100, 1, "")
			other = caughtUp(t, p, other)
			if err := other.Save(ip); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := generated(t, 60)
			ip := mbox.IndexPath(p)
			idx, _ := numbered(t, p)
			tt.other(t, p, ip, idx)
			appendMail(t, p, 1, 1, "")
			idx = caughtUp(t, p, idx)
			if err := idx.Save(ip); err != nil {
				t.Fatal(err)
			}
			sameState(t, loaded(t, ip), idx)
		})
	}
}

func TestAFlagChangeNearTheEndIsARecordOfTheEntriesFromIt(t *testing.T) {
	p := generated(t, 200)
	ip := mbox.IndexPath(p)
	idx, _ := numbered(t, p)
	appendMail(t, p, 1, 1, strings.ReplaceAll(mbox.Padding(), "%", "%%")) // room for flags, as deliver leaves
	idx = caughtUp(t, p, idx)
	if err := idx.Save(ip); err != nil {
		t.Fatal(err)
	}
	last := len(idx.Entries) - 1
	st := idx.Entries[last].State
	st.Flags |= mbox.Flagged | mbox.Seen | mbox.Old
	st.Keywords = []string{"$Work"}
	out := writeState(t, p, idx, last, st)
	before := fileSize(t, ip)
	if err := out.Save(ip); err != nil {
		t.Fatal(err)
	}
	if grew := fileSize(t, ip) - before; grew <= 0 || grew > 1024 {
		t.Fatalf("the index file grew by %d bytes for one flag", grew)
	}
	back := loaded(t, ip)
	sameState(t, back, out)
	if !reflect.DeepEqual(back.Entries[last].State, st) {
		t.Fatalf("state %+v, want %+v", back.Entries[last].State, st)
	}
}

// writeState writes message i's state st in place in the mailbox at p,
// idx its index, and gives the index after.
func writeState(t *testing.T, p string, idx *mbox.Index, i int, st mbox.State) *mbox.Index {
	t.Helper()
	mb, err := mbox.Open(p, mbox.OpenOptions{Owner: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	out, ok, err := mbox.WriteStates(mb, idx, []mbox.NumberedState{{I: i, State: st}}, true)
	if err != nil || !ok {
		t.Fatalf("WriteStates: %v %v", ok, err)
	}
	return out
}
