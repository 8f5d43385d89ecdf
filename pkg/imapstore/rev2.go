package imapstore

import "github.com/emersion/go-imap/v2"

// IMAP4rev2 (RFC 9051) differs from IMAP4rev1 in what a session shows, once
// the client has sent ENABLE IMAP4rev2: no \Recent flag (the library
// leaves out the RECENT responses itself), and a LIST response in SELECT
// and EXAMINE. The file is kept as for any client: messages a read-write
// SELECT has seen still lose \Recent in it for the IMAP4rev1 sessions
// beside this one.

// EnableIMAP4rev2 is ENABLE IMAP4rev2, which the connection saw succeed.
func (s *Session) EnableIMAP4rev2() { s.rev2.Store(true) }

// selectList is the LIST response SELECT gives an IMAP4rev2 client (RFC
// 9051 6.3.2): the attributes LIST gives the mailbox. A mailbox is a
// file, so it has no children.
func (s *Session) selectList(name string) *imap.ListData {
	if !s.rev2.Load() {
		return nil
	}
	f := folder{name: name, kind: kindMbox}
	return &imap.ListData{Attrs: f.attrs(), Delim: Delim, Mailbox: name}
}
