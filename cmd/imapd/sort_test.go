package main

import (
	"strings"
	"testing"
)

// sortMail is six messages whose subjects, dates, senders and references
// make every SORT key and both THREAD algorithms give different orders.
var sortMail = []string{
	"From: carol@test.example\nSubject: Plans\nDate: Tue, 7 May 2024 10:00:00 +0000\nMessage-ID: <p1@test.example>\n\none\n",
	// Earlier than the first in UTC, though its clock says later.
	"From: Alice <alice@test.example>\nSubject: Re: Plans\nDate: Tue, 7 May 2024 11:30:00 +0200\nMessage-ID: <p2@test.example>\nIn-Reply-To: <p1@test.example>\n\ntwo\n",
	"From: bob@test.example\nSubject: [list] Budget (fwd)\nDate: Mon, 6 May 2024 08:00:00 +0000\nMessage-ID: <b1@test.example>\n\nthree\n",
	"From: Dave <dave@test.example>\nSubject: Fwd: Re: budget\nDate: Wed, 8 May 2024 08:00:00 +0000\nMessage-ID: <b2@test.example>\nReferences: <b1@test.example>\n\nfour\n",
	// No Date: its arrival, today, is its sent date.
	"From: eve@test.example\nSubject: =?utf-8?q?Caf=C3=A9?=\nMessage-ID: <c1@test.example>\n\nfive\n",
	// Its parent is missing from the mailbox; its grandparent is not.
	"From: alice@test.example\nSubject: RE: [list] Plans\nDate: Thu, 9 May 2024 08:00:00 +0000\nMessage-ID: <p3@test.example>\nReferences: <p1@test.example> <gone@test.example>\n\nsix\n",
}

func TestImaplibSortsAndThreadsByEveryKey(t *testing.T) {
	u := newIMAPUser(t)
	u.deliver(t, sortMail...)
	out := u.python(t, `
import imaplib, sys
M = imaplib.IMAP4_stream(sys.argv[1])
print("CAPS", " ".join(M.capabilities))
M.select("INBOX", readonly=True)
for prog in ["(SUBJECT)", "(DATE)", "(REVERSE DATE)", "(FROM)", "(TO DATE)", "(ARRIVAL)", "(REVERSE SUBJECT REVERSE DATE)"]:
    typ, data = M.sort(prog, "UTF-8", "ALL")
    print("SORT", prog, data[0].decode())
typ, data = M.sort("(DATE)", "US-ASCII", "FROM", "alice")
print("SORT FROM alice", data[0].decode())
typ, data = M.uid("SORT", "(REVERSE DATE)", "UTF-8", "UID", "2:5")
print("UID SORT", data[0].decode())
typ, data = M.sort("(SIZE)", "UTF-8", "ALL")
print("SORT (SIZE)", data[0].decode())
for alg in ["REFERENCES", "ORDEREDSUBJECT"]:
    typ, data = M.thread(alg, "UTF-8", "ALL")
    print("THREAD", alg, data[0].decode())
typ, data = M.uid("THREAD", "REFERENCES", "UTF-8", "SUBJECT", "plans")
print("UID THREAD", data[0].decode())
typ, data = M.uid("SORT", "RETURN", "(MIN MAX COUNT ALL)", "(DATE)", "UTF-8", "NOT", "FROM", "eve")
print("ESORT", typ, M.untagged_responses.pop("ESEARCH")[0].decode())
typ, data = M.sort("(DATE)", "KOI8-R", "ALL")
print("KOI8-R", typ, data)
try:
    M.sort("(COLOUR)", "UTF-8", "ALL")
except imaplib.IMAP4.error as e:
    print("BADKEY", e)
typ, data = M.noop()
print("ALIVE", typ)
M.logout()
`)
	for _, want := range []string{
		"SORT (SUBJECT) 3 4 5 1 2 6",
		"SORT (DATE) 3 2 1 4 6 5",
		"SORT (REVERSE DATE) 5 6 4 1 2 3",
		"SORT (FROM) 2 6 3 1 4 5",
		"SORT (TO DATE) 3 2 1 4 6 5",
		"SORT (ARRIVAL) 1 2 3 4 5 6",
		"SORT (REVERSE SUBJECT REVERSE DATE) 6 1 2 5 4 3",
		"SORT FROM alice 2 6",
		"UID SORT 5 4 2 3",
		`ESORT OK (TAG "`, // the tag is imaplib's
		` UID MIN 3 MAX 6 COUNT 5 ALL 3,2,1,4,6`,
		"THREAD REFERENCES (3 4)(1 (2)(6))(5)",
		"THREAD ORDEREDSUBJECT (3 4)(2 (1)(6))(5)",
		"UID THREAD (1 (2)(6))",
		"SORT (SIZE) 5 1 3 2 4 6", // 154, 177, 191, 221, 225, 239 octets
		"KOI8-R NO [b'[BADCHARSET]",
		"BADKEY SORT command error: BAD [b'unknown sort key \"COLOUR\"']",
		"ALIVE OK",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("imaplib lacks %q:\n%s", want, out)
		}
	}
	for _, c := range []string{"SORT", "ESORT", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES"} {
		if !strings.Contains(out, " "+c+" ") && !strings.HasSuffix(strings.SplitN(out, "\n", 2)[0], " "+c) {
			t.Errorf("CAPABILITY lacks %s:\n%s", c, out)
		}
	}
}

func TestImaplibSavesASearchResultAndUsesItAsDollar(t *testing.T) {
	u := newIMAPUser(t)
	u.deliver(t, sortMail...)
	out := u.python(t, `
import imaplib, sys
M = imaplib.IMAP4_stream(sys.argv[1])
M.select("INBOX")
typ, data = M.uid("SEARCH", "RETURN", "(SAVE)", "FROM", "alice")
print("SAVE", typ, data, "ESEARCH" in M.untagged_responses, "SEARCH" in M.untagged_responses)
typ, data = M.fetch("$", "(UID)")
print("FETCH", " ".join(d.decode() for d in data if d))
M.store("$", "+FLAGS", r"(\Flagged)")
typ, data = M.search(None, "FLAGGED")
print("FLAGGED", data[0].decode())
typ, data = M.search(None, "NOT", "$")
print("NOT", data[0].decode())
typ, data = M.sort("(REVERSE DATE)", "UTF-8", "$")
print("SORT", data[0].decode())
typ, data = M.search(None, "RETURN", "(SAVE MIN)", "FROM", "alice")
print("MIN", typ, M.untagged_responses.pop("ESEARCH", [b""])[0].decode())
typ, data = M.fetch("$", "(UID)")
print("FETCH", " ".join(d.decode() for d in data if d))
M.select("INBOX")
typ, data = M.fetch("$", "(UID)")
print("AFTER SELECT", typ, data)
M.logout()
`)
	for _, want := range []string{
		"SAVE OK [None] False False",
		"FETCH 2 (UID 2) 6 (UID 6)",
		"FLAGGED 2 6",
		"NOT 1 3 4 5",
		"SORT 6 2",
		`MIN OK (TAG "`, " MIN 2\n",
		"FETCH 2 (UID 2)\n",
		"AFTER SELECT OK [None]",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("imaplib lacks %q:\n%s", want, out)
		}
	}
}
