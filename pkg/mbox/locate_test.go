package mbox_test

import (
	"slices"
	"testing"
	"time"

	"unixmail/pkg/mbox"
)

func TestLocateFindsMessagesAfterAnotherProgramRewroteTheMailbox(t *testing.T) {
	day := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	entry := func(uid uint32, minute int, body int64) mbox.Entry {
		e := mbox.Entry{Date: day.Add(time.Duration(minute) * time.Minute), BodyOffset: 100, End: 100 + body}
		e.UID = uid
		return e
	}
	seen := []mbox.Sighting{
		{UID: 0, Date: day.Unix(), BodySize: 10},
		{UID: 0, Date: day.Add(time.Minute).Unix(), BodySize: 20},
		{UID: 0, Date: day.Add(time.Minute).Unix(), BodySize: 20}, // a duplicate delivery
		{UID: 7, Date: day.Add(2 * time.Minute).Unix(), BodySize: 30},
	}
	for _, c := range []struct {
		name     string
		validity uint32
		base     *mbox.Base
		entries  []mbox.Entry
		want     []int
	}{
		{"unchanged", 0, nil,
			[]mbox.Entry{entry(0, 0, 10), entry(0, 1, 20), entry(0, 1, 20), entry(7, 2, 30)}, []int{0, 1, 2, 3}},
		{"a pseudo-message put first and UIDs given", 0, &mbox.Base{UIDValidity: 9},
			append([]mbox.Entry{{Pseudo: true}}, entry(1, 0, 10), entry(2, 1, 20), entry(3, 1, 20), entry(4, 2, 30)), []int{1, 2, 3, 4}},
		{"one of the duplicates removed", 0, nil,
			[]mbox.Entry{entry(0, 0, 10), entry(0, 1, 20), entry(7, 2, 30)}, []int{0, 1, -1, 2}},
		{"found by X-UID though its body changed", 5, &mbox.Base{UIDValidity: 5},
			[]mbox.Entry{entry(0, 0, 10), entry(0, 1, 20), entry(0, 1, 20), entry(7, 2, 31)}, []int{0, 1, 2, 3}},
		{"X-UIDs of another UIDVALIDITY are not trusted", 5, &mbox.Base{UIDValidity: 6},
			[]mbox.Entry{entry(0, 0, 10), entry(0, 1, 20), entry(0, 1, 20), entry(7, 2, 31)}, []int{0, 1, 2, -1}},
		{"the first removed, new mail after them", 0, nil,
			[]mbox.Entry{entry(0, 1, 20), entry(0, 1, 20), entry(7, 2, 30), entry(0, 9, 10)}, []int{-1, 0, 1, 2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := mbox.Locate(seen, c.validity, &mbox.Index{Entries: c.entries, Base: c.base})
			if !slices.Equal(got, c.want) {
				t.Errorf("Locate = %v, want %v", got, c.want)
			}
		})
	}
}
