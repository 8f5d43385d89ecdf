package main

import (
	"strings"
	"testing"
)

// An IMAP4rev2 client (RFC 9051) enables it and is then spoken to as
// RFC 9051 says; an IMAP4rev1 client beside it sees what it always saw.
func TestAnImaplibClientThatEnablesIMAP4rev2IsAnsweredAsRFC9051Says(t *testing.T) {
	u := newIMAPUser(t)
	u.deliver(t, message("one", "first\n"), message("two", "second\n"))
	out := u.python(t, `
import imaplib, sys
A = imaplib.IMAP4_stream(sys.argv[1])
B = imaplib.IMAP4_stream(sys.argv[1])
print("CAPS", "IMAP4REV2" in A.capabilities, "IMAP4REV1" in A.capabilities)
typ, data = A.enable("IMAP4rev2")
print("ENABLE", typ, A.untagged_responses.pop("ENABLED"))
A.untagged_responses.clear()
typ, data = A.select("INBOX")
print("SELECT", typ, data, sorted(k for k in A.untagged_responses if k not in ("OK", "READ-WRITE")))
print("SELECT LIST", A.untagged_responses["LIST"])
typ, data = A.fetch("1:*", "(FLAGS)")
print("FLAGS", data)
B.append("INBOX", None, None, b"From: b@test.example\r\nSubject: three\r\n\r\nthird\r\n")
A.untagged_responses.clear()
A.noop()
print("NOOP", sorted(A.untagged_responses.items()))
typ, data = A.fetch("3", "(FLAGS)")
print("NEW FLAGS", data)
typ, data = A.search(None, "ALL")
print("SEARCH", typ, data, A.untagged_responses.pop("ESEARCH"))
typ, data = A.uid("SEARCH", "RETURN", "(MIN MAX COUNT)", "ALL")
print("UID SEARCH", A.untagged_responses.pop("ESEARCH"))
typ, data = A.search(None, "SUBJECT", "nothing-like-it")
print("NONE", A.untagged_responses.pop("ESEARCH"))
A.store("1", "+FLAGS", r"(\Deleted)")
typ, data = A.status("INBOX", "(MESSAGES DELETED SIZE)")
print("STATUS", data)
A.create("Sent")
typ, data = A._simple_command("LIST", '""', '"*"', "RETURN", "(STATUS (MESSAGES DELETED) SPECIAL-USE)")
print("LIST", A.untagged_responses.pop("LIST"), A.untagged_responses.pop("STATUS"))
typ, data = A.namespace()
print("NAMESPACE", data)
typ, data = A.uid("MOVE", "2", "Sent")
print("MOVE", typ, A.untagged_responses.pop("EXPUNGE"), A.untagged_responses.pop("COPYUID", None) or A.untagged_responses.pop("OK"))
A.untagged_responses.clear()
typ, data = A.select("Sent")
print("RESELECT", typ, A.untagged_responses.get("CLOSED"), A.untagged_responses.pop("LIST"))
typ, data = A.fetch("1", "(FLAGS BINARY.PEEK[1] BINARY.SIZE[1])")
print("BINARY", data)
typ, data = A.unselect()
print("UNSELECT", typ)
A.select("INBOX")
typ, data = A.sort("(SUBJECT)", "UTF-8", "ALL")
print("SORT", typ, data)
typ, data = A.uid("SEARCH", "RETURN", "(SAVE)", "ALL")
print("SAVE", typ, data, A.untagged_responses.pop("ESEARCH", None))
typ, data = A.fetch("$", "(UID)")
print("SAVED", data)
A.untagged_responses.clear()
A._encoding = "utf-8"
typ, data = A.create('"Données"')
typ, data = A.list('""', '"Donn*"')
print("UTF8 LIST", typ, data)
typ, data = B.list('""', '"Donn*"')
print("UTF7 LIST", typ, data)
B.untagged_responses.clear()
B.select("INBOX", readonly=True)
print("REV1 SELECT", B.untagged_responses.get("RECENT"))
typ, data = B.search(None, "ALL")
print("REV1 SEARCH", data)
A.logout()
B.logout()
`)
	for _, want := range []string{
		"CAPS True True",
		"ENABLE OK [b'IMAP4rev2']",
		"SELECT OK [b'2'] ['EXISTS', 'FLAGS', 'LIST', 'PERMANENTFLAGS', 'UIDNEXT', 'UIDVALIDITY']",
		`SELECT LIST [b'(\\HasNoChildren) "/" INBOX']`,
		`FLAGS [b'1 (FLAGS ())', b'2 (FLAGS ())']`,
		"NOOP [('EXISTS', [b'3'])]",
		`NEW FLAGS [b'3 (FLAGS ())']`,
		`SEARCH OK [None] [b'(TAG "`, `") ALL 1:3']`,
		`") UID MIN 1 MAX 3 COUNT 3']`,
		`NONE [b'(TAG "`,
		"STATUS [b'INBOX (MESSAGES 3 DELETED 1 SIZE ",
		`LIST [b'(\\HasNoChildren) "/" INBOX', b'(\\HasNoChildren \\Sent) "/" "Sent"'] [b'INBOX (MESSAGES 3 DELETED 1)', b'"Sent" (MESSAGES 0 DELETED 0)']`,
		`NAMESPACE [b'(("" "/")) NIL NIL']`,
		"MOVE OK [b'2']",
		`RESELECT OK [b''] [b'(\\HasNoChildren \\Sent) "/" "Sent"']`,
		`BINARY [(b'1 (FLAGS () BINARY[1] ~{8}', b'second\r\n'), b' BINARY.SIZE[1] 8)']`,
		"UNSELECT OK",
		"SORT OK [b'1 2']",
		"SAVE OK [None] None",
		"SAVED [b'1 (UID 1)', b'2 (UID 3)']",
		`UTF8 LIST OK [b'(\\HasNoChildren) "/" "Donn\xc3\xa9es"']`,
		`UTF7 LIST OK [b'(\\HasNoChildren) "/" "Donn&AOk-es"']`,
		"REV1 SELECT [b'0']",
		"REV1 SEARCH [b'1 2']",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("imaplib lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Recent") || strings.Contains(out, "UNSEEN") {
		t.Errorf("an IMAP4rev2 session was shown \\Recent or UNSEEN:\n%s", out)
	}
}
