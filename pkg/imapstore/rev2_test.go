package imapstore

import (
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestAnIMAP4rev2SessionShowsNoRecentAndGetsAListInSelect(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rev2     bool
		mailbox  string
		wantList *imap.ListData
	}{
		{"IMAP4rev1", false, "INBOX", nil},
		{"IMAP4rev2 on INBOX", true, "inbox", &imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrHasNoChildren}, Delim: Delim, Mailbox: "INBOX"}},
		{"IMAP4rev2 on Sent", true, "Sent", &imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrHasNoChildren, imap.MailboxAttrSent}, Delim: Delim, Mailbox: "Sent"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newUser(t)
			u.deliver(u.inbox, msg("one", "1\n"))
			u.deliver(u.mail+"/Sent", msg("two", "2\n"))
			s := NewPreauthSession(u.store())
			defer s.Close()
			if tc.rev2 {
				s.EnableIMAP4rev2()
			}
			data, err := s.Select(tc.mailbox, &imap.SelectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if data.NumRecent != 1 {
				t.Errorf("the file's new message is not counted recent (the library leaves RECENT out for IMAP4rev2): %d", data.NumRecent)
			}
			if got := data.List; (got == nil) != (tc.wantList == nil) || got != nil && (got.Mailbox != tc.wantList.Mailbox || got.Delim != tc.wantList.Delim || !slices.Equal(got.Attrs, tc.wantList.Attrs)) {
				t.Errorf("SELECT's LIST is %+v, want %+v", got, tc.wantList)
			}
			flags := s.flagsOf(&s.sel.msgs[0])
			if slices.Contains(flags, flagRecent) == tc.rev2 {
				t.Errorf("flags %v: \\Recent shown to an IMAP4rev2 client, or hidden from an IMAP4rev1 one", flags)
			}
		})
	}
}

func TestBinaryOfTheWholeMessageKeepsItsHeaderAndAnUnknownEncodingIsRefused(t *testing.T) {
	u := newUser(t)
	u.deliver(u.inbox,
		"Subject: b64\nContent-Transfer-Encoding: base64\n\naGVsbG8K\n",
		"Subject: uu\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX\n\n--XX\nContent-Type: text/plain\n\nhi\n--XX\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 x\n--XX--\n")
	w := dial(t, u.store())
	w.ok("SELECT INBOX")
	for _, tc := range []struct{ cmd, want string }{
		{"FETCH 1 (BINARY.PEEK[] BINARY.SIZE[])", "BINARY[] ~{57}\r\nSubject: b64\r\nContent-Transfer-Encoding: base64\r\n\r\nhello\n BINARY.SIZE[] 57)"},
		{"FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])", "BINARY[1] ~{6}\r\nhello\n BINARY.SIZE[1] 6)"},
		{"FETCH 2 (BINARY.PEEK[1])", "BINARY[1] ~{2}\r\nhi)"},
		{"FETCH 2 (BINARY.PEEK[2])", "NO [UNKNOWN-CTE]"},
		{"FETCH 2 (BINARY.SIZE[2])", "NO [UNKNOWN-CTE]"},
		{"FETCH 2 (BODY.PEEK[2])", "BODY[2] {11}\r\nbegin 644 x)"},
	} {
		if out := w.do("%s", tc.cmd); !strings.Contains(out, tc.want) {
			t.Errorf("%s:\n%s\nwant %q", tc.cmd, out, tc.want)
		}
	}
	if out := w.do("FETCH 2 (BINARY.PEEK[2])"); strings.Contains(out, "* 2 FETCH") {
		t.Errorf("a refused BINARY still began a FETCH response:\n%s", out)
	}
}
