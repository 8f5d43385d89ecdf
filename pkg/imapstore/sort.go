package imapstore

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"unixmail/internal/parts"
	"unixmail/pkg/filewrite"
	"unixmail/pkg/mbox"
)

// SortKey is one of RFC 5256's sort criteria.
type SortKey string

const (
	SortArrival SortKey = "ARRIVAL"
	SortCc      SortKey = "CC"
	SortDate    SortKey = "DATE"
	SortFrom    SortKey = "FROM"
	SortSize    SortKey = "SIZE"
	SortSubject SortKey = "SUBJECT"
	SortTo      SortKey = "TO"
)

// SortCriterion is a sort key, maybe REVERSE.
type SortCriterion struct {
	Key     SortKey
	Reverse bool
}

// sortItem is what ordering needs of one message: its keys, never the
// message itself, so that a sort costs little memory whatever the
// mailbox.
type sortItem struct {
	seq, uid      uint32
	arrival, date int64 // UTC, in seconds
	size          int64
	subject       string // the base subject, i;unicode-casemap folded
	reply         bool   // the subject had Re:, Fwd: and the like
	from, to, cc  string // addr-mailbox of the first address, folded
	msgID         string
	refs          []string // References, or else the first of In-Reply-To
}

// need says which keys must be read from the messages: a SORT (DATE)
// reads no subject, no address.
type need struct {
	size, date, subject, from, to, cc bool
	ids                               bool // Message-ID and references, for THREAD=REFERENCES
}

// header reports whether a key of n is in the header.
func (n need) header() bool { return n.date || n.subject || n.from || n.to || n.cc || n.ids }

func needFor(keys []SortCriterion) need {
	var n need
	for _, k := range keys {
		switch k.Key {
		case SortSize:
			n.size = true
		case SortDate:
			n.date = true
		case SortSubject:
			n.subject = true
		case SortFrom:
			n.from = true
		case SortTo:
			n.to = true
		case SortCc:
			n.cc = true
		}
	}
	return n
}

// Sort is SORT (RFC 5256): the messages matching criteria, as sequence
// numbers or UIDs, in the order keys give; messages equal by every key
// keep their order in the mailbox.
func (s *Session) Sort(kind imapserver.NumKind, criteria *imap.SearchCriteria, keys []SortCriterion) ([]uint32, error) {
	items, err := s.orderItems(criteria, needFor(keys))
	if err != nil {
		return nil, err
	}
	return sortNums(items, keys, kind), nil
}

// sortNums orders items by keys, and gives their numbers of kind.
func sortNums(items []sortItem, keys []SortCriterion, kind imapserver.NumKind) []uint32 {
	slices.SortStableFunc(items, func(a, b sortItem) int {
		for _, k := range keys {
			c := compareBy(k.Key, &a, &b)
			if k.Reverse {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	out := make([]uint32, len(items))
	for i := range items {
		out[i] = items[i].num(kind)
	}
	return out
}

func compareBy(k SortKey, a, b *sortItem) int {
	switch k {
	case SortArrival:
		return cmp.Compare(a.arrival, b.arrival)
	case SortCc:
		return cmp.Compare(a.cc, b.cc)
	case SortDate:
		return cmp.Compare(a.date, b.date)
	case SortFrom:
		return cmp.Compare(a.from, b.from)
	case SortSize:
		return cmp.Compare(a.size, b.size)
	case SortSubject:
		return cmp.Compare(a.subject, b.subject)
	case SortTo:
		return cmp.Compare(a.to, b.to)
	}
	return 0
}

func (it *sortItem) num(kind imapserver.NumKind) uint32 {
	if kind == imapserver.NumKindUID {
		return it.uid
	}
	return it.seq
}

// orderItems finds the messages matching criteria, in mailbox order, with
// the keys n asks for, reading each message's header at most. The
// processors share the messages out, a part each: the headers are read
// and their keys made at once, each header let go once its keys are
// made, so that memory stays a sortItem a message.
func (s *Session) orderItems(criteria *imap.SearchCriteria, n need) ([]sortItem, error) {
	data, err := s.Search(imapserver.NumKindSeq, criteria, &imap.SearchOptions{ReturnAll: true})
	if err != nil {
		return nil, err
	}
	set, _ := data.All.(imap.SeqSet)
	seqs, ok := set.Nums()
	if !ok {
		return nil, fmt.Errorf("sort: search gave an open range")
	}
	sel := s.sel
	f, err := sel.reader()
	if err != nil {
		return nil, err
	}
	items := make([]sortItem, len(seqs))
	parts.In(len(seqs), parts.Of(len(seqs), sortPart), func(_, from, to int) {
		var k keyReader
		defer k.headers.Close()
		for at := from; at < to; at += sortBatch {
			end := min(at+sortBatch, to)
			for i := at; i < end; i++ {
				items[i] = sortItem{seq: seqs[i], uid: sel.msgs[seqs[i]-1].uid}
			}
			k.keys(f, sel, items[at:end], n)
		}
	})
	items = slices.DeleteFunc(items, func(it sortItem) bool { return it.seq == 0 })
	if n.size {
		// sel.size keeps what it counts: the selection's alone.
		for i := range items {
			items[i].size = sel.size(f, sel.entry(items[i].uid))
		}
	}
	return items, nil
}

// sortPart is the fewest messages worth a processor's while; sortBatch
// how many headers a processor reads at once.
const (
	sortPart  = 1000
	sortBatch = 128
)

// keyReader makes the keys of one batch of messages after another, in
// memory it keeps from one to the next.
type keyReader struct {
	headers filewrite.Reader // a batch's headers read at once, not one pread each
	spans   []filewrite.Span
	entries []*mbox.Entry // the messages of spans
	at      []int         // ...and their items
	one     []byte        // a header read alone
	vals    []byte        // the values of a header's fields
}

// keys fills in the keys n asks for of items, whose seq and uid are
// set; a message gone has its seq set to 0.
func (k *keyReader) keys(f *os.File, sel *selected, items []sortItem, n need) {
	k.spans, k.entries, k.at = k.spans[:0], k.entries[:0], k.at[:0]
	for i := range items {
		it := &items[i]
		e := sel.entry(it.uid)
		if e == nil {
			it.seq = 0 // gone: dropped by the caller
			continue
		}
		it.arrival = e.Date.Unix()
		it.date = it.arrival
		if n.header() || e.Date.IsZero() {
			k.spans = append(k.spans, filewrite.Span{Off: e.HeaderOffset, N: int(min(e.BodyOffset-e.HeaderOffset, maxHeader))})
			k.entries, k.at = append(k.entries, e), append(k.at, i)
		}
	}
	if len(k.spans) == 0 {
		return
	}
	raw, err := k.headers.Read(f, k.spans)
	for j, e := range k.entries {
		var h []byte
		if err == nil {
			h, raw = raw[:k.spans[j].N], raw[k.spans[j].N:]
		} else { // one cut short: each read alone, as far as it goes
			k.one = storedHeader(f, e, k.one)
			h = k.one
		}
		k.fill(&items[k.at[j]], h, e.Date.IsZero(), n)
	}
}

// The header fields the keys are made of, and their indexes there.
var sortFields = [...]string{"Date", "Subject", "From", "To", "Cc", "Message-Id", "References", "In-Reply-To"}

const (
	sortFieldDate = iota
	sortFieldSubject
	sortFieldFrom
	sortFieldTo
	sortFieldCc
	sortFieldMessageID
	sortFieldReferences
	sortFieldInReplyTo
)

// fill fills in the keys a stored header gives, as the envelope
// (envelopeOf) and mail.Header give them, the arrival too when the From_
// line has no date (noArrival). The sent date is the Date field in UTC,
// or the arrival when it has none that parses.
func (k *keyReader) fill(it *sortItem, raw []byte, noArrival bool, n need) {
	var spans [len(sortFields)][2]int
	k.vals = valueSpans(k.vals[:0], raw, sortFields[:], spans[:])
	// The values kept in the item are copied out of k.vals.
	v := func(field int) string { return string(k.vals[spans[field][0]:spans[field][1]]) }
	if noArrival || n.date {
		dv := v(sortFieldDate)
		date := parseDate(dv)
		if noArrival {
			// internalDate's: no Date field is the zero time, one
			// that does not parse the epoch.
			switch {
			case dv == "" || !date.IsZero():
				it.arrival = date.Unix()
			default:
				it.arrival = 0
			}
			it.date = it.arrival
		}
		if n.date && !date.IsZero() {
			it.date = date.Unix()
		}
	}
	if n.subject {
		base, reply := baseSubject(decodeText(v(sortFieldSubject)))
		it.subject, it.reply = casemap(base), reply
	}
	for _, a := range [...]struct {
		want  bool
		field int
		key   *string
	}{{n.from, sortFieldFrom, &it.from}, {n.to, sortFieldTo, &it.to}, {n.cc, sortFieldCc, &it.cc}} {
		if a.want {
			*a.key = firstMailbox(addressList(nil, v(a.field)))
		}
	}
	if n.ids {
		it.msgID = msgID(v(sortFieldMessageID))
		// What THREAD=REFERENCES links by: References, or else the
		// first of In-Reply-To.
		it.refs = msgIDs(v(sortFieldReferences))
		if len(it.refs) == 0 {
			if irt := msgIDs(v(sortFieldInReplyTo)); len(irt) > 0 {
				it.refs = irt[:1]
			}
		}
	}
}

// msgIDs is the message IDs of a References or In-Reply-To field, as far
// as they parse, as mail.Header.MsgIDList gives them: read directly when
// they are quickMsgID's, one space between them (how the values of a
// folded field are joined).
func msgIDs(s string) []string {
	if s == "" {
		return nil
	}
	ids := make([]string, 0, strings.Count(s, " ")+1)
	for piece := range strings.SplitSeq(s, " ") {
		id, ok := quickMsgID(piece)
		if !ok {
			ids, _ = libraryHeader("References", s).MsgIDList("References")
			return ids
		}
		ids = append(ids, id)
	}
	return ids
}

// firstMailbox is the local part of the first address, folded.
func firstMailbox(addrs []imap.Address) string {
	if len(addrs) == 0 {
		return ""
	}
	return casemap(addrs[0].Mailbox)
}
