// Package pop3 is ipop3d's protocol: POP3 as RFC 1939 defines it (every
// command, TOP and UIDL included), with the extension mechanism and
// response codes of RFC 2449 (CAPA, [IN-USE], [AUTH], [SYS/TEMP],
// [SYS/PERM] of RFC 3206), STLS of RFC 2595, and AUTH PLAIN of RFC 5034
// through go-sasl. APOP (RFC 1939 7) is there for sites that must keep it,
// off unless a secrets file turns it on.
//
// The protocol reaches mail through Maildrop, a small interface: OpenMbox
// serves a user's mbox file; tests use one held in memory. The connection,
// TLS, password checks and the drop to the user's privileges come from
// pkg/daemon.
package pop3

import (
	"errors"
	"io"

	"unixmail/pkg/userdb"
)

// Maildrop is a user's mail as one POP3 session sees it: the messages
// there when it began, in order. Mail that arrives later is not in it, and
// Commit never touches it.
type Maildrop interface {
	// Count is the number of messages in the maildrop as it was when the
	// session began. Their sizes are what the server sends, so that LIST
	// is exact (RFC 1939 5): known by Sizer, or counted.
	Count() int
	// Open reads message i's content (counted from 0) as the sender
	// wrote it: header, blank line, body; LF or CRLF lines.
	Open(i int) (io.ReadCloser, error)
	// UIDs gives every message its unique-id (RFC 1939 7, UIDL), one that
	// lasts across sessions; it may first have to record new ones.
	UIDs() ([]string, error)
	// Commit ends the session in the UPDATE state: the messages marked
	// deleted are removed and those marked retrieved are recorded as read.
	// A message it could not remove makes an error; nothing else is lost.
	Commit(deleted, retrieved []bool) error
	// Close ends the session without changing anything (a dropped
	// connection, QUIT before login, a timeout).
	Close() error
}

// RawOpener is what a Maildrop on mbox files may add: Open without undoing
// the mboxrd quoting, which the server then undoes as it sends, in one pass
// over the text.
type RawOpener interface {
	OpenRaw(i int) (io.ReadCloser, error)
}

// Sizer is what a Maildrop may add when it knows a message's size as
// RETR sends it (before the dot-stuffing) without reading it: the mbox
// scanner works it out once and its index keeps it (mbox.ClientSize). It
// is -1 when unknown; the server then counts.
type Sizer interface {
	Size(i int) int64
}

// Opener opens the maildrop of a user who has logged in, after the
// server has become that user.
type Opener func(u *userdb.User) (Maildrop, error)

// ErrInUse is returned by an Opener when another POP3 session holds the
// maildrop; the client gets [IN-USE].
var ErrInUse = errors.New("maildrop in use by another session")

// ErrChanged is returned when another program changed the mailbox so that
// the session's messages can no longer be found; the client gets
// [SYS/TEMP] and may try again.
var ErrChanged = errors.New("mailbox changed by another program")
