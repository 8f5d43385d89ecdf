package imapstore

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"unixmail/internal/mboxgen"
	"unixmail/pkg/mbox"
)

// benchUser is a user whose INBOX is a generated mailbox of n messages
// (bench-imap.sh runs the 1 GB one through the real binaries).
func benchUser(b *testing.B, n int) *testUser {
	u, _ := benchUserSized(b, n, 2000)
	return u
}

// benchUserSized is benchUser with messages of avg bytes on average; it
// gives the mailbox's size too.
func benchUserSized(b *testing.B, n, avg int) (*testUser, int64) {
	b.Helper()
	dir := b.TempDir()
	u := &testUser{dir: dir, inbox: filepath.Join(dir, "Mailbox"), mail: filepath.Join(dir, "mail")}
	os.MkdirAll(u.mail, 0o700)
	f, err := os.Create(u.inbox)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	size, err := mboxgen.Write(f, mboxgen.Options{Messages: n, AvgSize: avg, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	return u, size
}

// selectOnce runs one session: SELECT, then the commands, then LOGOUT.
func selectOnce(b *testing.B, u *testUser, cmds ...string) {
	b.Helper()
	w := dial(b, u.store())
	if out := w.do("SELECT INBOX"); !strings.Contains(lastLine(out), "OK") {
		b.Fatalf("SELECT: %s", lastLine(out))
	}
	for _, c := range cmds {
		if out := w.do("%s", c); !strings.Contains(lastLine(out), "OK") {
			b.Fatalf("%s: %s", c, lastLine(out))
		}
	}
	w.do("LOGOUT")
}

func BenchmarkSelectWithoutIndex(b *testing.B) {
	u := benchUser(b, 20000)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		os.Remove(mbox.IndexPath(u.inbox))
		b.StartTimer()
		selectOnce(b, u)
	}
}

func BenchmarkSelectWithIndex(b *testing.B) {
	u := benchUser(b, 20000)
	selectOnce(b, u)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		selectOnce(b, u)
	}
}

func BenchmarkFetchAllEnvelopes(b *testing.B) {
	u := benchUser(b, 20000)
	selectOnce(b, u)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		selectOnce(b, u, "FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)")
	}
}

// benchSelected is a session on a generated mailbox of n messages of the
// size bench-imap.sh uses (21.4 KB on average: text, quoted-printable,
// base64 attachments), selected read-only once UIDs are in place.
func benchSelected(b *testing.B, n int) (*Session, int64) {
	b.Helper()
	u, size := benchUserSized(b, n, 21400)
	selectOnce(b, u)
	s := NewPreauthSession(u.store())
	b.Cleanup(func() { s.Close() })
	if _, err := s.Select("INBOX", &imap.SelectOptions{ReadOnly: true}); err != nil {
		b.Fatal(err)
	}
	return s, size
}

func benchSearch(b *testing.B, criteria *imap.SearchCriteria) {
	s, size := benchSelected(b, 2000)
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		if _, err := s.Search(imapserver.NumKindUID, criteria, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// A word in no message: every message is read and every part decoded.
func BenchmarkSearchBodyAbsentWord(b *testing.B) {
	benchSearch(b, &imap.SearchCriteria{Body: []string{"zyzzyva"}})
}

// A word in most messages: found early in each.
func BenchmarkSearchBodyCommonWord(b *testing.B) {
	benchSearch(b, &imap.SearchCriteria{Body: []string{"meeting"}})
}

func BenchmarkSearchTextAbsentWord(b *testing.B) {
	benchSearch(b, &imap.SearchCriteria{Text: []string{"zyzzyva"}})
}

func BenchmarkSearchSubject(b *testing.B) {
	benchSearch(b, &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "budget"}}})
}

// FETCH 1:100 BODY.PEEK[] over a connection, as a client sees it.
func BenchmarkFetchBody100(b *testing.B) {
	u, _ := benchUserSized(b, 200, 21400)
	w := dial(b, u.store())
	w.ok("SELECT INBOX")
	b.ResetTimer()
	for range b.N {
		if out := w.ok("FETCH 1:100 BODY.PEEK[]"); !strings.Contains(out, "* 100 FETCH") {
			b.Fatalf("short reply: %.200s", out)
		}
	}
}

// BenchmarkAppendToBigSelectedFolder appends ~1 KB messages to the selected
// INBOX of 50,000 messages (100 MB: lazy UIDs), one APPEND per iteration:
// each should cost what it appends, not the folder's size.
func BenchmarkAppendToBigSelectedFolder(b *testing.B) {
	u := benchUser(b, 50000)
	w := dial(b, u.store())
	w.ok("SELECT INBOX")
	msg := "Subject: appended\r\n\r\n" + strings.Repeat("a line of the appended message, padded to eighty characters or so.......\r\n", 12)
	b.ResetTimer()
	for range b.N {
		w.ok("APPEND INBOX {%d+}\r\n%s", len(msg), msg)
	}
	b.StopTimer()
	w.do("LOGOUT")
}

// benchHeaders are the stored headers of n generated messages.
func benchHeaders(b *testing.B, n int) [][]byte {
	var buf bytes.Buffer
	if _, err := mboxgen.Write(&buf, mboxgen.Options{Messages: n, AvgSize: 2000, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	var out [][]byte
	for s := mbox.NewScanner(&buf); s.Next(); {
		out = append(out, bytes.Clone(s.Message().Header))
	}
	return out
}

// ENVELOPE from a stored header, per message: the way FETCH makes it...
func BenchmarkEnvelopeOf(b *testing.B) {
	hs := benchHeaders(b, 1000)
	b.ResetTimer()
	for i := range b.N {
		envelopeOf(hs[i%len(hs)])
	}
}

// ...and the library's way, from the parsed header.
func BenchmarkEnvelopeByLibrary(b *testing.B) {
	hs := benchHeaders(b, 1000)
	b.ResetTimer()
	for i := range b.N {
		libraryEnvelope(hs[i%len(hs)])
	}
}

// ...and the envelope cache record of each, as FETCH's workers make it
// (one maker and one buffer used again).
func BenchmarkRecordOf(b *testing.B) {
	hs := benchHeaders(b, 1000)
	var m envelopeMaker
	var rec []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		rec = appendRecord(rec[:0], m.make(hs[i%len(hs)]))
	}
}
