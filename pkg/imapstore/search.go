package imapstore

import (
	"bytes"
	"io"
	"mime"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	gomessage "github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // charsets for SEARCH over decoded text
	"github.com/emersion/go-message/mail"

	"unixmail/pkg/mbox"
)

// Search evaluates every RFC 3501 key against each message: flags and
// sizes from the index, headers decoded (RFC 2047), BODY and TEXT over the
// decoded text of every part (transfer encodings undone, charsets made
// UTF-8), read from the file one message at a time.
func (s *Session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	sel, err := s.needSelected()
	if err != nil {
		return nil, err
	}
	if err := s.refresh(); err != nil {
		return nil, err
	}
	f, err := sel.reader()
	if err != nil {
		return nil, err
	}
	var seqs imap.SeqSet
	var uids imap.UIDSet
	data := &imap.SearchData{}
	for i := range sel.msgs {
		m := &sel.msgs[i]
		e := sel.entry(m.uid)
		if e == nil {
			continue
		}
		c := &candidate{sel: sel, f: f, seq: uint32(i + 1), m: m, e: e}
		if !c.match(criteria) {
			continue
		}
		n := c.seq
		if kind == imapserver.NumKindUID {
			n = m.uid
		}
		seqs.AddNum(c.seq)
		uids.AddNum(imap.UID(m.uid))
		if data.Min == 0 {
			data.Min = n
		}
		data.Max = n
		data.Count++
	}
	if kind == imapserver.NumKindUID {
		data.All = uids
	} else {
		data.All = seqs
	}
	return data, nil
}

// candidate is one message under test; what it costs to read is read once.
type candidate struct {
	sel *selected
	f   io.ReaderAt
	seq uint32
	m   *viewMsg
	e   *mbox.Entry
	top *part
}

func (c *candidate) structure() *part {
	if c.top == nil {
		c.top = c.sel.structure(c.f, c.e)
	}
	return c.top
}

func (c *candidate) match(cr *imap.SearchCriteria) bool {
	for _, set := range cr.SeqNum {
		if !seqContains(set, c.seq, uint32(len(c.sel.msgs))) {
			return false
		}
	}
	for _, set := range cr.UID {
		if !uidContains(set, c.m.uid, c.sel.lastUID()) {
			return false
		}
	}
	if !cr.Since.IsZero() || !cr.Before.IsZero() {
		if !inDates(internalDate(c.e, nil), cr.Since, cr.Before) {
			return false
		}
	}
	if !cr.SentSince.IsZero() || !cr.SentBefore.IsZero() {
		t, err := (&mail.Header{Header: gomessage.Header{Header: c.structure().header}}).Date()
		if err != nil || !inDates(t, cr.SentSince, cr.SentBefore) {
			return false
		}
	}
	for _, fl := range cr.Flag {
		if !c.hasFlag(fl) {
			return false
		}
	}
	for _, fl := range cr.NotFlag {
		if c.hasFlag(fl) {
			return false
		}
	}
	if cr.Larger > 0 && c.sel.size(c.f, c.e) <= cr.Larger {
		return false
	}
	if cr.Smaller > 0 && c.sel.size(c.f, c.e) >= cr.Smaller {
		return false
	}
	for _, h := range cr.Header {
		if !c.headerHas(h.Key, h.Value) {
			return false
		}
	}
	for _, b := range cr.Body {
		if !c.bodyHas(b) {
			return false
		}
	}
	for _, t := range cr.Text {
		if !c.headerHas("", t) && !c.bodyHas(t) {
			return false
		}
	}
	for i := range cr.Not {
		if c.match(&cr.Not[i]) {
			return false
		}
	}
	for i := range cr.Or {
		if !c.match(&cr.Or[i][0]) && !c.match(&cr.Or[i][1]) {
			return false
		}
	}
	return true
}

func (sel *selected) lastUID() uint32 {
	if len(sel.msgs) == 0 {
		return 0
	}
	return sel.msgs[len(sel.msgs)-1].uid
}

func seqContains(set imap.SeqSet, n, max uint32) bool {
	for _, r := range set {
		if inRange(r.Start, r.Stop, n, max) {
			return true
		}
	}
	return false
}

func uidContains(set imap.UIDSet, n, max uint32) bool {
	for _, r := range set {
		if inRange(uint32(r.Start), uint32(r.Stop), n, max) {
			return true
		}
	}
	return false
}

// inRange reports whether n is in the range a:b of a sequence or UID set,
// where 0 stands for *, the largest number in use (max), and the bounds
// may come in either order (RFC 3501 9, seq-range).
func inRange(a, b, n, max uint32) bool {
	if a == 0 {
		a = max
	}
	if b == 0 {
		b = max
	}
	if a > b {
		a, b = b, a
	}
	return n >= a && n <= b
}

// inDates compares dates only, in the message's own zone (RFC 3501 6.4.4).
func inDates(t, since, before time.Time) bool {
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if !since.IsZero() && day.Before(time.Date(since.Year(), since.Month(), since.Day(), 0, 0, 0, 0, time.UTC)) {
		return false
	}
	if !before.IsZero() && !day.Before(time.Date(before.Year(), before.Month(), before.Day(), 0, 0, 0, 0, time.UTC)) {
		return false
	}
	return true
}

func (c *candidate) hasFlag(fl imap.Flag) bool {
	if strings.EqualFold(string(fl), string(flagRecent)) {
		return c.m.recent
	}
	for _, p := range flagMap {
		if strings.EqualFold(string(fl), string(p.flag)) {
			return c.m.flags&p.bit != 0
		}
	}
	for _, k := range c.m.keywords {
		if strings.EqualFold(k, string(fl)) {
			return true
		}
	}
	return false
}

var wordDecoder = &mime.WordDecoder{CharsetReader: func(cs string, r io.Reader) (io.Reader, error) {
	return gomessage.CharsetReader(cs, r)
}}

// headerHas reports whether the field key (any field when key is "")
// contains value, decoded and ignoring case; an empty value asks only
// that the field be there.
func (c *candidate) headerHas(key, value string) bool {
	h := c.structure().header
	needle := strings.ToLower(value)
	for fields := h.Fields(); fields.Next(); {
		if key != "" && !strings.EqualFold(fields.Key(), key) {
			continue
		}
		if needle == "" {
			return true
		}
		v, err := wordDecoder.DecodeHeader(fields.Value())
		if err != nil {
			v = fields.Value()
		}
		if strings.Contains(strings.ToLower(v), needle) || key == "" && strings.Contains(strings.ToLower(fields.Key()), needle) {
			return true
		}
	}
	return false
}

// bodyHas looks for s in the decoded text of every leaf part.
func (c *candidate) bodyHas(s string) bool {
	needle := bytes.ToLower([]byte(s))
	found := false
	c.structure().leaves(func(pt *part) bool {
		body := rangeOf(c.f, c.e, pt.bodyStart, pt.end)
		var r io.Reader = body
		if ent, err := gomessage.New(gomessage.Header{Header: pt.header}, body); err == nil || gomessage.IsUnknownCharset(err) {
			r = ent.Body
		}
		found = containsFold(r, needle)
		return !found
	})
	return found
}

// leaves calls fn for each part without sub-parts, until fn says stop.
func (pt *part) leaves(fn func(*part) bool) bool {
	if pt.msg != nil {
		return pt.msg.leaves(fn)
	}
	if len(pt.children) == 0 {
		return fn(pt)
	}
	for _, ch := range pt.children {
		if !ch.leaves(fn) {
			return false
		}
	}
	return true
}

// containsFold streams r looking for needle (lower case), keeping enough
// of each chunk to find a match that spans two.
func containsFold(r io.Reader, needle []byte) bool {
	if len(needle) == 0 {
		return true
	}
	buf := make([]byte, 64<<10)
	var carry []byte
	for {
		n, err := r.Read(buf)
		if n > 0 {
			window := bytes.ToLower(append(carry, buf[:n]...))
			if bytes.Contains(window, needle) {
				return true
			}
			keep := len(needle) + 8
			if len(window) > keep {
				window = window[len(window)-keep:]
			}
			carry = append(carry[:0], window...)
		}
		if err != nil {
			return false
		}
	}
}
