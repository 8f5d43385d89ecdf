package mbox

import (
	"bytes"
	"strconv"
	"strings"
)

// Flags are a message's state as the mbox programs record it in its
// headers: Status (R read, O old) and X-Status (A answered, F flagged,
// T draft, D deleted). mutt, Dovecot, UW-IMAP and mailx all read these, so
// a message read in one is seen in the others.
type Flags uint8

const (
	Seen     Flags = 1 << iota // Status: R
	Old                        // Status: O (not \Recent; mail's "not new")
	Answered                   // X-Status: A
	Flagged                    // X-Status: F
	Draft                      // X-Status: T
	Deleted                    // X-Status: D
)

// State is what the state headers say of one message.
type State struct {
	Flags    Flags
	Keywords []string // X-Keywords, in file order
	UID      uint32   // X-UID; 0 when none
}

// Base is the mailbox-wide IMAP state kept in the first message's
// X-IMAPbase header (or UW's X-IMAP pseudo-message): UIDVALIDITY, the last
// UID given out, and the keywords ever defined. The field holds the last
// UID, not UIDNEXT: that is what c-client and Dovecot write and read.
type Base struct {
	UIDValidity uint32
	LastUID     uint32
	Keywords    []string
}

// UIDNext is the UID the next new message gets (RFC 3501 2.3.1.1).
func (b *Base) UIDNext() uint32 { return b.LastUID + 1 }

// StatusValue is the Status header value for f ("RO", "O", or "").
func (f Flags) StatusValue() string { return string(f.appendStatus(nil)) }

func (f Flags) appendStatus(b []byte) []byte {
	if f&Seen != 0 {
		b = append(b, 'R')
	}
	if f&Old != 0 {
		b = append(b, 'O')
	}
	return b
}

// XStatusValue is the X-Status header value for f, in the order c-client
// writes it (D, F, A, T).
func (f Flags) XStatusValue() string { return string(f.appendXStatus(nil)) }

func (f Flags) appendXStatus(b []byte) []byte {
	if f&Deleted != 0 {
		b = append(b, 'D')
	}
	if f&Flagged != 0 {
		b = append(b, 'F')
	}
	if f&Answered != 0 {
		b = append(b, 'A')
	}
	if f&Draft != 0 {
		b = append(b, 'T')
	}
	return b
}

func parseStatus(v []byte) Flags {
	var f Flags
	for _, c := range v {
		switch c {
		case 'R':
			f |= Seen
		case 'O':
			f |= Old
		}
	}
	return f
}

func parseXStatus(v []byte) Flags {
	var f Flags
	for _, c := range v {
		switch c {
		case 'A':
			f |= Answered
		case 'F':
			f |= Flagged
		case 'T':
			f |= Draft
		case 'D':
			f |= Deleted
		}
	}
	return f
}

// parseUID reads a decimal UID; UW pads it with leading zeros. A UID must
// be below 2^31 (RFC 3501 2.3.1.1 allows 32 bits, but clients misbehave
// past 2^31, so we never accept or hand out more).
func parseUID(v []byte) uint32 {
	n, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 32)
	if err != nil || n >= 1<<31 {
		return 0
	}
	return uint32(n)
}

// parseKeywords splits an X-Keywords value: UW separates with spaces, some
// writers with commas.
func parseKeywords(v []byte) []string {
	fields := strings.FieldsFunc(string(v), func(r rune) bool { return r == ' ' || r == '\t' || r == ',' || r == '\r' || r == '\n' })
	if len(fields) == 0 {
		return nil
	}
	return fields
}

// parseBase reads an X-IMAPbase or X-IMAP value: UIDVALIDITY LASTUID
// keyword... UIDVALIDITY 0 is not valid (RFC 3501 2.3.1.1) and makes the
// whole header void.
func parseBase(v []byte) (*Base, bool) {
	f := strings.Fields(string(v))
	if len(f) < 2 {
		return nil, false
	}
	validity, e1 := strconv.ParseUint(f[0], 10, 32)
	last, e2 := strconv.ParseUint(f[1], 10, 32)
	if e1 != nil || e2 != nil || validity == 0 || last >= 1<<31-1 {
		return nil, false
	}
	b := &Base{UIDValidity: uint32(validity), LastUID: uint32(last)}
	if len(f) > 2 {
		b.Keywords = f[2:]
	}
	return b, true
}

// trusted reports whether a header field name is one of the state headers
// that only the mailbox's own programs may write (and Content-Length, which
// a reader may trust to find the message's end). deliver strips them from
// incoming mail so that a sender cannot set flags, UIDs or message bounds.
func trusted(name []byte) bool {
	switch len(name) {
	case 5:
		return bytes.EqualFold(name, []byte("X-UID"))
	case 6:
		return bytes.EqualFold(name, []byte("Status")) || bytes.EqualFold(name, []byte("X-IMAP"))
	case 8:
		return bytes.EqualFold(name, []byte("X-Status"))
	case 10:
		return bytes.EqualFold(name, []byte("X-IMAPbase")) || bytes.EqualFold(name, []byte("X-Keywords"))
	case 14:
		return bytes.EqualFold(name, []byte("Content-Length"))
	}
	return false
}

// IsStateHeader reports whether name is one of the header fields that
// carry mailbox state (see trusted).
func IsStateHeader(name string) bool { return trusted([]byte(name)) }
