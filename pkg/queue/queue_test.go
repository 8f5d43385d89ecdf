package queue

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func newQueue(t *testing.T) *Queue {
	t.Helper()
	q := Open(filepath.Join(t.TempDir(), "spool"))
	if err := q.Init(); err != nil {
		t.Fatal(err)
	}
	return q
}

func TestEnqueueStoresEnvelopeAndMessageAndLocksTheFile(t *testing.T) {
	q := newQueue(t)
	env := Envelope{Sender: "a@x", Rcpts: []Recipient{{Addr: "b@y", Notify: "FAILURE"}}}
	e, err := q.Enqueue(env, strings.NewReader("Subject: hi\n\nbody\n"), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Env.ID) != 12 || e.Env.Size != 18 {
		t.Fatalf("id %q size %d", e.Env.ID, e.Env.Size)
	}
	if _, err := q.Lock(e.Env.ID); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v, want ErrLocked", err)
	}
	e.Env.Rcpts[0].Diag = "try later"
	e.Env.Attempts = 1
	if err := e.Save(); err != nil {
		t.Fatal(err)
	}
	e.Close()
	e2, err := q.Lock(e.Env.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	b, _ := io.ReadAll(e2.Message())
	if string(b) != "Subject: hi\n\nbody\n" || e2.Env.Rcpts[0].Diag != "try later" || e2.Env.Attempts != 1 {
		t.Fatalf("after save: %q %+v", b, e2.Env)
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("client went away")
	}
	f.n--
	return copy(p, "data\n"), nil
}

func TestEnqueueStoresNothingWhenTheMessageCannotBeRead(t *testing.T) {
	q := newQueue(t)
	if _, err := q.Enqueue(Envelope{Sender: "a"}, &failingReader{n: 3}, true); err == nil {
		t.Fatal("no error")
	}
	for _, d := range []string{activeDir, maildropDir} {
		ents, _ := os.ReadDir(filepath.Join(q.Dir, d))
		if len(ents) != 0 {
			t.Fatalf("%s holds %v", d, ents)
		}
	}
}

func TestALockedFileThatWasReplacedIsGone(t *testing.T) {
	q := newQueue(t)
	e, _ := q.Enqueue(Envelope{Sender: "a"}, strings.NewReader("x\n"), true)
	id := e.Env.ID
	e.Remove()
	e.Close()
	if _, err := q.Lock(id); !errors.Is(err, ErrGone) {
		t.Fatalf("%v, want ErrGone", err)
	}
}

func TestPickupKeepsOnlyAddressesFromMaildrop(t *testing.T) {
	q := newQueue(t)
	forged := Envelope{Sender: "a", Rcpts: []Recipient{{Addr: "b@x", Kind: Pipe, Target: "rm -rf /", Privs: "root"}}}
	e, err := q.Enqueue(forged, strings.NewReader("x\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	picked, err := q.Pickup()
	if err != nil || len(picked) != 1 {
		t.Fatalf("pickup: %v %d", err, len(picked))
	}
	defer picked[0].Close()
	if r := picked[0].Env.Rcpts[0]; r != (Recipient{Addr: "b@x"}) {
		t.Fatalf("picked up %+v", r)
	}
	list, _ := q.List()
	if len(list) != 1 || !list[0].Active {
		t.Fatalf("list %+v", list)
	}
}

func TestPickupFilterRewritesWhatMovesAndAFailureLeavesItInMaildrop(t *testing.T) {
	q := newQueue(t)
	e, err := q.Enqueue(Envelope{Sender: "a", Rcpts: []Recipient{{Addr: "b@x"}}}, strings.NewReader("body\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	q.PickupFilter = func(id string, msg io.Reader) (io.Reader, error) {
		return nil, errors.New("no key")
	}
	if picked, err := q.Pickup(); err == nil || len(picked) != 0 || !strings.Contains(err.Error(), "no key") {
		t.Fatalf("pickup with a failing filter: %v %d", err, len(picked))
	}
	q.PickupFilter = func(id string, msg io.Reader) (io.Reader, error) {
		return io.MultiReader(strings.NewReader("Signed-By: "+id+"\n"), msg), nil
	}
	picked, err := q.Pickup()
	if err != nil || len(picked) != 1 {
		t.Fatalf("pickup: %v %d", err, len(picked))
	}
	defer picked[0].Close()
	b, _ := io.ReadAll(picked[0].Message())
	if want := "Signed-By: " + picked[0].Env.ID + "\nbody\n"; string(b) != want || picked[0].Env.Size != int64(len(want)) {
		t.Fatalf("picked up %q (size %d), want %q", b, picked[0].Env.Size, want)
	}
}

func TestBackoffDoublesUpToAnHour(t *testing.T) {
	want := []time.Duration{5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 40 * time.Minute, time.Hour, time.Hour}
	for i, w := range want {
		if got := Backoff(i + 1); got != w {
			t.Errorf("Backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
}

func FuzzReadHeader(f *testing.F) {
	f.Add([]byte(magic + `{"id":"ABC","sender":"a","rcpts":[{"addr":"b"}],"size":2}` + "\nx\n"))
	f.Add([]byte("garbage\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "q")
		os.WriteFile(p, b, 0600)
		fh, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		env, off, err := readHeader(fh)
		if err == nil && (env == nil || off <= 0 || off > int64(len(b))) {
			t.Fatalf("bad header result %v %d", env, off)
		}
	})
}

func TestADraftIsWrittenOnlyWhenSavedAndComesBackLocked(t *testing.T) {
	q := newQueue(t)
	msg := "Subject: draft\n\nbody\n"
	e := q.Draft(Envelope{Sender: "a@x", Rcpts: []Recipient{{Addr: "b@y"}}}, []byte(msg))
	if e.Stored() || e.Env.Size != int64(len(msg)) {
		t.Fatalf("draft stored %v, size %d", e.Stored(), e.Env.Size)
	}
	if ids, _ := q.IDs(); len(ids) != 0 {
		t.Fatalf("a draft is in the queue: %v", ids)
	}
	if b, _ := io.ReadAll(e.Message()); string(b) != msg {
		t.Fatalf("draft message %q", b)
	}
	if err := e.Remove(); err != nil {
		t.Fatalf("removing a draft: %v", err)
	}
	if err := e.Save(); err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := q.Lock(e.Env.ID); !errors.Is(err, ErrLocked) {
		t.Fatalf("lock of a saved draft: %v, want ErrLocked", err)
	}
	if b, _ := io.ReadAll(e.Message()); string(b) != msg {
		t.Fatalf("saved draft message %q", b)
	}
}

func TestFilesThatAreNotQueueFilesGoToCorruptAndTheRestArePickedUp(t *testing.T) {
	q := newQueue(t)
	md := filepath.Join(q.Dir, maildropDir)
	// A log file a user pointed into maildrop/, an empty file, a FIFO.
	os.WriteFile(filepath.Join(md, "0"), []byte("Nov 26 11:13:39 host sendmail[1]: junk\n"), 0o640)
	os.WriteFile(filepath.Join(md, "1"), nil, 0o640)
	if err := unix.Mkfifo(filepath.Join(md, "2"), 0o640); err != nil {
		t.Fatal(err)
	}
	good, err := q.Enqueue(Envelope{Sender: "a", Rcpts: []Recipient{{Addr: "b@x"}}}, strings.NewReader("x\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	good.Close()
	picked, err := q.Pickup()
	if len(picked) != 1 {
		t.Fatalf("picked %d messages, want the good one (%v)", len(picked), err)
	}
	picked[0].Close()
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Pickup error %v, want one naming the corrupt files", err)
	}
	for _, name := range []string{"0", "1", "2"} {
		if !strings.Contains(err.Error(), "maildrop/"+name+": ") {
			t.Errorf("error does not name maildrop/%s: %v", name, err)
		}
		if _, err := os.Lstat(filepath.Join(q.Dir, corruptDir, "maildrop-"+name)); err != nil {
			t.Errorf("maildrop/%s not in corrupt/: %v", name, err)
		}
	}
	if ids, _ := listIDs(md); len(ids) != 0 {
		t.Errorf("maildrop/ still holds %v", ids)
	}
	// The next run has nothing to trip on.
	if picked, err := q.Pickup(); err != nil || len(picked) != 0 {
		t.Errorf("second pickup: %d, %v", len(picked), err)
	}
}

func TestAnActiveFileThatIsNotAQueueFileGoesToCorrupt(t *testing.T) {
	q := newQueue(t)
	os.WriteFile(filepath.Join(q.Dir, activeDir, "ABC"), []byte("garbage\n"), 0o600)
	if _, err := q.Lock("ABC"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Lock = %v, want ErrCorrupt", err)
	}
	if ids, _ := q.IDs(); len(ids) != 0 {
		t.Errorf("active/ still holds %v", ids)
	}
}
