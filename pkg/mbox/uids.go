package mbox

import (
	"slices"
	"time"
)

// NumberUIDs says which UIDs the messages of a mailbox get, in file order,
// given the base the file holds (nil when none) and the X-UID each message
// holds (0 when none). It is the one rule ipop3d and imapd share, so that
// POP3's UIDL and IMAP's UIDs name the same messages, as UW-IMAP and
// Dovecot number them:
//
//   - UIDs already there are kept when they rise strictly, stay at or
//     below the base's last UID, and no message without one comes before
//     one with one; messages without one then get the next UIDs.
//   - Otherwise (UIDs out of order, a message copied in between) the old
//     UIDs cannot be trusted: every message is numbered from 1 under a new
//     UIDVALIDITY, greater than the old one (RFC 3501 2.3.1.1).
//
// It returns the base to write, the UID of every message, and whether
// anything differs from what the file holds.
func NumberUIDs(base *Base, uids []uint32, now time.Time) (Base, []uint32, bool) {
	uids = slices.Clone(uids)
	out := make([]uint32, len(uids))
	b := Base{UIDValidity: uint32(now.Unix()), LastUID: 0}
	if base != nil {
		b = *base
		b.Keywords = append([]string(nil), base.Keywords...)
	}
	if b.UIDValidity == 0 {
		b.UIDValidity = 1
	}
	changed := base == nil
	last, sawZero, ok := uint32(0), false, true
	for _, u := range uids {
		switch {
		case u == 0:
			sawZero = true
		case sawZero || u <= last || u > b.LastUID:
			ok = false
		default:
			last = u
		}
	}
	if !ok {
		validity := uint32(now.Unix())
		if validity <= b.UIDValidity {
			validity = b.UIDValidity + 1
		}
		b.UIDValidity, b.LastUID = validity, 0
		changed = true
		for i := range uids {
			uids[i] = 0 // numbered afresh below
		}
	}
	for i, u := range uids {
		if u == 0 {
			b.LastUID++
			u = b.LastUID
			changed = true
		}
		out[i] = u
	}
	return b, out, changed
}
