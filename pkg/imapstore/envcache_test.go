package imapstore

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

func TestAnEnvelopeReadsBackFromTheCacheAsItWasMade(t *testing.T) {
	for _, env := range []*imap.Envelope{
		{},
		{
			Date:      time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("", -7*3600)),
			Subject:   "Grüße",
			From:      []imap.Address{{Name: "Alice", Mailbox: "alice", Host: "example.org"}},
			To:        []imap.Address{{Mailbox: "team"}, {Name: "Bob", Mailbox: "bob", Host: "example.net"}, {}},
			InReplyTo: []string{"a@x", "b@y"},
			MessageID: "c@z",
		},
	} {
		got, ok := decodeEnvelope(encodeEnvelope(env))
		if !ok || !got.Date.Equal(env.Date) {
			t.Fatalf("decoded %+v %v, want %+v", got, ok, env)
		}
		_, z1 := got.Date.Zone()
		_, z2 := env.Date.Zone()
		got.Date, env.Date = time.Time{}, time.Time{}
		if z1 != z2 || !reflect.DeepEqual(got, env) {
			t.Errorf("decoded %+v (zone %d), want %+v (zone %d)", got, z1, env, z2)
		}
	}
}

func TestASecondFetchOfEveryEnvelopeReadsTheCacheAndAnswersTheSame(t *testing.T) {
	u := newUser(t)
	var msgs []string
	for i := 0; i < minIndexed; i++ {
		msgs = append(msgs, msg("number "+strings.Repeat("x", i%7), "body\n"))
	}
	u.deliver(u.inbox, msgs...)
	w := dial(t, u.store())
	w.ok("SELECT INBOX")
	first := w.ok("FETCH 1:* (ENVELOPE)")
	w.ok("UNSELECT") // the cache is saved as the folder is closed
	if _, err := os.Stat(envCachePath(u.inbox)); err != nil {
		t.Fatalf("no envelope cache: %v", err)
	}
	// Headers the cache stands in for are no longer read: make them lie.
	b, _ := os.ReadFile(u.inbox)
	os.WriteFile(u.inbox, []byte(strings.ReplaceAll(string(b), "Subject: number", "Subject: numbxr")), 0o600)
	w2 := dial(t, u.store())
	w2.ok("SELECT INBOX")
	second := w2.ok("FETCH 1:* (ENVELOPE)")
	if strings.ReplaceAll(first, "t2 OK", "t3 OK") != strings.ReplaceAll(second, "t2 OK", "t3 OK") || strings.Contains(second, "numbxr") {
		t.Fatalf("first:\n%.300s\nsecond:\n%.300s", first, second)
	}
}

func TestADamagedEnvelopeCacheIsBuiltAgain(t *testing.T) {
	u := newUser(t)
	u.deliver(u.inbox, msg("one", "1\n"))
	os.WriteFile(envCachePath(u.inbox), []byte(envCacheMagic+"\x01\x02\x03"), 0o600)
	w := dial(t, u.store())
	w.ok("SELECT INBOX")
	if out := w.ok("FETCH 1 ENVELOPE"); !strings.Contains(out, `"one"`) {
		t.Fatalf("FETCH:\n%s", out)
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	f.Add(encodeEnvelope(&imap.Envelope{Subject: "s", From: []imap.Address{{Name: "n", Mailbox: "m", Host: "h"}}, InReplyTo: []string{"i"}}))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, rec []byte) {
		env, ok := decodeEnvelope(rec)
		if !ok {
			return
		}
		// What decodes encodes back to the same bytes.
		if again := encodeEnvelope(env); string(again) != string(rec) {
			t.Fatalf("%q decoded and encoded as %q", rec, again)
		}
	})
}

func TestEveryEnvelopeOfABigFetchIsItsOwnMessages(t *testing.T) {
	u := newUser(t)
	var msgs []string
	for i := 1; i <= 3*aheadBatchLen+5; i++ {
		msgs = append(msgs, msg(fmt.Sprintf("number %d", i), "body\n"))
	}
	u.deliver(u.inbox, msgs...)
	w := dial(t, u.store())
	w.ok("SELECT INBOX")
	w.ok("FETCH 7 BODYSTRUCTURE") // its header parsed and kept already
	out := w.ok("FETCH 2:* (FLAGS ENVELOPE)")
	lines := strings.Split(strings.TrimSpace(out), "\r\n")
	if len(lines) != len(msgs) {
		t.Fatalf("%d lines for %d messages:\n%.500s", len(lines), len(msgs)-1, out)
	}
	for i, l := range lines[:len(lines)-1] {
		n := i + 2
		if !strings.HasPrefix(l, fmt.Sprintf("* %d FETCH (FLAGS (\\Recent) ENVELOPE (", n)) || !strings.Contains(l, fmt.Sprintf(`"number %d"`, n)) || !strings.Contains(l, fmt.Sprintf(`"<number.%d@example.org>"`, n)) {
			t.Fatalf("message %d: %s", n, l)
		}
	}
}

func TestTheEnvelopeCacheAnswersInAnyOrderAndLearnsNewMail(t *testing.T) {
	u := newUser(t)
	var msgs []string
	for i := 1; i <= minIndexed+44; i++ {
		msgs = append(msgs, msg(fmt.Sprintf("number %d", i), "body\n"))
	}
	u.deliver(u.inbox, msgs...)
	w := dial(t, u.store())
	w.ok("SELECT INBOX")
	w.ok("FETCH 1:* (ENVELOPE)")
	w.ok("UNSELECT")
	u.deliver(u.inbox, msg("number 301", "body\n"))
	for _, round := range []string{"first", "second"} {
		w2 := dial(t, u.store())
		w2.ok("SELECT INBOX")
		for _, n := range []int{250, 251, 3, 300, 301, 1, 150, 149, 301} {
			if out := w2.ok("FETCH %d (ENVELOPE)", n); !strings.Contains(out, fmt.Sprintf(`"number %d"`, n)) {
				t.Fatalf("%s round, message %d:\n%s", round, n, out)
			}
		}
		w2.ok("UNSELECT")
	}
	if left, _ := filepath.Glob(envCachePath(u.inbox) + ".tmp-*"); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
}

// Two messages with no Message-ID, of one size, from one sender in one
// second (a cron job's) share their fingerprint: each keeps its own
// ENVELOPE all the same.
func TestMessagesSharingAFingerprintKeepTheirOwnEnvelopes(t *testing.T) {
	u := newUser(t)
	u.deliver(u.inbox, "From: cron@example.org\nSubject: job A\n\nok\n", "From: cron@example.org\nSubject: job B\n\nok\n")
	w := dial(t, u.store())
	w.ok("SELECT INBOX")
	for _, want := range []string{`"job A"`, `"job B"`} {
		if out := w.ok("FETCH 1:2 (ENVELOPE)"); strings.Count(out, want) != 1 {
			t.Errorf("FETCH ENVELOPE lacks %s once:\n%s", want, out)
		}
	}
}

func TestEnvelopesLeftByAKilledSessionAreRemovedWhateverTheFolderIsCalled(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"plain", "odd[1]*?"} {
		folder := filepath.Join(dir, name)
		old := envCachePath(folder) + ".tmp-123"
		young := envCachePath(folder) + ".tmp-456"
		other := envCachePath(folder+"x") + ".tmp-789"
		for _, p := range []string{old, young, other} {
			if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		long := time.Now().Add(-staleAfter - time.Hour)
		os.Chtimes(old, long, long)
		os.Chtimes(other, long, long)
		loadEnvCache(folder, 1).close()
		for p, want := range map[string]bool{old: false, young: true, other: true} {
			if _, err := os.Stat(p); (err == nil) != want {
				t.Errorf("%s: there %v, want %v", filepath.Base(p), err == nil, want)
			}
		}
	}
}

// Every envelope fetched twice in one session is made twice (the
// workers look only in the saved cache), and written twice to the file
// of those made; the cache saved holds each once, and answers as the
// headers do.
func TestEnvelopesMadeTwiceInASessionAreSavedOnce(t *testing.T) {
	u := newUser(t)
	var msgs []string
	for i := 0; i < max(minIndexed, 2*aheadMin); i++ {
		msgs = append(msgs, msg(fmt.Sprintf("number %d", i), "body\n"))
	}
	u.deliver(u.inbox, msgs...)
	sizeAfter := func(fetches int) (int64, string) {
		t.Helper()
		os.Remove(envCachePath(u.inbox))
		w := dial(t, u.store())
		w.ok("SELECT INBOX")
		var out string
		for range fetches {
			out = w.ok("FETCH 1:* (ENVELOPE)")
		}
		w.ok("UNSELECT")
		st, err := os.Stat(envCachePath(u.inbox))
		if err != nil {
			t.Fatalf("no envelope cache: %v", err)
		}
		return st.Size(), out[strings.Index(out, "* 1 FETCH"):strings.LastIndex(out, "\r\nt")]
	}
	once, want := sizeAfter(1)
	twice, got := sizeAfter(2)
	if twice != once || got != want {
		t.Fatalf("cache of %d bytes after two FETCHes, %d after one; answers alike: %v", twice, once, got == want)
	}
	w := dial(t, u.store())
	w.ok("SELECT INBOX")
	if out := w.ok("FETCH 1:* (ENVELOPE)"); !strings.Contains(out, want) {
		t.Fatalf("the saved cache answers\n%.300s\nnot\n%.300s", out, want)
	}
}
