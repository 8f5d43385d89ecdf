package mbox

import (
	"time"

	"unixmail/internal/binrec"
)

// indexMagic3 begins an index of format 3, the one before the records
// (see indexMagic). It is still read: it may hold the only copy of UIDs
// given to a big mailbox's messages (LazyFrom), and numbering the file
// without them could give a message expunged since its UID, under the same
// UIDVALIDITY, to another (RFC 3501 2.3.1.1 forbids it).
const indexMagic3 = "unixmail mbox index 3\n"

// entryMin3 is the fewest bytes an entry takes in a format 3 index: the
// fields of decodeEntry but the two spare bytes, then its keywords.
const entryMin3 = entrySize - 2 + 4

// decodeIndex3 reads an index of format 3: one state, its header and
// then its entries, each followed by its keywords.
func decodeIndex3(data []byte) (*Index, error) {
	d := &binrec.Reader{B: data[len(indexMagic3):]}
	idx := readHead(d, 3)
	n := int(d.U32())
	if d.Bad || n > len(d.B)/entryMin3 {
		return nil, errBadIndex
	}
	idx.Entries = make([]Entry, n)
	zones := map[int]*time.Location{}
	for i := range idx.Entries {
		b := d.Bytes(entrySize - 2)
		if d.Bad {
			return nil, errBadIndex
		}
		idx.Entries[i] = decodeEntry(b, zones, false)
		idx.Entries[i].Keywords = words(d)
	}
	if d.Bad || len(d.B) != 0 {
		return nil, errBadIndex // Save wrote nothing after the last entry
	}
	return idx, nil
}
