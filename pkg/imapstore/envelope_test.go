package imapstore

import (
	"bytes"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"unixmail/internal/mboxgen"
	"unixmail/pkg/mbox"
)

// libraryEnvelope is the ENVELOPE as the library makes it from the
// header header() parses: what envelopeOf must give.
func libraryEnvelope(raw []byte) *imap.Envelope {
	return imapserver.ExtractEnvelope((&partParser{src: &memLines{b: raw}}).header(true, false))
}

// envelopeDiff says how two envelopes differ, dates compared as the
// client sees them (instant and zone offset), "" when they do not.
func envelopeDiff(got, want *imap.Envelope) string {
	_, gz := got.Date.Zone()
	_, wz := want.Date.Zone()
	if got.Date.IsZero() != want.Date.IsZero() || !got.Date.Equal(want.Date) || gz != wz {
		return fmt.Sprintf("date %v, want %v", got.Date, want.Date)
	}
	g, w := *got, *want
	g.Date, w.Date = time.Time{}, time.Time{}
	if !reflect.DeepEqual(g, w) {
		return fmt.Sprintf("%+v, want %+v", g, w)
	}
	return ""
}

// headerBlocks gives the stored header of every message of the mbox files
// (and whole-message .eml files) in the repository's testdata.
func headerBlocks(t *testing.T) map[string][]byte {
	t.Helper()
	blocks := map[string][]byte{}
	for _, pattern := range []string{"../*/testdata/*.mbox", "../*/testdata/*/*.mbox", "../*/testdata/*/*/*.mbox", "../../cmd/*/testdata/*.mbox"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			s := mbox.NewScanner(f)
			for i := 0; s.Next(); i++ {
				blocks[fmt.Sprintf("%s #%d", file, i+1)] = bytes.Clone(s.Message().Header)
			}
			f.Close()
		}
	}
	emls, _ := filepath.Glob("../*/testdata/*.eml")
	for _, file := range emls {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		blocks[file] = b
	}
	return blocks
}

func TestEnvelopeOfEveryFixtureIsTheLibrarys(t *testing.T) {
	blocks := headerBlocks(t)
	if len(blocks) < 50 {
		t.Fatalf("only %d messages found in testdata", len(blocks))
	}
	for name, raw := range blocks {
		if d := envelopeDiff(envelopeOf(raw), libraryEnvelope(raw)); d != "" {
			t.Errorf("%s: %s", name, d)
		}
	}
}

func TestEnvelopeOfGeneratedMailIsTheLibrarys(t *testing.T) {
	var buf bytes.Buffer
	if _, err := mboxgen.Write(&buf, mboxgen.Options{Messages: 500, AvgSize: 2000, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	s := mbox.NewScanner(&buf)
	n := 0
	for ; s.Next(); n++ {
		raw := s.Message().Header
		if d := envelopeDiff(envelopeOf(raw), libraryEnvelope(raw)); d != "" {
			t.Errorf("message %d: %s\n%s", n+1, d, raw)
		}
	}
	if n != 500 {
		t.Fatalf("read %d messages", n)
	}
}

func TestEnvelopeOfOddHeadersIsTheLibrarys(t *testing.T) {
	for _, raw := range envelopeSeeds {
		if d := envelopeDiff(envelopeOf([]byte(raw)), libraryEnvelope([]byte(raw))); d != "" {
			t.Errorf("%q: %s", raw, d)
		}
	}
}

// A maker used for one message after another (as FETCH's workers use
// it) gives each the envelope the library gives, nothing left over from
// the one before (a Cc, a second address, an In-Reply-To).
func TestAnEnvelopeMakerUsedAgainGivesEachMessageTheLibrarysEnvelope(t *testing.T) {
	var raws [][]byte
	for _, raw := range headerBlocks(t) {
		raws = append(raws, raw)
	}
	for _, raw := range envelopeSeeds {
		raws = append(raws, []byte(raw))
	}
	var m envelopeMaker
	var prev []byte
	for _, raw := range append(raws, raws...) {
		env := m.make(raw)
		if d := envelopeDiff(env, libraryEnvelope(raw)); d != "" {
			t.Errorf("%q after %q: %s", raw, prev, d)
		}
		if got, want := appendRecord(nil, env), appendRecord(nil, envelopeOf(raw)); !bytes.Equal(got, want) {
			t.Errorf("%q after %q: record %q, want %q", raw, prev, got, want)
		}
		prev = raw
	}
}

// envelopeSeeds are headers at the edges of what a parse accepts; they
// seed FuzzEnvelopeOf too.
var envelopeSeeds = []string{
	"",
	"\n",
	"Subject: plain\n\n",
	"subject: lower case name\r\n\r\n",
	"SUBJECT : spaces before the colon\nFrom: a@b\n\n",
	" Subject: a continuation first\n\n",
	"Status: RO\nSubject: after a state field\n\n",
	"Status: RO\n continued state\nSubject: x\n\n",
	"X-UID: 5\n Subject: a state field's continuation\n\n",
	"Subject: folded\n  over\n\tthree lines\n\n",
	"Subject: \n  \n starts on the next line\n\n",
	"Subject: one\nSubject: two\n\n",
	"Subject: x\nno colon here\nFrom: a@b\n\n",
	"Subject: x\nBad Name: y\nFrom: a@b\n\n",
	"Subject: x\n: empty name\n continued\nFrom: a@b\n\n",
	"Subject: cr\r\r\nFrom: a@b\r\n\r\n",
	"Subject: inner\rcr\n\n",
	"Subject: no line end at all",
	"Subject: last line\r",
	"Subject: blank of CRs\n\r\r\nFrom: a@b\n\n",
	"Subject: =?UTF-8?B?S8O2bG4=?=\n\n",
	"Subject: =?ISO-8859-1?Q?caf=E9?= and =?bogus?X?y?=\n\n",
	"Subject: =?windows-1252?Q?=80uro?= =?KOI8-R?B?8NLJ18XU?= =?us-ascii?q?plain?=\n\n",
	"Subject: =?x-no-such-charset?Q?abc?= tail\n\n",
	"Subject: =?utf-8?B?not base64!?= =?UTF-8?Q?=FF=FE?=\n\n",
	"From: Alice <alice@example.org>, bob@example.net\nTo: undisclosed-recipients:;\nCc: Team: c@d, e@f;\n\n",
	"From: \"Doe, John\" <john@example.org>\nSender: =?UTF-8?Q?J=C3=B6rg?= <j@x>\nReply-To: no-at-sign\n\n",
	"From: User 0 <user0@example.org>\nTo: bob@example.net, c.d@e.f, Team <t@x.y>\nIn-Reply-To: <x.y@z>\nMessage-ID: <1.2@h>\n\n",
	"From: A  B <a@b>\nTo: a@b,c@d\nCc: .a@b, a..b@c, a@b., a@[1.2.3.4]\nSender: a@b (comment)\n\n",
	"From: =?UTF-8?Q?x?= <a@b>\nTo: a=b <c@d>, <e@f>\nMessage-ID: <a@b@c>\nIn-Reply-To: <a@b> <c@d>\n\n",
	"Bcc: (comment) a@b (another)\nIn-Reply-To: <a@b> <c@d>\nMessage-ID: <id@host>\n\n",
	"In-Reply-To: <a@b> junk <c@d>\nMessage-Id: no brackets\n\n",
	"Message-ID:\n <folded@host>\n\n",
	"Date: Thu, 01 Jan 2026 00:00:00 +0000\n\n",
	"Date: Thu, 1 Jan 2026 23:59:59 -0130\n\n",
	"Date: thu, 01 jan 2026 00:00:00 +0000\n\n",
	"Date: 1 Jan 2026 00:00:00 +0000\n\n",
	"Date: Thu, 01 Jan 2026 00:00 +0000\n\n",
	"Date: Thu, 01 Jan 2026 00:00:00 +0000 (UTC)\n\n",
	"Date: Thu, 01 Jan 2026 00:00:00 GMT\n\n",
	"Date: Thu, 01 Jan 26 00:00:00 +0000\n\n",
	"Date: Sun, 29 Feb 2026 00:00:00 +0000\n\n",
	"Date: Sun, 29 Feb 2028 00:00:00 +0000\n\n",
	"Date: Thu, 01 Jan 2026 24:00:00 +0000\n\n",
	"Date: Thu, 01 Jan 2026 00:00:60 +0000\n\n",
	"Date: Thu, 01 Jan 2026 00:00:00 +2400\n\n",
	"Date: Thu, 01 Jan 2026 00:00:00 +0060\n\n",
	"Date: Thu, 00 Jan 2026 00:00:00 +0000\n\n",
	"Date: Thu,  1 Jan 2026 00:00:00 +0000\n\n",
	"Date: Thu, 01 Jan 2026\n 00:00:00 +0000\n\n",
	"Date: garbage\n\n",
}

func FuzzEnvelopeOf(f *testing.F) {
	for _, s := range envelopeSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if d := envelopeDiff(envelopeOf([]byte(raw)), libraryEnvelope([]byte(raw))); d != "" {
			t.Fatalf("%q: %s", raw, d)
		}
	})
}

// FuzzParseDate: a date read directly is the one net/mail reads.
func FuzzParseDate(f *testing.F) {
	for _, s := range envelopeSeeds {
		if v, ok := strings.CutPrefix(s, "Date: "); ok {
			f.Add(strings.TrimSpace(v))
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := quickDate(s)
		if !ok {
			return
		}
		want, err := mail.ParseDate(s)
		_, gz := got.Zone()
		_, wz := want.Zone()
		if err != nil || !got.Equal(want) || gz != wz {
			t.Fatalf("%q: %v, net/mail %v (%v)", s, got, want, err)
		}
	})
}

// FuzzQuickValues: a field value read directly gives what the library's
// parsers give it.
func FuzzQuickValues(f *testing.F) {
	for _, s := range []string{"User 0 <user0@example.org>", "a@b, C D <c.d@e.f>", "<id.1@host>", "A <a@b>, b@c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, ok := quickAddresses(nil, s); ok {
			if want := imapserver.ExtractEnvelope(libraryHeader("From", s).Header.Header).From; !reflect.DeepEqual(got, want) {
				t.Fatalf("%q: %+v, the library %+v", s, got, want)
			}
		}
		if got, ok := quickMsgID(s); ok {
			env := imapserver.ExtractEnvelope(libraryHeader("Message-Id", s).Header.Header)
			irt := imapserver.ExtractEnvelope(libraryHeader("In-Reply-To", s).Header.Header)
			if env.MessageID != got || len(irt.InReplyTo) != 1 || irt.InReplyTo[0] != got {
				t.Fatalf("%q: %q, the library %q and %q", s, got, env.MessageID, irt.InReplyTo)
			}
		}
	})
}

// blank and trimBlanks, written out by hand for speed, agree with what
// the bytes package says.
func TestBlankAndTrimBlanksAgreeWithTheBytesPackage(t *testing.T) {
	for _, l := range []string{"", "\n", "\r\n", "\r\r\n", "\r", " \n", "a\n", "\n\n", " \t x \t\n", "\t", "x"} {
		b := []byte(l)
		if want := len(b) == 0 || len(bytes.TrimRight(b, "\r\n")) == 0 && bytes.HasSuffix(b, []byte("\n")); blank(b) != want {
			t.Errorf("blank(%q) = %v", l, !want)
		}
		if want := bytes.TrimRight(bytes.TrimLeft(b, " \t"), " \t"); string(trimBlanks(b)) != string(want) {
			t.Errorf("trimBlanks(%q) = %q, want %q", l, trimBlanks(b), want)
		}
	}
}
