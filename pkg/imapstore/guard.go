package imapstore

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/emersion/go-imap/v2"

	"unixmail/pkg/mbox"
)

// guard reads the selected folder's file for FETCH, which holds no lock
// while the client is sent what it reads (deliver must never wait on a
// slow client). Another program may rewrite the file meanwhile (mail's
// quit, Dovecot, another imapd's EXPUNGE), in place, moving every message
// after the first one it changes: bytes read at the offsets of the
// session's snapshot would then belong to another message. So every read
// is checked: the file's stamp, taken after the read, must still be the
// snapshot's. A write updates the file's times before its bytes land
// (with fine-grained times once they have been looked at), so bytes from
// a file changed under the read never pass; the read fails with
// errMoved instead, and the reader of that message finds it again
// (relocate) and goes on from where it was: what IMAP shows of a message
// never changes, whatever a rewrite does to its state fields.
//
// A guard without a session (envelopesAhead's) checks its reads against
// a stamp of its own and cannot find a message again: a move fails it.
type guard struct {
	s     *Session
	f     *os.File
	stamp stamp // without s: what the file must still be
	moves int
	err   error // why the message in hand cannot be read: it stays so
}

var (
	errMoved = errors.New("the folder changed under the read")
	// ErrCutShort means a FETCH response could not be finished after its
	// literal was announced: the connection must end, since anything
	// else sent would be read as the literal's bytes.
	ErrCutShort = errors.New("a literal could not be finished")
)

// maxMoves bounds how often one FETCH finds its messages again: a folder
// rewritten without pause is answered NO rather than read forever.
const maxMoves = 100

func (g *guard) ReadAt(p []byte, off int64) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	if g.f == nil {
		f, err := g.s.sel.reader()
		if err != nil {
			g.err = err
			return 0, err
		}
		g.f = f
	}
	n, err := g.f.ReadAt(p, off)
	if cerr := g.check(); cerr != nil {
		return 0, cerr
	}
	return n, err
}

// check is errMoved when the file is no longer the one the reads must
// come from: what was read since it was last found the same may be
// another message's bytes. Whoever hides read errors (a header copied
// through, a reader that stops at the first) checks again at the end.
func (g *guard) check() error {
	stp, err := stampOf(g.f)
	if err != nil {
		g.err = err
		return err
	}
	want := g.stamp
	if g.s != nil {
		want = g.s.sel.snap.stamp
	}
	if stp != want {
		return errMoved
	}
	return nil
}

// relocate is e in the folder as it is now, the snapshot brought up to
// date: the entry of the same UID, which must be the same message.
func (g *guard) relocate(e *mbox.Entry) (*mbox.Entry, error) {
	if g.err != nil {
		return nil, g.err
	}
	if g.s == nil {
		g.err = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeInUse, Text: "Mailbox changed by another program while it was read, try again"}
		return nil, g.err
	}
	g.f = nil
	if g.moves++; g.moves > maxMoves {
		g.err = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeInUse, Text: "Mailbox is being rewritten by another program, try again"}
		return nil, g.err
	}
	if err := g.s.refresh(); err != nil {
		g.err = err
		return nil, err
	}
	ne := g.s.sel.entry(e.UID)
	if ne == nil || ne.Sum != e.Sum {
		g.err = &imap.Error{Type: imap.StatusResponseTypeNo, Code: "EXPUNGEISSUE", Text: "Message expunged by another program while it was read"}
		return nil, g.err
	}
	return ne, nil
}

// failed is why the message in hand could not be read, nil when it was.
func (g *guard) failed() error { return g.err }

// next readies the guard for another message.
func (g *guard) next() { g.err = nil }

// movingView is a message's view read through a guard: when the folder
// changes under it, the message is found again and the view read on
// from the same place.
type movingView struct {
	g   *guard
	e   *mbox.Entry
	r   io.Reader
	pos int64
}

func (v *movingView) Read(p []byte) (int, error) {
	for {
		if v.r == nil {
			e, err := v.g.relocate(v.e)
			if err != nil {
				return 0, err
			}
			v.e, v.r = e, e.Message().ClientContent(v.g)
			if _, err := io.CopyN(io.Discard, v.r, v.pos); errors.Is(err, errMoved) {
				v.r = nil
				continue
			} else if err != nil {
				return 0, fmt.Errorf("read message %d again: %w", e.UID, err)
			}
		}
		n, err := v.r.Read(p)
		v.pos += int64(n)
		if n > 0 || !errors.Is(err, errMoved) {
			return n, err
		}
		v.r = nil // to be found again
	}
}
