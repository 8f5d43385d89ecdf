package mimeview

import (
	"net/mail"
	"sync"
	"time"
)

// parseDate reads an RFC 5322 3.3 date-time. The usual form is parsed by
// hand, because Summary runs once per message of a mailbox and
// net/mail.ParseDate, which tries layout after layout, costs ten times
// more; anything unusual goes to net/mail.
func parseDate(s string) (time.Time, bool) {
	if t, ok := parseDateFast(s); ok {
		return t, true
	}
	t, err := mail.ParseDate(s)
	return t, err == nil
}

var months = [...]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// obsZones are RFC 5322 4.3's obsolete zone names (military ones are -0000,
// "unknown", so UTC).
var obsZones = map[string]int{"ut": 0, "gmt": 0, "z": 0, "est": -5, "edt": -4, "cst": -6, "cdt": -5, "mst": -7, "mdt": -6, "pst": -8, "pdt": -7}

// parseDateFast handles "[Www,] D Mon YYYY HH:MM[:SS] ZONE [(comment)]".
func parseDateFast(s string) (time.Time, bool) {
	var tok [5]string
	n := 0
	for i := 0; i < len(s) && n < len(tok); {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		j := i
		for j < len(s) && s[j] != ' ' && s[j] != '\t' {
			j++
		}
		if j > i {
			word := s[i:j]
			if n == 0 && word[len(word)-1] == ',' { // day of week, not checked
				i = j
				continue
			}
			tok[n] = word
			n++
		}
		i = j
	}
	if n < 5 {
		return time.Time{}, false
	}
	day, ok1 := atoi(tok[0], 1, 2)
	mon := monthOf(tok[1])
	year, ok2 := atoi(tok[2], 2, 4)
	if !ok1 || mon == 0 || !ok2 || day < 1 || day > 31 {
		return time.Time{}, false
	}
	if len(tok[2]) == 2 { // RFC 5322 4.3
		year += 1900
		if year < 1950 {
			year += 100
		}
	}
	hour, min, sec, ok := clock(tok[3])
	if !ok {
		return time.Time{}, false
	}
	loc, ok := zone(tok[4])
	if !ok {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(mon), day, hour, min, sec, 0, loc), true
}

func atoi(s string, minLen, maxLen int) (int, bool) {
	if len(s) < minLen || len(s) > maxLen {
		return 0, false
	}
	v := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		v = v*10 + int(s[i]-'0')
	}
	return v, true
}

func monthOf(s string) int {
	if len(s) != 3 {
		return 0
	}
	l := string([]byte{s[0] | 0x20, s[1] | 0x20, s[2] | 0x20})
	for i, m := range months {
		if m == l {
			return i + 1
		}
	}
	return 0
}

// clock parses HH:MM or HH:MM:SS.
func clock(s string) (h, m, sec int, ok bool) {
	if len(s) != 5 && len(s) != 8 || s[2] != ':' {
		return 0, 0, 0, false
	}
	h, ok1 := atoi(s[0:2], 2, 2)
	m, ok2 := atoi(s[3:5], 2, 2)
	ok3 := true
	if len(s) == 8 {
		if s[5] != ':' {
			return 0, 0, 0, false
		}
		sec, ok3 = atoi(s[6:8], 2, 2)
	}
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || sec > 60 {
		return 0, 0, 0, false
	}
	return h, m, sec, true
}

// zones caches one *time.Location per offset: a mailbox has few of them.
var zones sync.Map

func zone(s string) (*time.Location, bool) {
	offset := 0
	if len(s) == 5 && (s[0] == '+' || s[0] == '-') {
		hh, ok1 := atoi(s[1:3], 2, 2)
		mm, ok2 := atoi(s[3:5], 2, 2)
		if !ok1 || !ok2 || mm > 59 {
			return nil, false
		}
		offset = hh*3600 + mm*60
		if s[0] == '-' {
			offset = -offset
		}
	} else {
		lower := make([]byte, 0, 3)
		for i := 0; i < len(s) && i < 4; i++ {
			lower = append(lower, s[i]|0x20)
		}
		h, ok := obsZones[string(lower)]
		if !ok || len(s) > 3 {
			return nil, false
		}
		offset = h * 3600
	}
	if offset == 0 {
		return time.UTC, true
	}
	if l, ok := zones.Load(offset); ok {
		return l.(*time.Location), true
	}
	l, _ := zones.LoadOrStore(offset, time.FixedZone("", offset))
	return l.(*time.Location), true
}
