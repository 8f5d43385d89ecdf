package imapstore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"unixmail/internal/mboxgen"
	"unixmail/pkg/mbox"
)

// benchUser is a user whose INBOX is a generated mailbox of n messages
// (bench-imap.sh runs the 1 GB one through the real binaries).
func benchUser(b *testing.B, n int) *testUser {
	b.Helper()
	dir := b.TempDir()
	u := &testUser{dir: dir, inbox: filepath.Join(dir, "Mailbox"), mail: filepath.Join(dir, "mail")}
	os.MkdirAll(u.mail, 0o700)
	f, err := os.Create(u.inbox)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := mboxgen.Write(f, mboxgen.Options{Messages: n, AvgSize: 2000, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	f.Close()
	return u
}

// selectOnce runs one session: SELECT, then the commands, then LOGOUT.
func selectOnce(b *testing.B, u *testUser, cmds ...string) {
	t := &testing.T{}
	w := dial(t, u.store())
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
