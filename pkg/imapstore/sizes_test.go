package imapstore

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"unixmail/pkg/mbox"
)

// fetchedSizes reads a FETCH (RFC822.SIZE BODY.PEEK[]) reply: each
// message's RFC822.SIZE and the body sent with it.
func fetchedSizes(t *testing.T, out string) (sizes []int64, bodies []string) {
	t.Helper()
	head := regexp.MustCompile(`^\* \d+ FETCH \(.*RFC822\.SIZE (\d+) .*BODY\[\] \{(\d+)\}\r\n`)
	for len(out) > 0 {
		m := head.FindStringSubmatch(out)
		if m == nil {
			out = out[strings.Index(out, "\n")+1:]
			continue
		}
		size, _ := strconv.ParseInt(m[1], 10, 64)
		n, _ := strconv.Atoi(m[2])
		out = out[len(m[0]):]
		sizes, bodies = append(sizes, size), append(bodies, out[:n])
		out = out[n:]
	}
	return sizes, bodies
}

func TestRFC822SizeIsTheSizeOfBodyForEveryFixtureMessage(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "mbox", "testdata", "fixtures", "*", "*.mbox"))
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	long := strings.Repeat("x", 70<<10)
	odd := map[string]string{
		"no line end at the end":       "From a@b Sat Jan  3 01:05:34 1996\nS: x\n\nbody\r",
		"a header ending the file":     "From a@b Sat Jan  3 01:05:34 1996\nS: x\nX-Status: F",
		"a long state field":           "From a@b Sat Jan  3 01:05:34 1996\nX-Keywords: " + long + "\nS: x\n\nb\n",
		"a long line and a quoted one": "From a@b Sat Jan  3 01:05:34 1996\nS: x\n\n" + long + long + "\r\n>From x\r\n",
		"a quoting run past a read":    "From a@b Sat Jan  3 01:05:34 1996\nS: x\n\n" + strings.Repeat(">", 70<<10) + "From me\n",
		"lone CRs and a spaced name":   "From a@b Sat Jan  3 01:05:34 1996\nStatus : RO\nS: \rx\n\n\r\r\n\r",
	}
	for _, file := range files {
		data, _ := os.ReadFile(file)
		odd[filepath.Base(filepath.Dir(file))+"/"+filepath.Base(file)] = string(data)
	}
	for name, data := range odd {
		t.Run(name, func(t *testing.T) {
			u := newUser(t)
			if err := os.WriteFile(u.inbox, []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
			w := dial(t, u.store())
			out := w.do("SELECT INBOX")
			if !strings.Contains(lastLine(out), "OK") {
				t.Skipf("not a mailbox we select: %s", lastLine(out))
			}
			n, _ := strconv.Atoi(regexp.MustCompile(`\* (\d+) EXISTS`).FindStringSubmatch(out)[1])
			if n == 0 {
				return
			}
			sizes, bodies := fetchedSizes(t, w.ok("FETCH 1:* (RFC822.SIZE BODY.PEEK[])"))
			if len(sizes) != n {
				t.Fatalf("%d messages fetched of %d", len(sizes), n)
			}
			var total int64
			for i, body := range bodies {
				total += sizes[i]
				if int64(len(body)) != sizes[i] {
					t.Errorf("message %d: RFC822.SIZE %d, BODY[] of %d bytes", i+1, sizes[i], len(body))
				}
				hdr, _, _ := strings.Cut(body, "\r\n\r\n")
				for _, line := range strings.SplitAfter(hdr, "\r\n") {
					if line != "" && line[0] != ' ' && line[0] != '\t' && mbox.StateFieldLine([]byte(line), false) {
						t.Errorf("message %d shows a state field: %.80q", i+1, line)
					}
				}
				if bytes.Contains([]byte(strings.ReplaceAll(body, "\r\n", "")), []byte("\n")) {
					t.Errorf("message %d has a bare LF", i+1)
				}
			}
			status := w.ok("STATUS INBOX (SIZE)")
			if !strings.Contains(status, "SIZE "+strconv.FormatInt(total, 10)+")") {
				t.Errorf("STATUS SIZE is not the sum of the sizes, %d: %s", total, status)
			}
		})
	}
}

func TestBinaryUndoesTheTransferEncodingOfEachPart(t *testing.T) {
	u := newUser(t)
	u.deliver(u.inbox, "Subject: encoded\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Transfer-Encoding: quoted-printable\n\nna=C3=AFve =\ncaf=C3=A9\n>From here\n--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\naGlkZGVu\nIHdvcmQ=\n--b\nContent-Transfer-Encoding: x-unknown\n\nas is\n--b--\n")
	w := dial(t, u.store())
	w.ok("SELECT INBOX")
	for _, tc := range []struct{ item, want string }{
		{"BINARY.PEEK[1]", "BINARY[1] ~{24}\r\nna\u00efve caf\u00e9\r\n>From here)"},
		{"BINARY.PEEK[2]", "BINARY[2] ~{11}\r\nhidden word)"},
		{"BINARY.PEEK[2]<7.4>", " ~{4}\r\nword)"},
		{"BINARY.SIZE[2]", "BINARY.SIZE[2] 11"},
		{"BINARY.PEEK[3]", "NO [UNKNOWN-CTE]"}, // RFC 3516 4.3: not sent as it is
		{"BINARY.SIZE[9]", "BINARY.SIZE[9] 0"},
	} {
		if out := w.do("FETCH 1 (%s)", tc.item); !strings.Contains(out, tc.want) {
			t.Errorf("FETCH %s:\n%s\nwant %q", tc.item, out, tc.want)
		}
	}
}
