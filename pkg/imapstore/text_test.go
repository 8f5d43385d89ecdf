package imapstore

import (
	"bytes"
	"io"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

	"unixmail/internal/mboxgen"
	"unixmail/pkg/mbox"
)

// storedMessage is one message of an mbox: its index entry and the file.
type storedMessage struct {
	f *bytes.Reader
	e mbox.Entry
}

func storedMessages(t *testing.T, data []byte) []storedMessage {
	t.Helper()
	var out []storedMessage
	s := mbox.NewScanner(bytes.NewReader(data))
	for s.Next() {
		m := s.Message()
		out = append(out, storedMessage{bytes.NewReader(data), mbox.Entry{Offset: m.Offset, HeaderOffset: m.HeaderOffset,
			BodyOffset: m.BodyOffset, End: m.End, Next: m.Next, ContentLength: m.ContentLength, ClientSize: m.ClientSize}})
	}
	return out
}

// viewBodyHas is what SEARCH BODY means, done the plain way: the client's
// view of the message parsed, each leaf decoded by go-message, both sides
// made lower case.
func viewBodyHas(f io.ReaderAt, e *mbox.Entry, s string) bool {
	top := parseParts(view(f, e))
	found := false
	top.leaves(func(pt *part) bool {
		found = bytes.Contains(bytes.ToLower(viewLeafText(f, e, pt)), bytes.ToLower([]byte(s)))
		return !found
	})
	return found
}

func viewLeafText(f io.ReaderAt, e *mbox.Entry, pt *part) []byte {
	body := rangeOf(f, e, pt.bodyStart, pt.end)
	var r io.Reader = body
	if ent, err := gomessage.New(gomessage.Header{Header: pt.header}, body); err == nil || gomessage.IsUnknownCharset(err) {
		r = ent.Body
	}
	b, _ := io.ReadAll(r)
	return b
}

// someWords are needles for a message: words of its decoded text in
// other cases, and words in no message.
func someWords(f io.ReaderAt, e *mbox.Entry) []string {
	words := []string{"zyzzyva", "grüße", "KÖLN", "hidden word", "from "}
	parseParts(view(f, e)).leaves(func(pt *part) bool {
		fields := strings.Fields(string(viewLeafText(f, e, pt)))
		for i := 0; i < len(fields); i += 1 + len(fields)/5 {
			w := fields[i]
			words = append(words, strings.ToUpper(w), w)
			if i+1 < len(fields) {
				words = append(words, w+" "+fields[i+1])
			}
		}
		return true
	})
	return words
}

func searchCorpus(t *testing.T) map[string][]byte {
	t.Helper()
	corpus := map[string][]byte{}
	files, _ := filepath.Glob(filepath.Join("..", "mbox", "testdata", "fixtures", "*", "*.mbox"))
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		corpus[file] = data
	}
	var gen bytes.Buffer
	if _, err := mboxgen.Write(&gen, mboxgen.Options{Messages: 40, AvgSize: 3000, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	corpus["generated"] = gen.Bytes()
	var odd bytes.Buffer
	for _, m := range oddMessages {
		mbox.WriteMessage(&odd, mbox.FromLine("a@example.org", mboxgenEpoch), strings.NewReader(m))
	}
	corpus["odd"] = odd.Bytes()
	corpus["odd, CRLF"] = bytes.ReplaceAll(odd.Bytes(), []byte("\n"), []byte("\r\n"))
	return corpus
}

// oddMessages are the cases the fast paths must get right: quoting inside
// encoded parts, soft line breaks, charsets, nesting, no final line end.
var oddMessages = []string{
	"Subject: qp\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nSch=F6ne Gr=FC=DFe aus K=F6ln, hid=\nden word=\n\n>From the start=3D\nFrom here =\nFrom there\n",
	"Subject: b64\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\naGlkZGVuIHdvcmQ=\nQUFB\n",
	"Subject: b64 indented\nContent-Transfer-Encoding: base64\n\n aGlkZGVu\n\tIHdvcmQ=\n",
	"Subject: nested\nContent-Type: multipart/mixed; boundary=\"a b\"\n\npreamble zyzzyva\n--a b\nContent-Type: message/rfc822\n\nSubject: inner\nContent-Type: multipart/alternative; boundary=in\n\n--in\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nGr=C3=BC=C3=9Fe\n--in\nContent-Type: text/html\n\n<p>hidden <b>word</b></p>\n--in--\n--a b--\nepilogue\n",
	"Subject: unknown\nContent-Type: text/plain; charset=x-unknown\nContent-Transfer-Encoding: x-uuencode\n\nhidden word\n",
	"Subject: kelvin\nContent-Type: text/plain; charset=utf-8\n\nThe \u212aelvin sign and \u0130stanbul\n",
	"Subject: no end\n\nhidden word without a line end",
	"Subject: from lines\n\n>From here\n>>From there\nFrom\n",
	"Subject: dashes\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\n-- not a boundary\n--b-- no\n--bx\nhidden word\n--b\nContent-Transfer-Encoding: quoted-printable\n\nsecond=\n part\n--b--",
	"Subject: latin\nContent-Type: text/plain; charset=\"windows-1252\"\n\nna\xefve caf\xe9 \x80uro\n",
}

func TestSearchBodyFindsWhatDecodingTheClientsViewFinds(t *testing.T) {
	for name, data := range searchCorpus(t) {
		for k, sm := range storedMessages(t, data) {
			c := &candidate{rd: &storedReader{f: sm.f}, e: &sm.e, loaded: true, content: data[sm.e.HeaderOffset:sm.e.End]}
			big := &candidate{rd: &storedReader{f: sm.f}, e: &sm.e, loaded: true} // as if too big to hold
			for _, w := range someWords(sm.f, &sm.e) {
				want := viewBodyHas(sm.f, &sm.e, w)
				if got := c.bodyHas(w); got != want {
					t.Errorf("%s, message %d: BODY %q: %v, decoding the view says %v", name, k+1, w, got, want)
				}
				if got := big.bodyHas(w); got != want {
					t.Errorf("%s, message %d, streamed: BODY %q: %v, decoding the view says %v", name, k+1, w, got, want)
				}
			}
		}
	}
}

func TestSearchHeaderLeavesTheStateFieldsOut(t *testing.T) {
	data := []byte("From a@example.org Mon May  6 07:08:09 2024\nSubject: hello\nX-UID: 7\nStatus: RO\nX-Keywords: secret\n  more\nTo: bob\n\nbody\n")
	sm := storedMessages(t, data)[0]
	c := &candidate{rd: &storedReader{f: sm.f}, e: &sm.e}
	for _, tc := range []struct {
		key, value string
		want       bool
	}{
		{"Subject", "HELLO", true},
		{"To", "bob", true},
		{"X-Keywords", "", false},
		{"", "secret", false},
		{"", "more", false},
		{"", "x-uid", false},
	} {
		if got := c.headerHas(tc.key, tc.value); got != tc.want {
			t.Errorf("HEADER %q %q: %v, want %v", tc.key, tc.value, got, tc.want)
		}
	}
}

func TestNeedleMatchesAsBothSidesLowerCased(t *testing.T) {
	for _, tc := range []struct {
		text, needle string
	}{
		{"Hello World", "WORLD"},
		{"Hello World", "o w"},
		{"hello", "hello!"},
		{"The \u212aelvin", "kelvin"},
		{"\u0130stanbul", "istanbul"},
		{"GRÜSSE aus KÖLN", "köln"},
		{"abc", ""},
		{"zzzZZZzzq", "zzq"},
		{"", "a"},
	} {
		want := bytes.Contains(bytes.ToLower([]byte(tc.text)), bytes.ToLower([]byte(tc.needle)))
		if got := newNeedle(tc.needle).in([]byte(tc.text)); got != want {
			t.Errorf("%q in %q: %v, want %v", tc.needle, tc.text, got, want)
		}
	}
}

// The ASCII scan is exact only if no letter outside ASCII becomes an
// ASCII one in lower case, save those foldsToASCII lists.
func TestOnlyTheListedLettersLowerToASCII(t *testing.T) {
	for r := rune(utf8.RuneSelf); r <= unicode.MaxRune; r++ {
		if l := unicode.ToLower(r); l < utf8.RuneSelf {
			listed := false
			for _, f := range foldsToASCII {
				listed = listed || f.utf8 == string(r) && f.lower == byte(l)
			}
			if !listed {
				t.Errorf("%U lowers to %q and is not in foldsToASCII", r, l)
			}
		}
	}
}

func TestDecodeQPReadsAsTheStandardLibraryAndGoesOn(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a=3Db=\nc\n", "a=bc\n"},
		{"soft=\r\nbreak\r\n", "softbreak\r\n"},
		{"trailing   \n", "trailing\n"},
		{"=C3=bc\n", "\xc3\xbc\n"},
		{"a=zz b\n", "a=zz b\n"},
		{"end=", "end"},
		{"ctl\x01byte =4\n", "ctl\x01byte =4\n"},
	} {
		if got := string(decodeQP(nil, []byte(tc.in))); got != tc.want {
			t.Errorf("decodeQP(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzDecodeQP(f *testing.F) {
	f.Add("a=3Db=\nc\n")
	f.Add("x = y=\r\n=41\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		got := decodeQP(nil, []byte(in))
		want, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(in)))
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("decodeQP(%q) = %q, mime/quotedprintable %q", in, got, want)
		}
	})
}

func FuzzDecodeBase64(f *testing.F) {
	f.Add("aGlkZGVuIHdvcmQ=\nQUFB\n")
	f.Add(" aGlk\tZGVu\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		got := decodeBase64(nil, []byte(in))
		ent, _ := gomessage.New(gomessage.Header{Header: headerOf("Content-Transfer-Encoding: base64\n")}, strings.NewReader(in))
		want, err := io.ReadAll(ent.Body)
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("decodeBase64(%q) = %q, go-message %q", in, got, want)
		}
	})
}

// unquote with crlf makes what the client's view of the text is.
func FuzzUnquote(f *testing.F) {
	f.Add(">From a\n>>From b\r\nc\rd\n")
	f.Add("x\n>From ")
	f.Fuzz(func(t *testing.T, in string) {
		want, _ := io.ReadAll(newCRLF(mbox.NewUnquoter(strings.NewReader(in))))
		if got := unquote(nil, []byte(in), true); len(in) < 32<<10 && !bytes.Equal(got, want) {
			t.Fatalf("unquote(%q) = %q, the view is %q", in, got, want)
		}
		lf := strings.ReplaceAll(in, "\r", "")
		want, _ = io.ReadAll(mbox.NewUnquoter(strings.NewReader(lf)))
		if got := unquote(nil, []byte(lf), false); !bytes.Equal(got, want) {
			t.Fatalf("unquote(%q) = %q, the unquoter gives %q", lf, got, want)
		}
	})
}

func FuzzNeedle(f *testing.F) {
	f.Add("Hello World", "o w")
	f.Add("\u212a", "k")
	f.Fuzz(func(t *testing.T, text, needle string) {
		want := bytes.Contains(bytes.ToLower([]byte(text)), bytes.ToLower([]byte(needle)))
		if got := newNeedle(needle).in([]byte(text)); got != want {
			t.Fatalf("%q in %q: %v, want %v", needle, text, got, want)
		}
		if got := newNeedle(needle).inReader(strings.NewReader(text)); utf8.ValidString(text) && got != want {
			t.Fatalf("%q in %q, read: %v, want %v", needle, text, got, want)
		}
	})
}

var mboxgenEpoch = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func headerOf(raw string) textproto.Header { return parseHeader([]byte(raw)) }

func TestSearchSplitAcrossTwoCoresFindsWhatOneFinds(t *testing.T) {
	u := newUser(t)
	var gen bytes.Buffer
	if _, err := mboxgen.Write(&gen, mboxgen.Options{Messages: 60, AvgSize: 3000, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(u.inbox, gen.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	w := dial(t, u.store())
	w.ok("SELECT INBOX")
	keys := []string{"BODY zyzzyva", "BODY meeting", "TEXT user7", "SUBJECT budget", "OR BODY {5+}\r\nköln NOT FROM user1", "SENTSINCE 1-Jan-2026 BODY {7+}\r\nstraße"}
	search := func(k string) string {
		out := w.ok("SEARCH CHARSET UTF-8 %s", k)
		return out[:strings.Index(out, "\r\n")]
	}
	var whole []string
	for _, k := range keys {
		whole = append(whole, search(k))
	}
	defer func(was int64) { parallelMin = was }(parallelMin)
	parallelMin = 0
	for i, k := range keys {
		if got := search(k); got != whole[i] {
			t.Errorf("SEARCH %s split in two: %s, whole: %s", k, got, whole[i])
		}
	}
	if len(strings.Fields(whole[1])) < 10 || whole[0] != "* SEARCH" {
		t.Errorf("SEARCH BODY finds too little or too much: %s; %s", whole[0], whole[1])
	}
}
