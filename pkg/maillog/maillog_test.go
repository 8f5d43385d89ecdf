package maillog

import (
	"bytes"
	"errors"
	"fmt"
	"log/syslog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a stderr stand-in that the race detector accepts.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lineRE is a syslog-style line: "Nov 26 11:13:39 HOST deliver[PID]: MESSAGE".
var lineRE = regexp.MustCompile(`^[A-Z][a-z]{2} [ 1-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9] [^ ]+ deliver\[[0-9]+\]: (.*)$`)

// messages checks that every line of log text is syslog-style and returns
// the messages.
func messages(t *testing.T, text string) []string {
	t.Helper()
	if text != "" && !strings.HasSuffix(text, "\n") {
		t.Errorf("log does not end in a newline: %q", text)
	}
	if text == "" {
		return nil
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		m := lineRE.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("line %q is not syslog-style", line)
			continue
		}
		out = append(out, m[1])
	}
	return out
}

func noSyslog() (*syslog.Writer, error) { return nil, errors.New("no /dev/log") }

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFileGetsOneLinePerEvent(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mail.log")
	l := New(p, "deliver", false)
	l.Info("to=<%s> status=sent", "alice")
	l.Warn("two\nlines\r\nhere")
	l.Error("bell\a and nul\x00 and tab\t")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got := messages(t, readFile(t, p))
	want := []string{
		"to=<alice> status=sent",
		"warning: two lines  here",
		"error: bell? and nul? and tab\t",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("messages %q, want %q", got, want)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o027 != 0 || perm&0o600 != 0o600 {
		t.Errorf("log file mode %v, want 0640 less the umask", perm)
	}
}

func TestFileIsAppendedTo(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mail.log")
	if err := os.WriteFile(p, []byte("old line\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	l := New(p, "deliver", false)
	l.Info("new")
	l.Close()
	text := readFile(t, p)
	if !strings.HasPrefix(text, "old line\n") {
		t.Fatalf("old content lost: %q", text)
	}
	if got := messages(t, strings.TrimPrefix(text, "old line\n")); len(got) != 1 || got[0] != "new" {
		t.Errorf("appended %q", got)
	}
}

// TestConcurrentWritersKeepLinesWhole has goroutines share one Logger and
// two Loggers share one file, as two deliver processes would.
func TestConcurrentWritersKeepLinesWhole(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mail.log")
	loggers := []*Logger{New(p, "deliver", false), New(p, "deliver", false)}
	const writers, events = 8, 200
	long := strings.Repeat("x", 300)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			l := loggers[w%len(loggers)]
			for i := range events {
				l.Info("writer=%d event=%d %s", w, i, long)
			}
		})
	}
	wg.Wait()
	for _, l := range loggers {
		l.Close()
	}
	got := messages(t, readFile(t, p))
	if len(got) != writers*events {
		t.Fatalf("%d lines, want %d", len(got), writers*events)
	}
	seen := map[string]bool{}
	for _, m := range got {
		seen[m] = true
	}
	for w := range writers {
		for i := range events {
			if m := fmt.Sprintf("writer=%d event=%d %s", w, i, long); !seen[m] {
				t.Fatalf("missing or torn: %q", m)
			}
		}
	}
}

func TestUnopenableFileFallsBackToStderr(t *testing.T) {
	p := filepath.Join(t.TempDir(), "no", "such", "dir", "mail.log")
	var stderr syncBuffer
	l := open(p, "deliver", false, &stderr, noSyslog)
	l.Info("delivered")
	got := messages(t, stderr.String())
	if len(got) != 2 || !strings.Contains(got[0], "warning: cannot open log "+p) || got[1] != "delivered" {
		t.Errorf("stderr got %q", got)
	}
}

func TestQuietFallbackWritesNothing(t *testing.T) {
	var stderr syncBuffer
	for _, dest := range []string{"syslog", filepath.Join(t.TempDir(), "no", "mail.log")} {
		l := open(dest, "deliver", true, &stderr, noSyslog)
		l.Error("lost")
		l.Close()
	}
	if s := stderr.String(); s != "" {
		t.Errorf("quiet fallback wrote %q", s)
	}
}

// A program whose stderr someone else reads (deliver's is quoted in
// bounces) logs to syslog when its log file cannot be opened, never to
// stderr.
func TestQuietFallbackFromAnUnopenableFileIsSyslog(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var stderr syncBuffer
	p := filepath.Join(t.TempDir(), "no", "mail.log")
	l := open(p, "deliver", true, &stderr, func() (*syslog.Writer, error) {
		return syslog.Dial("unixgram", sock, syslog.LOG_MAIL|syslog.LOG_INFO, "deliver")
	})
	defer l.Close()
	l.Info("to=<bob> status=sent")
	buf := make([]byte, 4096)
	for _, want := range []string{"warning: cannot open log " + p, "to=<bob> status=sent"} {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := conn.Read(buf)
		if err != nil || !strings.Contains(string(buf[:n]), want) {
			t.Errorf("syslog got %q (%v), want %q", buf[:n], err, want)
		}
	}
	if s := stderr.String(); s != "" {
		t.Errorf("stderr got %q", s)
	}
}

func TestUnreachableSyslogFallsBackToStderr(t *testing.T) {
	var stderr syncBuffer
	l := open("syslog", "deliver", false, &stderr, noSyslog)
	l.Info("to=<bob> status=sent")
	if got := messages(t, stderr.String()); len(got) != 1 || got[0] != "to=<bob> status=sent" {
		t.Errorf("stderr got %q", got)
	}
}

func TestStderrDestination(t *testing.T) {
	var stderr syncBuffer
	l := open("stderr", "deliver", true, &stderr, noSyslog)
	l.Warn("disk %d%% full", 95)
	if got := messages(t, stderr.String()); len(got) != 1 || got[0] != "warning: disk 95% full" {
		t.Errorf("stderr got %q", got)
	}
}

// TestSyslogGetsFacilityMailAndSeverity runs a syslog daemon stand-in on a
// Unix datagram socket and checks the priority of each event (RFC 3164:
// facility mail is 2, so info is <22>, warning <20>, error <19>).
func TestSyslogGetsFacilityMailAndSeverity(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	l := open("syslog", "deliver", false, &syncBuffer{}, func() (*syslog.Writer, error) {
		return syslog.Dial("unixgram", sock, syslog.LOG_MAIL|syslog.LOG_INFO, "deliver")
	})
	l.Info("to=<alice> status=sent")
	l.Warn("slow\ndisk")
	l.Error("failed")
	defer l.Close()
	want := []struct{ pri, msg string }{
		{"<22>", "deliver[%d]: to=<alice> status=sent\n"},
		{"<20>", "deliver[%d]: warning: slow disk\n"},
		{"<19>", "deliver[%d]: error: failed\n"},
	}
	buf := make([]byte, 4096)
	for _, w := range want {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got := string(buf[:n])
		if !strings.HasPrefix(got, w.pri) || !strings.HasSuffix(got, fmt.Sprintf(w.msg, os.Getpid())) {
			t.Errorf("syslog got %q, want %s...%q", got, w.pri, fmt.Sprintf(w.msg, os.Getpid()))
		}
	}
}

func TestDiscardAndNilAndClosedLoggersWriteNothing(t *testing.T) {
	var nilLogger *Logger
	p := filepath.Join(t.TempDir(), "mail.log")
	closed := New(p, "deliver", false)
	closed.Close()
	for _, l := range []*Logger{Discard(), nilLogger, closed} {
		l.Info("x")
		l.Warn("x")
		l.Error("x")
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	if text := readFile(t, p); text != "" {
		t.Errorf("closed logger wrote %q", text)
	}
}
