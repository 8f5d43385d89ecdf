package mbox

import "slices"

// Sighting is what a program that read a mailbox keeps of one message to
// find it again after another program rewrote the file under it: its
// X-UID, the date of its From_ line and the size of its body. Rewrites (by
// mail, imapd, mutt, Dovecot) keep the order of messages and change
// headers, never a body or a From_ line.
type Sighting struct {
	UID      uint32
	Date     int64 // From_ line, Unix seconds
	BodySize int64
}

// Sighting is what a program keeps of m.
func (m *Message) Sighting() Sighting {
	return Sighting{UID: m.UID, Date: m.Date.Unix(), BodySize: m.End - m.BodyOffset}
}

// Sighting is what a program keeps of e.
func (e *Entry) Sighting() Sighting {
	return Sighting{UID: e.UID, Date: e.Date.Unix(), BodySize: e.End - e.BodyOffset}
}

// Locate finds each sighted message, in order, in idx, the mailbox as it
// is now: it gives the index into idx.Entries of each, or -1 for one that
// is gone. A message is found by its X-UID when it had one and idx is
// numbered under validity, the UIDVALIDITY it was read under (0: none);
// else by date and body size, as the first such message after the one
// found before it (a duplicate delivery is two messages, matched in
// order).
func Locate(seen []Sighting, validity uint32, idx *Index) []int {
	byUID := map[uint32]int{}
	// A numbered index (Number) has the UIDs it gave too; else the file's.
	have := idx.UIDValidity
	if have == 0 && idx.Base != nil {
		have = idx.Base.UIDValidity
	}
	if validity != 0 && have == validity {
		for k := range idx.Entries {
			if u := idx.Entries[k].UID; u != 0 {
				byUID[u] = k
			}
		}
	}
	type key struct{ date, size int64 }
	byContent := map[key][]int{} // ascending indexes into idx.Entries
	for k := range idx.Entries {
		if e := &idx.Entries[k]; !e.Pseudo {
			s := e.Sighting()
			c := key{s.Date, s.BodySize}
			byContent[c] = append(byContent[c], k)
		}
	}
	at := make([]int, len(seen))
	next := 0
	for j, s := range seen {
		at[j] = -1
		if k, ok := byUID[s.UID]; ok && s.UID != 0 {
			at[j], next = k, k+1
			continue
		}
		list := byContent[key{s.Date, s.BodySize}]
		if p, _ := slices.BinarySearch(list, next); p < len(list) {
			at[j], next = list[p], list[p]+1
		}
	}
	return at
}
