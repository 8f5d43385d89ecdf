package imapstore

import (
	"bufio"
	"io"
	"mime"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	gomessage "github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // charsets for SEARCH over decoded text
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"unixmail/pkg/mbox"
)

// Search evaluates every RFC 3501 key against each message: flags and
// sizes from the index, headers decoded (RFC 2047), BODY and TEXT over the
// decoded text of every part (transfer encodings undone, charsets made
// UTF-8). Messages are read in file order through one big buffer, each
// at most once whatever the keys, and parsed only as far as the keys ask.
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
	keys := newSearchKeys(criteria)
	matched := make([]bool, len(sel.msgs))
	work := func(lo, hi int) {
		rd := &storedReader{f: f}
		for i := lo; i < hi; i++ {
			m := &sel.msgs[i]
			if e := sel.entry(m.uid); e != nil {
				c := &candidate{sel: sel, rd: rd, keys: keys, seq: uint32(i + 1), m: m, e: e}
				matched[i] = c.match(criteria)
			}
		}
	}
	// A search that reads the messages is split in two halves of the
	// file, one per core: each message is looked at on its own.
	split := len(sel.msgs)
	if readsMessages(criteria) && runtime.GOMAXPROCS(0) > 1 {
		split = sel.middle(parallelMin)
	}
	var wg sync.WaitGroup
	if split < len(sel.msgs) {
		wg.Go(func() { work(split, len(sel.msgs)) })
	}
	work(0, split)
	wg.Wait()
	var seqs imap.SeqSet
	var uids imap.UIDSet
	data := &imap.SearchData{}
	for i, ok := range matched {
		if !ok {
			continue
		}
		seq, uid := uint32(i+1), sel.msgs[i].uid
		n := seq
		if kind == imapserver.NumKindUID {
			n = uid
		}
		seqs.AddNum(seq)
		uids.AddNum(imap.UID(uid))
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

// parallelMin is the least a mailbox holds for a search to be split
// (a variable for the tests).
var parallelMin int64 = 32 << 20

// middle is the index of the message at the middle of the selected
// messages' bytes, or len(sel.msgs) when they hold less than least.
func (sel *selected) middle(least int64) int {
	first, last := sel.entryAt(0), sel.entryAt(len(sel.msgs)-1)
	if first == nil || last == nil || last.End-first.HeaderOffset < least {
		return len(sel.msgs)
	}
	half := first.HeaderOffset + (last.End-first.HeaderOffset)/2
	return sort.Search(len(sel.msgs), func(i int) bool {
		e := sel.entryAt(i)
		return e == nil || e.HeaderOffset >= half
	})
}

func (sel *selected) entryAt(i int) *mbox.Entry {
	if i < 0 || i >= len(sel.msgs) {
		return nil
	}
	return sel.entry(sel.msgs[i].uid)
}

// readsMessages reports whether a search looks into the messages (not
// only at flags, numbers and sizes).
func readsMessages(cr *imap.SearchCriteria) bool {
	if len(cr.Header) > 0 || len(cr.Body) > 0 || len(cr.Text) > 0 || !cr.SentSince.IsZero() || !cr.SentBefore.IsZero() {
		return true
	}
	for i := range cr.Not {
		if readsMessages(&cr.Not[i]) {
			return true
		}
	}
	for i := range cr.Or {
		if readsMessages(&cr.Or[i][0]) || readsMessages(&cr.Or[i][1]) {
			return true
		}
	}
	return false
}

// searchWindow is how much of the file SEARCH reads at once, and the
// largest message (or part of one) it holds in memory; bigger ones are
// streamed.
const searchWindow = 4 << 20

// storedReader reads messages as stored, in file order, many to a read.
type storedReader struct {
	f   io.ReaderAt
	buf []byte
	off int64 // file offset of buf[0]
	// text is where decoded text is made, reused from message to message.
	text []byte
}

// stored is message e's content as stored, valid until the next call; nil
// when it is too big to hold (or the file no longer has it).
func (r *storedReader) stored(e *mbox.Entry) []byte {
	size := e.End - e.HeaderOffset
	if size > searchWindow {
		return nil
	}
	if e.HeaderOffset < r.off || e.End > r.off+int64(len(r.buf)) {
		if r.buf == nil {
			r.buf = make([]byte, searchWindow)
		}
		n, _ := r.f.ReadAt(r.buf[:cap(r.buf)], e.HeaderOffset)
		r.buf, r.off = r.buf[:n], e.HeaderOffset
		if int64(n) < size {
			return nil
		}
	}
	return r.buf[e.HeaderOffset-r.off : e.End-r.off]
}

// searchKeys are a search's strings, each made ready for matching once.
type searchKeys map[string]*needle

func newSearchKeys(cr *imap.SearchCriteria) searchKeys {
	keys := searchKeys{}
	var add func(cr *imap.SearchCriteria)
	add = func(cr *imap.SearchCriteria) {
		for _, h := range cr.Header {
			keys[h.Value] = newNeedle(h.Value)
		}
		for _, s := range append(slices.Clone(cr.Body), cr.Text...) {
			keys[s] = newNeedle(s)
		}
		for i := range cr.Not {
			add(&cr.Not[i])
		}
		for i := range cr.Or {
			add(&cr.Or[i][0])
			add(&cr.Or[i][1])
		}
	}
	add(cr)
	return keys
}

// candidate is one message under test; what it costs to read is read once.
type candidate struct {
	sel     *selected
	rd      *storedReader
	keys    searchKeys
	seq     uint32
	m       *viewMsg
	e       *mbox.Entry
	loaded  bool
	content []byte // the message as stored, when held in memory
	hdr     *textproto.Header
	top     *part
	texts   map[*part][]byte // decoded leaf texts, LF line ends as stored
}

// stored is the message as stored when it is held in memory.
func (c *candidate) stored() []byte {
	if !c.loaded {
		c.loaded = true
		c.content = c.rd.stored(c.e)
		c.rd.text = c.rd.text[:0]
	}
	return c.content
}

// raw is a reader of the message as stored, for one too big to hold.
func (c *candidate) raw() *bufio.Reader {
	return bufio.NewReaderSize(c.e.Message().Raw(c.rd.f), 64<<10)
}

// header is the message's top header, state fields left out.
func (c *candidate) header() textproto.Header {
	if c.hdr == nil {
		var src lineSource
		if b := c.stored(); b != nil {
			src = &memLines{b: b}
		} else {
			src = &streamLines{br: c.raw()}
		}
		h := (&partParser{src: src}).header(true, false)
		c.hdr = &h
	}
	return *c.hdr
}

func (c *candidate) structure() *part {
	if c.top == nil {
		if b := c.stored(); b != nil {
			c.top = parseStored(b)
		} else {
			p := &partParser{src: &streamLines{br: c.raw()}, hideState: true, mimeOnly: true}
			c.top = p.part(0, "")
		}
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
		t, err := (&mail.Header{Header: gomessage.Header{Header: c.header()}}).Date()
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
	if cr.Larger > 0 && messageSize(c.rd.f, c.e) <= cr.Larger {
		return false
	}
	if cr.Smaller > 0 && messageSize(c.rd.f, c.e) >= cr.Smaller {
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

// inRange reports whether n is in the range a:b of a sequence or UID set
// (see bounds).
func inRange(a, b, n, last uint32) bool {
	lo, hi := bounds(a, b, last)
	return n >= lo && n <= hi
}

// bounds are the lowest and highest numbers of the range a:b of a
// sequence or UID set, where 0 stands for *, the largest number in use
// (last), and the bounds may come in either order (RFC 3501 9, seq-range).
func bounds(a, b, last uint32) (lo, hi uint32) {
	if a == 0 {
		a = last
	}
	if b == 0 {
		b = last
	}
	return min(a, b), max(a, b)
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
	h := c.header()
	n := c.keys[value]
	if n == nil {
		n = newNeedle(value)
	}
	for fields := h.Fields(); fields.Next(); {
		if key != "" && !strings.EqualFold(fields.Key(), key) {
			continue
		}
		if value == "" {
			return true
		}
		v, err := wordDecoder.DecodeHeader(fields.Value())
		if err != nil {
			v = fields.Value()
		}
		if n.in([]byte(v)) || key == "" && n.in([]byte(fields.Key())) {
			return true
		}
	}
	return false
}

// bodyHas looks for s in the decoded text of every leaf part.
func (c *candidate) bodyHas(s string) bool {
	n := c.keys[s]
	if n == nil {
		n = newNeedle(s)
	}
	found := false
	c.structure().leaves(func(pt *part) bool {
		found = c.leafHas(pt, n)
		return !found
	})
	return found
}

// leafHas looks for n in one leaf's decoded text: made in memory and
// kept for the next key when the message is held, made from the file
// when only the part fits, streamed when not even that.
func (c *candidate) leafHas(pt *part, n *needle) bool {
	if b := c.stored(); b != nil {
		if n.lines {
			return n.in(leafText(&c.rd.text, pt, b[pt.bodyStart:pt.end], true))
		}
		text, ok := c.texts[pt]
		if !ok {
			text = leafText(&c.rd.text, pt, b[pt.bodyStart:pt.end], false)
			if c.texts == nil {
				c.texts = map[*part][]byte{}
			}
			c.texts[pt] = text
		}
		return n.in(text)
	}
	body := io.NewSectionReader(c.rd.f, c.e.HeaderOffset+pt.bodyStart, pt.end-pt.bodyStart)
	if pt.end-pt.bodyStart <= searchWindow {
		b := make([]byte, body.Size())
		if _, err := io.ReadFull(body, b); err != nil {
			return false
		}
		var buf []byte
		return n.in(leafText(&buf, pt, b, n.lines))
	}
	var r io.Reader = mbox.NewUnquoter(body)
	if n.lines {
		r = newCRLF(r)
	}
	if ent, err := gomessage.New(gomessage.Header{Header: pt.header}, r); err == nil || gomessage.IsUnknownCharset(err) {
		r = ent.Body
	}
	return n.inReader(r)
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
