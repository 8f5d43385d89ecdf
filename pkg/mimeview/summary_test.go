package mimeview

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pySummary has python's mailbox module split each fixture mbox and its
// email package decode what a header listing shows; it hands over the raw
// header block so Summary sees exactly the bytes a mailbox reader would.
const pySummary = `
import email.policy, email.utils, json, mailbox, sys
out = []
box = mailbox.mbox(sys.argv[1], factory=None, create=False)
for key in box.keys():
    raw = box.get_bytes(key)
    hdr = raw.split(b'\n\n', 1)[0] + b'\n'
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    d = msg['Date']
    out.append({'header': hdr.decode('latin-1'), 'from': str(msg['From'] or ''),
                'subject': str(msg['Subject'] or ''),
                'date': int(email.utils.parsedate_to_datetime(d).timestamp()) if d else 0})
json.dump(out, sys.stdout)
`

func TestSummaryAgreesWithPythonOnFixtureMailboxes(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("python3 not installed")
		}
		t.Fatal("python3 not installed")
	}
	files, _ := filepath.Glob("testdata/*.mbox")
	if len(files) == 0 {
		t.Fatal("no mbox fixtures")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			out, err := exec.Command(py, "-c", pySummary, f).Output()
			if err != nil {
				t.Fatalf("python: %v", err)
			}
			var msgs []struct {
				Header, From, Subject string
				Date                  int64
			}
			if err := json.Unmarshal(out, &msgs); err != nil {
				t.Fatal(err)
			}
			for i, m := range msgs {
				// Back to the raw bytes (python sent them as Latin-1).
				raw := make([]byte, 0, len(m.Header))
				for _, r := range m.Header {
					raw = append(raw, byte(r))
				}
				from, subject, date := Summary(raw)
				if from != m.From {
					t.Errorf("message %d: from %q, python %q", i+1, from, m.From)
				}
				if subject != strings.Join(strings.Fields(m.Subject), " ") {
					t.Errorf("message %d: subject %q, python %q", i+1, subject, m.Subject)
				}
				if m.Date != 0 && date.Unix() != m.Date || m.Date == 0 && !date.IsZero() {
					t.Errorf("message %d: date %v, python %v", i+1, date, time.Unix(m.Date, 0))
				}
			}
		})
	}
}

func TestSummaryReadsFoldedAndOddlyWrittenFields(t *testing.T) {
	for _, tc := range []struct {
		name, hdr, from, subject, date string
	}{
		{"CRLF and folding",
			"From alice@example.org  Wed Nov 25 17:24:14 2026\r\nsubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n =?utf-8?q?_aus_K=C3=B6ln?=\r\nFROM: Alice\r\n\t<alice@example.org>\r\nDate: Wed, 25 Nov 2026 17:12:00 +0100\r\n\r\nSubject: body, not header\r\n",
			"Alice <alice@example.org>", "Grüße aus Köln", "2026-11-25T16:12:00Z"},
		{"first of repeated fields, comment in date",
			"Subject: one\nSubject: two\nFrom: a@b\nDate: Thu, 4 Jan 2024 17:45:00 -0500 (EST)\n",
			"a@b", "one", "2024-01-04T22:45:00Z"},
		{"field names that only start alike",
			"From-Alias: no\nSubjects: no\nDated: no\nX-From: no\n",
			"", "", ""},
		{"injected line break in an encoded word",
			"Subject: =?utf-8?q?a=0D=0AB?=\n",
			"", "a B", ""},
		{"no date", "Subject: s\n", "", "s", ""},
		{"bad date", "Date: yesterday\n", "", "", ""},
		{"empty", "", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from, subject, date := Summary([]byte(tc.hdr))
			if from != tc.from || subject != tc.subject {
				t.Errorf("from %q subject %q, want %q %q", from, subject, tc.from, tc.subject)
			}
			var want time.Time
			if tc.date != "" {
				want, _ = time.Parse(time.RFC3339, tc.date)
			}
			if !date.Equal(want) {
				t.Errorf("date %v, want %v", date, want)
			}
		})
	}
}

func TestSkinFindsTheAddress(t *testing.T) {
	for in, want := range map[string]string{
		"Jürgen Müller <juergen@example.de>": "juergen@example.de",
		"Müller, Jürgen <j@x>":               "j@x",
		"bob@example.net":                    "bob@example.net",
		"bob@example.net (Bob)":              "bob@example.net",
		"  bob  ":                            "bob",
		"":                                   "",
	} {
		if got := Skin(in); got != want {
			t.Errorf("Skin(%q) = %q, want %q", in, got, want)
		}
	}
}

// A header block as procmail delivers a typical list message.
var benchHeader = []byte(`From alice@example.org  Wed Nov 25 17:24:14 2026
Return-Path: <alice@example.org>
Received: from mx.example.org (mx.example.org [192.0.2.1])
	by mail.example.net with ESMTPS id 4Xyz12abc
	for <bob@example.net>; Wed, 25 Nov 2026 17:24:13 +0100 (CET)
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=mail;
	h=from:to:subject:date:message-id; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;
	b=dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZSBidXQgaXQgaXMgbG9uZyBlbm91Z2g=
From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.de>
To: Bob Example <bob@example.net>
Subject: =?UTF-8?Q?Sch=C3=B6ne_Gr=C3=BC=C3=9Fe_mit_Anhang?=
Date: Wed, 03 Jan 2024 09:15:00 +0100
Message-ID: <msg3.fixture@example.de>
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 8bit
Status: RO
X-Status: F

`)

func BenchmarkSummary(b *testing.B) {
	b.SetBytes(int64(len(benchHeader)))
	b.ReportAllocs()
	for b.Loop() {
		Summary(benchHeader)
	}
}

func BenchmarkSummaryASCII(b *testing.B) {
	h := []byte("From: alice@example.org\nTo: bob@example.net\nSubject: lunch on Friday?\nDate: Wed, 25 Nov 2026 17:12:00 +0100\n\n")
	b.ReportAllocs()
	for b.Loop() {
		Summary(h)
	}
}
