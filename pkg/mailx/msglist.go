package mailx

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"unixmail/pkg/mbox"
)

// parseList turns a POSIX message list into message indexes, in folder
// order and without repeats: numbers, ranges n-m, * (all), . (current),
// + and - (the next and previous one), ^ (first), $ (last), :n new, :o
// old, :u unread, :r read, :d deleted, /string (subject contains), and
// names (mail from that address or user). deleted selects deleted
// messages instead of the others (undelete). An empty list is the current
// message; for undelete, the first deleted message after it, else the
// last before it (POSIX).
func parseList(f *folder, words []string, deleted bool) ([]int, error) {
	if f == nil || len(f.msgs) == 0 {
		return nil, fmt.Errorf("No applicable messages")
	}
	ok := func(i int) bool { return (f.msgs[i].mark&mDeleted != 0) == deleted }
	seen := make(map[int]bool)
	var out []int
	add := func(i int) {
		if !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	number := func(w string) (int, error) {
		switch w {
		case ".":
			return f.dot, nil
		case "^":
			for i := range f.msgs {
				if ok(i) {
					return i, nil
				}
			}
			return 0, fmt.Errorf("No applicable messages")
		case "+":
			for i := f.dot + 1; i < len(f.msgs); i++ {
				if ok(i) {
					return i, nil
				}
			}
			return 0, fmt.Errorf("No applicable messages")
		case "-":
			for i := f.dot - 1; i >= 0; i-- {
				if ok(i) {
					return i, nil
				}
			}
			return 0, fmt.Errorf("No applicable messages")
		case "$":
			for i := len(f.msgs) - 1; i >= 0; i-- {
				if ok(i) {
					return i, nil
				}
			}
			return 0, fmt.Errorf("No applicable messages")
		}
		n, err := strconv.Atoi(w)
		if err != nil {
			return 0, fmt.Errorf("%q: not a message number", w)
		}
		if n < 1 || n > len(f.msgs) {
			return 0, fmt.Errorf("%d: Invalid message number", n)
		}
		return n - 1, nil
	}
	for _, w := range words {
		switch {
		case w == "*":
			for i := range f.msgs {
				if ok(i) {
					add(i)
				}
			}
		case strings.HasPrefix(w, ":") && len(w) > 1:
			for _, c := range w[1:] {
				sel, err := colonSelector(c)
				if err != nil {
					return nil, err
				}
				for i := range f.msgs {
					m := &f.msgs[i]
					if sel(m) && (c == 'd' || m.mark&mDeleted == 0) {
						add(i)
					}
				}
			}
		case strings.HasPrefix(w, "/"):
			needle := strings.ToLower(w[1:])
			found, err := f.matching(ok, func(sm *summary) bool { return strings.Contains(strings.ToLower(sm.subject), needle) })
			if err != nil {
				return nil, err
			}
			for _, i := range found {
				add(i)
			}
		case w == "+" || w == "-":
			i, err := number(w)
			if err != nil {
				return nil, err
			}
			add(i)
		case isNumberish(w):
			lo, hi, isRange := strings.Cut(w, "-")
			a, err := number(lo)
			if err != nil {
				return nil, err
			}
			if !isRange {
				if !ok(a) {
					return nil, fmt.Errorf("%d: Inappropriate message", a+1)
				}
				add(a)
				continue
			}
			b, err := number(hi)
			if err != nil {
				return nil, err
			}
			for i := a; i <= b; i++ {
				if ok(i) {
					add(i)
				}
			}
		default:
			found, err := f.matching(ok, func(sm *summary) bool { return fromUser(sm.from, w) })
			if err != nil {
				return nil, err
			}
			for _, i := range found {
				add(i)
			}
		}
	}
	if len(words) == 0 {
		switch {
		case ok(f.dot):
			add(f.dot)
		case deleted:
			if i, err := number("+"); err == nil {
				add(i)
			} else if i, err := number("-"); err == nil {
				add(i)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("No applicable messages")
	}
	slices.Sort(out)
	return out, nil
}

func colonSelector(c rune) (func(*msg) bool, error) {
	switch c {
	case 'n':
		return func(m *msg) bool { return m.isNew() && m.flags&mbox.Seen == 0 }, nil
	case 'o':
		// POSIX: "any not in state read or new": unread, preserved or
		// saved (BSD mail and s-nail take every message not new).
		return func(m *msg) bool {
			return m.mark&(mPreserved|mSaved) != 0 || !m.isNew() && m.flags&mbox.Seen == 0
		}, nil
	case 'u':
		// POSIX's unread state: old (seen listed before) and not read,
		// not preserved or saved (BSD mail and s-nail count new ones too).
		return func(m *msg) bool {
			return !m.isNew() && m.flags&mbox.Seen == 0 && m.mark&(mPreserved|mSaved) == 0
		}, nil
	case 'r':
		return func(m *msg) bool { return m.flags&mbox.Seen != 0 }, nil
	case 'd':
		return func(m *msg) bool { return m.mark&mDeleted != 0 }, nil
	}
	return nil, fmt.Errorf(":%c: unknown message type (use :n :o :u :r :d)", c)
}

// isNumberish reports whether w is a message number, a range or one of
// the single-character names . ^ $.
func isNumberish(w string) bool {
	if w == "." || w == "^" || w == "$" {
		return true
	}
	lo, hi, isRange := strings.Cut(w, "-")
	num := func(x string) bool {
		if x == "." || x == "^" || x == "$" {
			return true
		}
		_, err := strconv.Atoi(x)
		return err == nil && x != ""
	}
	return num(lo) && (!isRange || num(hi))
}

// fromUser reports whether a message from addr is from name: the whole
// address, or its local part, without regard to case.
func fromUser(addr, name string) bool {
	if strings.EqualFold(addr, name) {
		return true
	}
	local, _, _ := strings.Cut(addr, "@")
	return strings.EqualFold(local, name)
}
