package mbox_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"unixmail/pkg/mbox"
)

var numberedAt = time.Unix(1800000000, 0)

// lazyBox is a mailbox file whose messages are named by their Message-ID
// (a message listed twice is two copies of one message).
func lazyBox(t *testing.T, ids ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "Mailbox")
	writeBox(t, p, ids, nil)
	return p
}

// writeBox writes the messages ids into p, whole, as another program
// rewriting the file would; head adds header lines to a message by id.
func writeBox(t *testing.T, p string, ids []string, head map[string]string) {
	t.Helper()
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "From a@example.org Mon May  6 07:08:09 2024\n%sMessage-ID: <%s@x>\nSubject: %s\n\nbody of %s\n\n", head[id], id, id, id)
	}
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// numbered scans p, numbers it from the index saved beside it (if any),
// saves it, and gives its UIDs.
func numbered(t *testing.T, p string) (*mbox.Index, []uint32) {
	t.Helper()
	saved, err := mbox.LoadIndex(mbox.IndexPath(p))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	idx, err := mbox.UpdateIndex(saved, f)
	if err != nil {
		t.Fatal(err)
	}
	idx.Number(saved, numberedAt)
	if err := idx.Save(mbox.IndexPath(p)); err != nil {
		t.Fatal(err)
	}
	var uids []uint32
	for _, e := range idx.Entries {
		uids = append(uids, e.UID)
	}
	return idx, uids
}

func TestTheIndexNumbersAMailboxWithoutWritingIt(t *testing.T) {
	p := lazyBox(t, "a", "b", "c")
	before, _ := os.ReadFile(p)
	idx, uids := numbered(t, p)
	if !slices.Equal(uids, []uint32{1, 2, 3}) || idx.UIDValidity != 1800000000 || idx.LastUID != 3 || !idx.Lazy() {
		t.Fatalf("UIDs %v validity %d last %d lazy %v", uids, idx.UIDValidity, idx.LastUID, idx.Lazy())
	}
	if after, _ := os.ReadFile(p); string(after) != string(before) {
		t.Fatal("numbering wrote the mailbox")
	}
	if idx.Pending() {
		t.Error("a saved index still has UIDs pending")
	}
}

func TestIndexedUIDsLastAcrossOtherProgramsRewritingTheFile(t *testing.T) {
	tests := []struct {
		name  string
		after []string
		head  map[string]string
		want  []uint32
	}{
		{"nothing changed", []string{"a", "b", "c", "d"}, nil, []uint32{1, 2, 3, 4}},
		{"mail deleted a message and marked the rest read", []string{"a", "c", "d"}, map[string]string{"a": "Status: RO\n", "c": "Status: RO\n", "d": "Status: O\n"}, []uint32{1, 3, 4}},
		{"Dovecot wrote a flag and a Content-Length", []string{"a", "b", "c", "d"}, map[string]string{"b": "X-Status: F\nContent-Length: 10\n"}, []uint32{1, 2, 3, 4}},
		{"new mail came after the rewrite", []string{"b", "c", "d", "e"}, nil, []uint32{2, 3, 4, 5}},
		{"a message gained the X-UID the index gave it", []string{"a", "b", "c", "d"}, map[string]string{"c": "X-UID: 3\n"}, []uint32{1, 2, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := lazyBox(t, "a", "b", "c", "d")
			numbered(t, p)
			writeBox(t, p, tt.after, tt.head)
			idx, uids := numbered(t, p)
			if !slices.Equal(uids, tt.want) || idx.UIDValidity != 1800000000 {
				t.Fatalf("UIDs %v validity %d, want %v under 1800000000", uids, idx.UIDValidity, tt.want)
			}
		})
	}
}

func TestTheNthCopyOfAMessageGetsTheUIDOfTheNth(t *testing.T) {
	p := lazyBox(t, "a", "dup", "dup", "b")
	idx, _ := numbered(t, p)

	// Another program dropped the first copy: nothing tells them apart,
	// so the copy left is taken for the first.
	writeBox(t, p, []string{"a", "dup", "b"}, nil)
	if _, uids := numbered(t, p); !slices.Equal(uids, []uint32{1, 2, 4}) {
		t.Errorf("after another program dropped a copy: %v", uids)
	}

	// A rewrite that knows which copy it dropped says so (NumberWithout).
	f, _ := os.Open(p)
	defer f.Close()
	again, err := mbox.UpdateIndex(nil, f)
	if err != nil {
		t.Fatal(err)
	}
	again.NumberWithout(idx, func(i int) bool { return i == 1 }, numberedAt)
	var uids []uint32
	for _, e := range again.Entries {
		uids = append(uids, e.UID)
	}
	if !slices.Equal(uids, []uint32{1, 3, 4}) {
		t.Errorf("after dropping the first copy knowingly: %v", uids)
	}
}

func TestLosingTheIndexKeepsTheUIDsTheFileHolds(t *testing.T) {
	p := lazyBox(t, "a", "b")
	writeBox(t, p, []string{"a", "b"}, map[string]string{"a": "X-IMAPbase: 1700000000 0000000009\nX-UID: 4\n", "b": "X-UID: 9\n"})
	numbered(t, p)
	os.Remove(mbox.IndexPath(p))
	idx, uids := numbered(t, p)
	if !slices.Equal(uids, []uint32{4, 9}) || idx.UIDValidity != 1700000000 || idx.Lazy() {
		t.Fatalf("UIDs %v validity %d lazy %v", uids, idx.UIDValidity, idx.Lazy())
	}
}

func TestAFileNumberedByAnotherProgramKeepsItsNumbering(t *testing.T) {
	p := lazyBox(t, "a", "b", "c")
	numbered(t, p)
	writeBox(t, p, []string{"a", "b", "c"}, map[string]string{"a": "X-IMAPbase: 1700000000 0000000003\nX-UID: 1\n", "b": "X-UID: 2\n", "c": "X-UID: 3\n"})
	idx, uids := numbered(t, p)
	if !slices.Equal(uids, []uint32{1, 2, 3}) || idx.UIDValidity != 1700000000 || idx.Lazy() {
		t.Fatalf("UIDs %v validity %d lazy %v", uids, idx.UIDValidity, idx.Lazy())
	}
}

func TestARenumberingTheIndexGaveStandsUntilTheFileChangesItsBase(t *testing.T) {
	p := lazyBox(t, "a", "b")
	// UIDs that do not rise: the index numbers afresh, in itself alone.
	writeBox(t, p, []string{"a", "b"}, map[string]string{"a": "X-IMAPbase: 1700000000 0000000009\nX-UID: 7\n", "b": "X-UID: 5\n"})
	idx, uids := numbered(t, p)
	if !slices.Equal(uids, []uint32{1, 2}) || idx.UIDValidity != 1800000000 {
		t.Fatalf("first: UIDs %v validity %d", uids, idx.UIDValidity)
	}
	// Mail read elsewhere: the file still holds the stale X-UIDs.
	writeBox(t, p, []string{"a", "b"}, map[string]string{"a": "X-IMAPbase: 1700000000 0000000009\nX-UID: 7\nStatus: RO\n", "b": "X-UID: 5\n"})
	idx, uids = numbered(t, p)
	if !slices.Equal(uids, []uint32{1, 2}) || idx.UIDValidity != 1800000000 {
		t.Fatalf("after a rewrite: UIDs %v validity %d", uids, idx.UIDValidity)
	}
}

func TestAppendedMailGetsTheNextUIDsFromTheIndex(t *testing.T) {
	p := lazyBox(t, "a", "b")
	numbered(t, p)
	f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	fmt.Fprintf(f, "From c@example.org Mon May  6 07:09:00 2024\nMessage-ID: <c@x>\n\nc\n\n")
	f.Close()
	idx, uids := numbered(t, p)
	if !slices.Equal(uids, []uint32{1, 2, 3}) || idx.LastUID != 3 {
		t.Fatalf("UIDs %v last %d", uids, idx.LastUID)
	}
}

// testdata/index3 is a mailbox and the format 3 index unixmail kept of it
// before the index became a log: message c (UID 3, given by the index
// alone) was deleted by another program, and d keeps UID 4 in the index
// only; testdata/index4 is the same in format 4 (before the boot of flags
// not synced), testdata/index5 in format 5 (before rooms), as the release
// before wrote it. An upgrade must read those indexes: numbering the file
// without them would give d the UID 3, an expunged message's, under the
// same UIDVALIDITY (RFC 3501 2.3.1.1).
func TestAnIndexOfAnEarlierFormatStillGivesTheUIDsItHolds(t *testing.T) {
	for _, format := range []string{"index3", "index4", "index5"} {
		t.Run(format, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "Mailbox")
			for from, to := range map[string]string{"Mailbox": p, "Mailbox.index": mbox.IndexPath(p)} {
				data, err := os.ReadFile(filepath.Join("testdata", format, from))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(to, data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			idx, uids := numbered(t, p)
			if !slices.Equal(uids, []uint32{1, 2, 4}) || idx.UIDValidity != 1700000000 || idx.LastUID != 4 {
				t.Fatalf("UIDs %v validity %d last %d, want [1 2 4] under 1700000000, last 4", uids, idx.UIDValidity, idx.LastUID)
			}
			// Saved again in the current format, it says the same.
			if _, uids = numbered(t, p); !slices.Equal(uids, []uint32{1, 2, 4}) {
				t.Fatalf("after saving again: UIDs %v", uids)
			}
			if data, _ := os.ReadFile(mbox.IndexPath(p)); !bytes.HasPrefix(data, []byte("unixmail mbox index 6\n")) {
				t.Fatalf("not saved again in the current format: %q", data[:min(len(data), 22)])
			}
		})
	}
}

// A big mailbox's messages numbered by its index alone, the file's base
// then raised over them (as imapd raises it before showing them): once
// that index is lost, a message keeps its UID or the mailbox gets a new
// UIDVALIDITY, and no UID shown names another message under the old one.
// The index holds UIDs alone only for messages before every X-UID in the
// file (ToWrite): messages without one after them are mail no one
// numbered, as after Dovecot or UW-IMAP numbered a file whose last
// messages were then expunged, and keep the UIDVALIDITY.
func TestAMailboxThatLostItsIndexNeverGivesAUIDAgainUnderTheSameValidity(t *testing.T) {
	old := mbox.SetLazyFrom(0)
	t.Cleanup(func() { mbox.SetLazyFrom(old) })
	tests := []struct {
		name      string
		given     map[string]string // the file's state fields first
		indexed   map[string]string // those once the index numbered it and the base was raised (nil: no index)
		want      []uint32          // the UIDs, under the old UIDVALIDITY; nil for a new one
		wantWrite []int             // ToWrite after the index numbered it
	}{
		{"every message numbered by the index alone", map[string]string{"a": "X-IMAPbase: 1700000000 0000000000\n"}, map[string]string{"a": "X-IMAPbase: 1700000000 0000000004\n"}, nil, nil},
		{"new mail after X-UIDs, written by the index", map[string]string{"a": "X-IMAPbase: 1700000000 0000000002\nX-UID: 1\n", "b": "X-UID: 2\n"},
			map[string]string{"a": "X-IMAPbase: 1700000000 0000000004\nX-UID: 1\n", "b": "X-UID: 2\n", "c": "X-UID: 3\n", "d": "X-UID: 4\n"}, []uint32{1, 2, 3, 4}, []int{2, 3}},
		{"new mail no index numbered", map[string]string{"a": "X-IMAPbase: 1700000000 0000000002\nX-UID: 1\n", "b": "X-UID: 2\n"}, nil, []uint32{1, 2, 3, 4}, nil},
		{"new mail after Dovecot's last messages were expunged", map[string]string{"a": "X-IMAPbase: 1700000000 0000000009\nX-UID: 1\n", "b": "X-UID: 5\n"}, nil, []uint32{1, 5, 10, 11}, nil},
		{"no X-UID, a base over UIDs given", map[string]string{"a": "X-IMAPbase: 1700000000 0000000009\n"}, nil, nil, nil},
		{"a message without an X-UID before one with", map[string]string{"a": "X-IMAPbase: 1700000000 0000000009\nX-UID: 1\n", "c": "X-UID: 5\n"}, nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := lazyBox(t, "a", "b", "c", "d")
			writeBox(t, p, []string{"a", "b", "c", "d"}, tt.given)
			if tt.indexed != nil {
				idx, uids := numbered(t, p)
				if !slices.Equal(uids, []uint32{1, 2, 3, 4}) || !slices.Equal(idx.ToWrite(), tt.wantWrite) {
					t.Fatalf("numbered by the index: %v, to write %v, want %v", uids, idx.ToWrite(), tt.wantWrite)
				}
				writeBox(t, p, []string{"a", "b", "c", "d"}, tt.indexed)
				if _, uids := numbered(t, p); !slices.Equal(uids, []uint32{1, 2, 3, 4}) {
					t.Fatalf("with the base raised: %v", uids)
				}
				os.Remove(mbox.IndexPath(p))
			}
			idx, uids := numbered(t, p)
			if fresh := idx.UIDValidity != 1700000000; fresh != (tt.want == nil) || !fresh && !slices.Equal(uids, tt.want) {
				t.Fatalf("UIDs %v validity %d, want %v (nil: a new validity)", uids, idx.UIDValidity, tt.want)
			}
		})
	}
}

// mutt, deleting the first message, drops the X-IMAPbase it carried: the
// numbering stands while the X-UIDs left fit it.
func TestANumberingOutlivesTheBaseAnotherProgramDroppedWithTheFirstMessage(t *testing.T) {
	tests := []struct {
		name     string
		head     map[string]string // b and c, once a is gone with the base
		wantUIDs []uint32
		wantSame bool
	}{
		{"the X-UIDs left fit", map[string]string{"b": "X-UID: 2\n", "c": "X-UID: 3\n"}, []uint32{2, 3}, true},
		{"an X-UID above the last UID given", map[string]string{"b": "X-UID: 2\n", "c": "X-UID: 7\n"}, []uint32{1, 2}, false},
		{"X-UIDs out of order", map[string]string{"b": "X-UID: 3\n", "c": "X-UID: 2\n"}, []uint32{1, 2}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := lazyBox(t, "a", "b", "c")
			writeBox(t, p, []string{"a", "b", "c"}, map[string]string{"a": "X-IMAPbase: 1700000000 0000000003\nX-UID: 1\n", "b": "X-UID: 2\n", "c": "X-UID: 3\n"})
			numbered(t, p)
			writeBox(t, p, []string{"b", "c"}, tt.head)
			idx, uids := numbered(t, p)
			if !slices.Equal(uids, tt.wantUIDs) || (idx.UIDValidity == 1700000000) != tt.wantSame || tt.wantSame && idx.LastUID != 3 {
				t.Fatalf("UIDs %v validity %d last %d, want %v, the same validity %v", uids, idx.UIDValidity, idx.LastUID, tt.wantUIDs, tt.wantSame)
			}
		})
	}
}

// Another program expunged a message, and a copy of it (same sender,
// From_ date, size and Message-ID: the same fingerprint) came after it:
// the copy is new mail, and gets a new UID. The UID of the message gone
// is never given to it: a client that saw that message expunged must not
// see it come back, and a UID given again out of order would cost the
// folder its UIDVALIDITY.
func TestACopyOfAMessageExpungedElsewhereGetsANewUID(t *testing.T) {
	numberedBase := map[string]string{"a": "X-IMAPbase: 1700000000 0000000003\nX-UID: 1\n"}
	tests := []struct {
		name   string
		before []string          // the mailbox numbered, dup its message
		head   map[string]string // its X-UIDs (none: numbered by the index alone)
		after  []string          // dup expunged, its copy delivered
		want   []uint32
	}{
		{"UIDs in the file, the copy last", []string{"a", "b", "dup"}, map[string]string{"a": numberedBase["a"], "b": "X-UID: 2\n", "dup": "X-UID: 3\n"}, []string{"a", "b", "dup"}, []uint32{1, 2, 4}},
		{"UIDs in the file, the copy after a later message", []string{"a", "dup", "b"}, map[string]string{"a": numberedBase["a"], "dup": "X-UID: 2\n", "b": "X-UID: 3\n"}, []string{"a", "b", "dup"}, []uint32{1, 3, 4}},
		{"UIDs in the index alone, the copy after a later message", []string{"a", "dup", "b"}, nil, []string{"a", "b", "dup"}, []uint32{1, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := lazyBox(t, tt.before...)
			writeBox(t, p, tt.before, tt.head)
			was, _ := numbered(t, p)
			head := map[string]string{}
			for _, id := range tt.after {
				if id != "dup" {
					head[id] = tt.head[id]
				}
			}
			writeBox(t, p, tt.after, head)
			idx, uids := numbered(t, p)
			if !slices.Equal(uids, tt.want) || idx.UIDValidity != was.UIDValidity {
				t.Fatalf("UIDs %v validity %d, want %v under %d (%s)", uids, idx.UIDValidity, tt.want, was.UIDValidity, idx.RenumberedWhy())
			}
		})
	}
}
