package mbox_test

import (
	"testing"
	"time"

	"unixmail/pkg/mbox"
)

func TestParseFromLineAcceptsCtimeDatesOnly(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi, s int) time.Time {
		return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
	}
	local := func(y int, mo time.Month, d, h, mi, s int) time.Time {
		return time.Date(y, mo, d, h, mi, s, 0, time.Local)
	}
	tests := []struct {
		line   string
		ok     bool
		sender string
		date   time.Time
	}{
		{"From a@b  Wed Nov 25 17:24:14 2026", true, "a@b", local(2026, 11, 25, 17, 24, 14)},
		{"From a@b Wed Nov 25 17:24:14 2026\n", true, "a@b", local(2026, 11, 25, 17, 24, 14)},
		{"From a@b Wed Nov 25 17:24:14 2026\r\n", true, "a@b", local(2026, 11, 25, 17, 24, 14)},
		{"From a@b Wed Nov  5 17:24:14 2026", true, "a@b", local(2026, 11, 5, 17, 24, 14)},
		{"From a@b Wed Nov 25 17:24 2026", true, "a@b", local(2026, 11, 25, 17, 24, 0)},
		{"From nobody@vm Wed Nov 25 17:25:26 2026 +0000", true, "nobody@vm", utc(2026, 11, 25, 17, 25, 26)},
		{"From a@b Wed Nov 25 17:24:14 2026 -0130", true, "a@b", utc(2026, 11, 25, 18, 54, 14)},
		{"From a@b Wed Nov 25 17:24:14 PST 2026", true, "a@b", local(2026, 11, 25, 17, 24, 14)},
		{"From a@b Wed Nov 25 17:24:14 +0100 2026", true, "a@b", utc(2026, 11, 25, 16, 24, 14)},
		{"From a@b Wed Nov 25 17:24:14 2026 remote from host", true, "a@b", local(2026, 11, 25, 17, 24, 14)},
		{"From nobody@vm  Mon Jan 01 11:00:00 2024", true, "nobody@vm", local(2024, 1, 1, 11, 0, 0)},
		{"From  Wed Nov 25 17:24:14 2026", true, "", local(2026, 11, 25, 17, 24, 14)},
		{"From Mon Wed Nov 25 17:24:14 2026", true, "Mon", local(2026, 11, 25, 17, 24, 14)},
		{"From a b c Wed Nov 25 17:24:14 2026", true, "a b c", local(2026, 11, 25, 17, 24, 14)},

		{"From a@b 2024-01-01T10:00:00Z", false, "", time.Time{}},
		{"From a@b 2024-01-01 10:00:00", false, "", time.Time{}},
		{"From a@b Mon, 01 Jan 2024 10:00:00 +0000", false, "", time.Time{}},
		{"From a@b Mon, 1 Jan 2024 10:00:00", false, "", time.Time{}},
		{"From a@b Wed Nov 25 17:24:14", false, "", time.Time{}},
		{"From a@b Wed Nov 25 2026", false, "", time.Time{}},
		{"From a@b Wed Nov 32 17:24:14 2026", false, "", time.Time{}},
		{"From a@b Wed Nov 0 17:24:14 2026", false, "", time.Time{}},
		{"From a@b Wed Nov 25 24:00:00 2026", false, "", time.Time{}},
		{"From a@b Wed Nov 25 17:60:00 2026", false, "", time.Time{}},
		{"From a@b Wed Nov 25 17:24:14 26", false, "", time.Time{}},
		{"From a@b Wed Nov 25 17:24:14 20266", false, "", time.Time{}},
		{"From a@b Wed Nox 25 17:24:14 2026", false, "", time.Time{}},
		{"From a@b wed Nov 25 17:24:14 2026", false, "", time.Time{}},
		{"From here on it is quoted", false, "", time.Time{}},
		{">From a@b Wed Nov 25 17:24:14 2026", false, "", time.Time{}},
		{"from a@b Wed Nov 25 17:24:14 2026", false, "", time.Time{}},
		{"From", false, "", time.Time{}},
		{"", false, "", time.Time{}},
	}
	for _, tt := range tests {
		sender, date, ok := mbox.ParseFromLine([]byte(tt.line))
		if ok != tt.ok || sender != tt.sender || !date.Equal(tt.date) {
			t.Errorf("%q: %q %v %v, want %q %v %v", tt.line, sender, date, ok, tt.sender, tt.date, tt.ok)
		}
	}
}
