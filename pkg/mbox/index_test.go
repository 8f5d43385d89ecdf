package mbox_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"unixmail/internal/mboxgen"
	"unixmail/pkg/mbox"
)

func generated(t testing.TB, n int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "Mailbox")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mboxgen.Write(f, mboxgen.Options{Messages: n, AvgSize: 3000, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

func freshIndex(t *testing.T, p string) *mbox.Index {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	idx, err := mbox.UpdateIndex(nil, f)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func reloaded(t *testing.T, p string, idx *mbox.Index) *mbox.Index {
	t.Helper()
	ip := mbox.IndexPath(p)
	if err := idx.Save(ip); err != nil {
		t.Fatal(err)
	}
	loaded, err := mbox.LoadIndex(ip)
	if err != nil || loaded == nil {
		t.Fatalf("LoadIndex = %v, %v", loaded, err)
	}
	f, _ := os.Open(p)
	defer f.Close()
	up, err := mbox.UpdateIndex(loaded, f)
	if err != nil {
		t.Fatal(err)
	}
	return up
}

func sameEntries(t *testing.T, got, want *mbox.Index) {
	t.Helper()
	if len(got.Entries) != len(want.Entries) || got.Size != want.Size {
		t.Fatalf("%d entries over %d bytes, want %d over %d", len(got.Entries), got.Size, len(want.Entries), want.Size)
	}
	for i := range got.Entries {
		g, w := got.Entries[i], want.Entries[i]
		if !g.Date.Equal(w.Date) {
			t.Fatalf("entry %d date %v, want %v", i, g.Date, w.Date)
		}
		g.Date, w.Date = time.Time{}, time.Time{}
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("entry %d = %+v, want %+v", i, g, w)
		}
	}
	if !reflect.DeepEqual(got.Base, want.Base) {
		t.Fatalf("base %+v, want %+v", got.Base, want.Base)
	}
}

func TestASavedIndexReloadsToWhatAScanFinds(t *testing.T) {
	p := generated(t, 500)
	idx := freshIndex(t, p)
	sameEntries(t, reloaded(t, p, idx), idx)
}

func TestAnIndexCatchesUpWithMailAppendedSince(t *testing.T) {
	p := generated(t, 300)
	idx := freshIndex(t, p)
	idx.Save(mbox.IndexPath(p))
	mb, err := mbox.Open(p, mbox.OpenOptions{Owner: -1})
	if err != nil {
		t.Fatal(err)
	}
	err = mb.Append(context.Background(), func(w io.Writer) error {
		_, err := mbox.WriteMessage(w, mbox.FromLine("late@x", time.Now()), strings.NewReader("Subject: late\nStatus: RO\n\nnew mail\n"))
		return err
	})
	mb.Close()
	if err != nil {
		t.Fatal(err)
	}
	loaded, _ := mbox.LoadIndex(mbox.IndexPath(p))
	f, _ := os.Open(p)
	defer f.Close()
	up, err := mbox.UpdateIndex(loaded, f)
	if err != nil {
		t.Fatal(err)
	}
	want := freshIndex(t, p)
	sameEntries(t, up, want)
	if last := up.Entries[len(up.Entries)-1]; last.Flags&mbox.Seen == 0 {
		t.Errorf("the appended message's state was not read: %+v", last)
	}
}

func TestAnIndexThatNoLongerFitsIsThrownAway(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, p string)
	}{
		{"file replaced", func(t *testing.T, p string) {
			data, _ := os.ReadFile(p)
			os.Remove(p)
			os.WriteFile(p, bytes.Replace(data, []byte("Subject:"), []byte("Subject: x"), 1), 0600)
		}},
		{"tail edited in place", func(t *testing.T, p string) {
			f, _ := os.OpenFile(p, os.O_RDWR, 0)
			fi, _ := f.Stat()
			f.WriteAt([]byte("Z"), fi.Size()-10)
			f.Close()
		}},
		{"file shrank", func(t *testing.T, p string) {
			fi, _ := os.Stat(p)
			data, _ := os.ReadFile(p)
			i := bytes.LastIndex(data[:fi.Size()-1], []byte("\nFrom "))
			os.Truncate(p, int64(i+1))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := generated(t, 200)
			freshIndex(t, p).Save(mbox.IndexPath(p))
			tt.change(t, p)
			loaded, _ := mbox.LoadIndex(mbox.IndexPath(p))
			f, _ := os.Open(p)
			defer f.Close()
			up, err := mbox.UpdateIndex(loaded, f)
			if err != nil {
				t.Fatal(err)
			}
			sameEntries(t, up, freshIndex(t, p))
		})
	}
}

func TestADamagedIndexFileIsIgnored(t *testing.T) {
	p := generated(t, 50)
	ip := mbox.IndexPath(p)
	freshIndex(t, p).Save(ip)
	data, _ := os.ReadFile(ip)
	for _, cut := range []int{0, 5, 40, len(data) / 2, len(data) - 1} {
		os.WriteFile(ip, data[:cut], 0600)
		if idx, err := mbox.LoadIndex(ip); idx != nil || err != nil {
			t.Fatalf("index cut at %d loaded: %v %v", cut, idx != nil, err)
		}
		if m, err := mbox.MapIndex(ip); m != nil || err != nil {
			t.Fatalf("index cut at %d mapped: %v %v", cut, m != nil, err)
		}
	}
	if idx, err := mbox.LoadIndex(filepath.Join(t.TempDir(), "none")); idx != nil || err != nil {
		t.Fatal("a missing index is not (nil, nil)")
	}
}

// FuzzLoadIndex: whatever the file holds, loading it does not panic, and
// what loads saves and loads again the same (seeds: whole indexes, with
// appended records, torn, with garbage after).
func FuzzLoadIndex(f *testing.F) {
	f.Add([]byte("unixmail mbox index 6\n"))
	f.Add([]byte("unixmail mbox index 6\n\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff"))
	f.Add([]byte("unixmail mbox index 4\n\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff"))
	f.Add([]byte("unixmail mbox index 3\n\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "i")
		os.WriteFile(p, data, 0600)
		idx, _ := mbox.LoadIndex(p) // must not panic
		if idx == nil {
			return
		}
		again := p + ".again"
		if err := idx.Save(again); err != nil {
			t.Fatal(err)
		}
		back, err := mbox.LoadIndex(again)
		if err != nil || back == nil {
			t.Fatalf("a loaded index saved again does not load: %v", err)
		}
		if len(back.Entries) != len(idx.Entries) || back.Size != idx.Size || back.LastUID != idx.LastUID || back.UIDValidity != idx.UIDValidity {
			t.Fatalf("saved again: %d entries over %d bytes, UIDs %d/%d; was %d over %d, %d/%d",
				len(back.Entries), back.Size, back.UIDValidity, back.LastUID, len(idx.Entries), idx.Size, idx.UIDValidity, idx.LastUID)
		}
		// Whatever it holds, numbering it must not panic either.
		idx.Number(nil, time.Unix(1800000000, 0))
	})
}

func BenchmarkReopenWithIndex(b *testing.B) {
	p := generated(b, 50000)
	f, _ := os.Open(p)
	defer f.Close()
	idx, _ := mbox.UpdateIndex(nil, f)
	ip := mbox.IndexPath(p)
	idx.Save(ip)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		loaded, _ := mbox.LoadIndex(ip)
		if _, err := mbox.UpdateIndex(loaded, f); err != nil {
			b.Fatal(err)
		}
	}
}

func TestAnIndexOfAnOlderFormatIsRebuiltNotMisread(t *testing.T) {
	p := generated(t, 20)
	ip := mbox.IndexPath(p)
	freshIndex(t, p).Save(ip)
	data, _ := os.ReadFile(ip)
	old := bytes.Replace(data, []byte("unixmail mbox index 6\n"), []byte("unixmail mbox index 3\n"), 1)
	os.WriteFile(ip, old, 0600)
	if idx, err := mbox.LoadIndex(ip); idx != nil || err != nil {
		t.Fatalf("a version 3 index was loaded: %v %v", idx != nil, err)
	}
}

func TestKeywordsReloadFromTheIndexAndStayEachMessagesOwn(t *testing.T) {
	var b strings.Builder
	for i, kw := range []string{"work $Label1", "work $Label1", "", "home", "work $Label1"} {
		b.WriteString("From a@example.org Mon Jan  1 00:00:00 2024\nSubject: m\n")
		if kw != "" {
			b.WriteString("X-Keywords: " + kw + "\n")
		}
		b.WriteString("\nbody " + strings.Repeat("x", i) + "\n\n")
	}
	p := filepath.Join(t.TempDir(), "Mailbox")
	os.WriteFile(p, []byte(b.String()), 0600)
	idx := freshIndex(t, p)
	got := reloaded(t, p, idx)
	sameEntries(t, got, idx)
	// A list read once for many messages is not one list to change.
	got.Entries[0].Keywords = append(got.Entries[0].Keywords, "more")
	if kw := got.Entries[1].Keywords; !reflect.DeepEqual(kw, []string{"work", "$Label1"}) {
		t.Fatalf("message 2's keywords became %q when message 1's grew", kw)
	}
}

// A whole save of the index removes what saves killed before their rename
// left (.NAME.index.tmp-*), once a minute old and unlocked; never the
// file of a save still at work (it holds its lock), nor one just made.
func TestASaveRemovesTheTemporaryIndexFilesKilledSavesLeft(t *testing.T) {
	p := generated(t, 20)
	ip := mbox.IndexPath(p)
	left := func(name string, age time.Duration) string {
		tmp := ip + ".tmp-" + name
		if err := os.WriteFile(tmp, []byte("half an index"), 0o600); err != nil {
			t.Fatal(err)
		}
		then := time.Now().Add(-age)
		os.Chtimes(tmp, then, then)
		return tmp
	}
	killed := left("killed", time.Hour)
	killedRecently := left("killedrecently", 2*time.Minute)
	justMade := left("justmade", 0)
	atWork := left("atwork", time.Hour)
	f, err := os.Open(atWork)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if err := freshIndex(t, p).Save(ip); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path string
		kept bool
	}{{killed, false}, {killedRecently, false}, {justMade, true}, {atWork, true}} {
		if _, err := os.Stat(tt.path); (err == nil) != tt.kept {
			t.Errorf("%s: kept %v, want %v", filepath.Base(tt.path), err == nil, tt.kept)
		}
	}
	if _, err := mbox.LoadIndex(ip); err != nil {
		t.Fatal(err)
	}
}
