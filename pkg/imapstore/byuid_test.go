package imapstore

import (
	"fmt"
	"testing"

	"unixmail/pkg/mbox"
)

func TestEachByUIDPairsTheViewWithTheEntriesThatStillHoldItsMessages(t *testing.T) {
	tests := []struct {
		name    string
		view    []uint32 // the UIDs of the messages the session shows
		entries []uint32 // the UIDs of the snapshot's entries
		want    string   // pairs of indexes, view then entries
	}{
		{"the same messages", []uint32{1, 2, 3}, []uint32{1, 2, 3}, "[[0 0] [1 1] [2 2]]"},
		{"messages another expunged are left out", []uint32{1, 2, 3, 4}, []uint32{1, 4}, "[[0 0] [3 1]]"},
		{"mail the view has not shown yet is left out", []uint32{2, 5}, []uint32{1, 2, 3, 5, 9}, "[[0 1] [1 3]]"},
		{"no entries", []uint32{1, 2}, nil, "[]"},
		{"entries out of order are paired all the same", []uint32{1, 2, 3}, []uint32{3, 1, 2}, "[[0 1] [1 2] [2 0]]"},
		{"a view out of order is paired all the same", []uint32{3, 1}, []uint32{1, 2, 3}, "[[0 2] [1 0]]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs := make([]viewMsg, len(tt.view))
			for i, u := range tt.view {
				msgs[i].uid = u
			}
			s := &snapshot{}
			for _, u := range tt.entries {
				s.entries = append(s.entries, mbox.Entry{State: mbox.State{UID: u}})
			}
			got := [][2]int{}
			eachByUID(msgs, s, func(i, j int) { got = append(got, [2]int{i, j}) })
			if fmt.Sprint(got) != tt.want {
				t.Errorf("pairs %v, want %s", got, tt.want)
			}
		})
	}
}
