package mbox

import (
	"slices"
	"testing"
	"time"
)

func TestNumberUIDsKeepsGoodUIDsAndNumbersTheRest(t *testing.T) {
	now := time.Unix(1800000000, 0)
	tests := []struct {
		name     string
		base     *Base
		uids     []uint32
		want     []uint32
		validity uint32
		last     uint32
		changed  bool
		why      string // what the log says of a new UIDVALIDITY
	}{
		{"a new mailbox gets a base and UIDs from 1", nil, []uint32{0, 0, 0}, []uint32{1, 2, 3}, 1800000000, 3, true, ""},
		{"an empty new mailbox gets a base", nil, nil, []uint32{}, 1800000000, 0, true, ""},
		{"numbered mail stays as it is", &Base{UIDValidity: 7, LastUID: 9}, []uint32{2, 5, 9}, []uint32{2, 5, 9}, 7, 9, false, ""},
		{"new mail at the end gets the next UIDs", &Base{UIDValidity: 7, LastUID: 9}, []uint32{2, 5, 0, 0}, []uint32{2, 5, 10, 11}, 7, 11, true, ""},
		{"UIDs out of order renumber under a new validity", &Base{UIDValidity: 7, LastUID: 9}, []uint32{5, 2}, []uint32{1, 2}, 1800000000, 2, true, "message 2 has UID 2, not above 5 before it"},
		{"a UID above the base's last renumbers", &Base{UIDValidity: 7, LastUID: 3}, []uint32{1, 4}, []uint32{1, 2}, 1800000000, 2, true, "message 2 has UID 4, above the last UID 3 of UIDVALIDITY 7"},
		{"a message without a UID before one with renumbers", &Base{UIDValidity: 7, LastUID: 9}, []uint32{0, 4}, []uint32{1, 2}, 1800000000, 2, true, "message 2 has UID 4 after message 1, which has none"},
		{"a new validity is always greater than the old", &Base{UIDValidity: 1900000000, LastUID: 9}, []uint32{3, 3}, []uint32{1, 2}, 1900000001, 2, true, "message 2 has UID 3, not above 3 before it"},
	}
	for _, tt := range tests {
		b, got, changed := NumberUIDs(tt.base, slices.Clone(tt.uids), now)
		if !slices.Equal(got, tt.want) || b.UIDValidity != tt.validity || b.LastUID != tt.last || changed != tt.changed {
			t.Errorf("%s: got %v validity %d last %d changed %v; want %v %d %d %v", tt.name, got, b.UIDValidity, b.LastUID, changed, tt.want, tt.validity, tt.last, tt.changed)
		}
		if _, _, _, why := numberUIDs(tt.base, slices.Clone(tt.uids), now, ""); why != tt.why {
			t.Errorf("%s: the log would say %q, want %q", tt.name, why, tt.why)
		}
	}
}
