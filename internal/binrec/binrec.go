// Package binrec reads the little-endian records of unixmail's cache
// files (the mbox index, imapd's envelope cache). A cache file may be cut
// short or damaged: reading past its end marks the reader bad instead of
// panicking, and the caller throws the cache away.
package binrec

import "encoding/binary"

// Reader takes numbers and byte strings off the front of B.
type Reader struct {
	B   []byte
	Bad bool // something was asked for that B did not hold
}

// Bytes takes the next n bytes (nil, and Bad set, when there are fewer).
func (r *Reader) Bytes(n int) []byte {
	if n < 0 || len(r.B) < n {
		r.Bad = true
		return nil
	}
	v := r.B[:n:n]
	r.B = r.B[n:]
	return v
}

// U64 takes a little-endian uint64.
func (r *Reader) U64() uint64 {
	if b := r.Bytes(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// U32 takes a little-endian uint32.
func (r *Reader) U32() uint32 {
	if b := r.Bytes(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

// String takes a uint32 length, then that many bytes.
func (r *Reader) String() string { return string(r.Bytes(int(r.U32()))) }
