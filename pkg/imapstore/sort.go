package imapstore

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
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

// need says which keys must be read from the messages.
type need struct {
	header, size, refs bool
}

func needFor(keys []SortCriterion) need {
	var n need
	for _, k := range keys {
		switch k.Key {
		case SortSize:
			n.size = true
		case SortArrival:
		default:
			n.header = true
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
	return out, nil
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
// the keys n asks for, reading each message's header at most.
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
	items := make([]sortItem, 0, len(seqs))
	for _, seq := range seqs {
		m := &sel.msgs[seq-1]
		e := sel.entry(m.uid)
		if e == nil {
			continue
		}
		it := sortItem{seq: seq, uid: m.uid}
		var top *part
		if n.refs || e.Date.IsZero() {
			top = &part{header: header(f, e)}
		}
		it.arrival = internalDate(e, top).Unix()
		it.date = it.arrival
		if n.size {
			it.size = sel.size(f, e)
		}
		if n.header {
			it.fromEnvelope(sel.envelope(f, e, top))
		}
		if n.refs {
			it.refsFrom(mail.Header{Header: gomessage.Header{Header: top.header}})
		}
		items = append(items, it)
	}
	return items, nil
}

// fromEnvelope fills in the keys the envelope gives (the envelope cache's
// when it has the message: then nothing is read). The sent date is the
// Date field in UTC, or the arrival when it has none that parses.
func (it *sortItem) fromEnvelope(env *imap.Envelope) {
	if !env.Date.IsZero() {
		it.date = env.Date.Unix()
	}
	base, reply := baseSubject(env.Subject)
	it.subject, it.reply = casemap(base), reply
	it.from = firstMailbox(env.From)
	it.to = firstMailbox(env.To)
	it.cc = firstMailbox(env.Cc)
	it.msgID = env.MessageID
}

// refsFrom is what THREAD=REFERENCES links by: References, or else the
// first of In-Reply-To.
func (it *sortItem) refsFrom(h mail.Header) {
	it.refs, _ = h.MsgIDList("References")
	if len(it.refs) == 0 {
		if irt, _ := h.MsgIDList("In-Reply-To"); len(irt) > 0 {
			it.refs = irt[:1]
		}
	}
}

// firstMailbox is the local part of the first address, folded.
func firstMailbox(addrs []imap.Address) string {
	if len(addrs) == 0 {
		return ""
	}
	return casemap(addrs[0].Mailbox)
}
