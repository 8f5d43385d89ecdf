package imapd

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"unixmail/pkg/imapstore"
)

// ordering is a SORT or THREAD command (RFC 5256), which the library does
// not know. The filter hands the library the same command as a SEARCH, so
// that it parses the search criteria and checks the state as it does for
// SEARCH; the session, seeing the ordering pending, sorts or threads what
// matches; the filter puts the response it made in place of the library's
// SEARCH response.
type ordering struct {
	tag   string
	name  string // SORT or THREAD, UID-prefixed as the command was
	keys  []imapstore.SortCriterion
	alg   imap.ThreadAlgorithm // THREAD's, else ""
	ret   *imap.SearchOptions  // ESORT's RETURN options, else nil
	reply string               // the untagged response, once made
	// silent: a SEARCH RETURN (SAVE), run as it is, whose response
	// (which the library makes regardless) is dropped.
	silent bool
}

// Caps the orderings add.
var orderCaps = []imap.Cap{imap.CapSort, imap.CapESort, "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES"}

var sortKeys = map[string]imapstore.SortKey{
	"ARRIVAL": imapstore.SortArrival, "CC": imapstore.SortCc, "DATE": imapstore.SortDate, "FROM": imapstore.SortFrom,
	"SIZE": imapstore.SortSize, "SUBJECT": imapstore.SortSubject, "TO": imapstore.SortTo,
}

// parseOrdering reads a SORT or THREAD command's arguments (after the
// command name) and gives the SEARCH arguments standing for them: CHARSET
// and the search criteria. What does not parse gets BAD with the reason.
func parseOrdering(cmd, args string) (*ordering, string, error) {
	o := &ordering{name: cmd}
	var rest string
	switch strings.ToUpper(strings.TrimPrefix(cmd, "UID ")) {
	case "SORT":
		if rest, ok := cutPrefixFold(args, "RETURN "); ok {
			var err error
			if o.ret, args, err = parseReturn(rest); err != nil {
				return nil, "", err
			}
		}
		list, after, found := strings.Cut(strings.TrimPrefix(args, "("), ")")
		if !strings.HasPrefix(args, "(") || !found {
			return nil, "", errors.New("SORT needs a parenthesised list of sort keys")
		}
		reverse := false
		for _, w := range strings.Split(list, " ") {
			if strings.EqualFold(w, "REVERSE") && !reverse {
				reverse = true
				continue
			}
			k, known := sortKeys[strings.ToUpper(w)]
			if !known {
				return nil, "", fmt.Errorf("unknown sort key %.40q", w)
			}
			o.keys = append(o.keys, imapstore.SortCriterion{Key: k, Reverse: reverse})
			reverse = false
		}
		if reverse {
			return nil, "", errors.New("REVERSE must be followed by a sort key")
		}
		if !strings.HasPrefix(after, " ") {
			return nil, "", errors.New("SORT needs a charset and search criteria")
		}
		rest = after[1:]
	case "THREAD":
		alg, after, found := strings.Cut(args, " ")
		switch strings.ToUpper(alg) {
		case string(imap.ThreadOrderedSubject):
			o.alg = imap.ThreadOrderedSubject
		case string(imap.ThreadReferences):
			o.alg = imap.ThreadReferences
		default:
			return nil, "", fmt.Errorf("unknown threading algorithm %.40q", alg)
		}
		if !found {
			return nil, "", errors.New("THREAD needs a charset and search criteria")
		}
		rest = after
	default:
		return nil, "", errors.New("not an ordering")
	}
	charset, criteria, ok := cutCharset(rest)
	if !ok || criteria == "" {
		return nil, "", errors.New("a charset and search criteria must follow")
	}
	return o, "CHARSET " + charset + " " + criteria, nil
}

// cutPrefixFold is strings.CutPrefix ignoring case.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}

// parseReturn reads ESORT's RETURN options (RFC 5267): MIN, MAX, ALL,
// COUNT; none means ALL.
func parseReturn(args string) (*imap.SearchOptions, string, error) {
	list, after, found := strings.Cut(strings.TrimPrefix(args, "("), ")")
	if !strings.HasPrefix(args, "(") || !found || !strings.HasPrefix(after, " ") {
		return nil, "", errors.New("RETURN needs a parenthesised list of options")
	}
	ret := &imap.SearchOptions{}
	for _, w := range strings.Fields(list) {
		switch strings.ToUpper(w) {
		case "MIN":
			ret.ReturnMin = true
		case "MAX":
			ret.ReturnMax = true
		case "ALL":
			ret.ReturnAll = true
		case "COUNT":
			ret.ReturnCount = true
		default:
			return nil, "", fmt.Errorf("unknown RETURN option %.40q", w)
		}
	}
	if !ret.ReturnMin && !ret.ReturnMax && !ret.ReturnCount {
		ret.ReturnAll = true
	}
	return ret, after[1:], nil
}

// saveOnly reports whether SEARCH arguments ask only to save the result.
func saveOnly(args string) bool {
	rest, ok := cutPrefixFold(args, "RETURN ")
	if !ok {
		return false
	}
	list, _, found := strings.Cut(strings.TrimPrefix(rest, "("), ")")
	opts := strings.Fields(list)
	return strings.HasPrefix(rest, "(") && found && len(opts) == 1 && strings.EqualFold(opts[0], "SAVE")
}

// cutCharset takes the charset (an atom or a quoted string) off the front.
func cutCharset(s string) (charset, rest string, ok bool) {
	end := strings.IndexByte(s, ' ')
	if strings.HasPrefix(s, `"`) {
		q := strings.IndexByte(s[1:], '"')
		if q < 0 {
			return "", "", false
		}
		end = q + 2
		if end < len(s) && s[end] != ' ' {
			return "", "", false
		}
	}
	if end <= 0 || end >= len(s) || strings.ContainsAny(s[:end], "{}()\\") {
		return "", "", false
	}
	return s[:end], s[end+1:], true
}

// run sorts or threads the messages matching criteria and makes the
// untagged response.
func (o *ordering) run(s *imapstore.Session, kind imapserver.NumKind, criteria *imap.SearchCriteria) error {
	var b strings.Builder
	if o.alg == "" {
		nums, err := s.Sort(kind, criteria, o.keys)
		if err != nil {
			return err
		}
		if o.ret != nil {
			o.reply = o.esearch(kind, nums)
			return nil
		}
		b.WriteString("* SORT")
		for _, n := range nums {
			b.WriteByte(' ')
			b.WriteString(strconv.FormatUint(uint64(n), 10))
		}
	} else {
		threads, err := s.Thread(kind, criteria, o.alg)
		if err != nil {
			return err
		}
		b.WriteString("* THREAD")
		if len(threads) > 0 {
			b.WriteByte(' ')
		}
		for i := range threads {
			b.WriteByte('(')
			writeThread(&b, &threads[i])
			b.WriteByte(')')
		}
	}
	b.WriteString("\r\n")
	o.reply = b.String()
	return nil
}

// esearch is ESORT's response: MIN and MAX are the first and the last
// in sort order, ALL the numbers in sort order, ranges only where they
// ascend by one.
func (o *ordering) esearch(kind imapserver.NumKind, nums []uint32) string {
	var b strings.Builder
	b.WriteString(`* ESEARCH (TAG "` + o.tag + `")`)
	if kind == imapserver.NumKindUID {
		b.WriteString(" UID")
	}
	num := func(n uint32) string { return strconv.FormatUint(uint64(n), 10) }
	if len(nums) > 0 && o.ret.ReturnMin {
		b.WriteString(" MIN " + num(nums[0]))
	}
	if len(nums) > 0 && o.ret.ReturnMax {
		b.WriteString(" MAX " + num(nums[len(nums)-1]))
	}
	if o.ret.ReturnCount {
		b.WriteString(" COUNT " + strconv.Itoa(len(nums)))
	}
	if len(nums) > 0 && o.ret.ReturnAll {
		b.WriteString(" ALL ")
		for i := 0; i < len(nums); {
			j := i
			for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
				j++
			}
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(num(nums[i]))
			if j > i {
				b.WriteString(":" + num(nums[j]))
			}
			i = j + 1
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

// writeThread writes a thread's members (RFC 5256 thread-members or
// thread-nested): its number, then a lone answer in a chain, or several
// as nested lists. A dummy (Num 0) shows only its children.
func writeThread(b *strings.Builder, t *imapstore.Thread) {
	kids := t.Children
	if t.Num != 0 {
		b.WriteString(strconv.FormatUint(uint64(t.Num), 10))
		if len(kids) == 0 {
			return
		}
		b.WriteByte(' ')
	}
	if len(kids) == 1 {
		writeThread(b, &kids[0])
		return
	}
	for i := range kids {
		b.WriteByte('(')
		writeThread(b, &kids[i])
		b.WriteByte(')')
	}
}
