package imapstore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"unixmail/pkg/filewrite"
	"unixmail/pkg/mbox"
)

// crlf turns the LF line ends of unquoted mbox content into CRLF, the form
// IMAP shows (the unquoter has already made CRLF files read as LF).
type crlf struct {
	r       io.Reader
	in, out []byte
}

func newCRLF(r io.Reader) *crlf { return &crlf{r: r, in: make([]byte, 32<<10)} }

func (c *crlf) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		n, err := c.r.Read(c.in)
		if n > 0 {
			c.out = c.out[:0]
			for in := c.in[:n]; len(in) > 0; {
				i := bytes.IndexByte(in, '\n')
				if i < 0 {
					c.out = append(c.out, in...)
					break
				}
				c.out = append(append(c.out, in[:i]...), '\r', '\n')
				in = in[i+1:]
			}
		}
		if n == 0 && err != nil {
			return 0, err
		}
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

// view is a message as IMAP shows it, read from the file: mbox quoting
// undone, CRLF line ends, and without the fields that hold mailbox state
// (Status, X-UID...), which change while the message must not (RFC 3501
// 2.3.1.1); c-client and Dovecot hide them too. Its length is the index's
// ClientSize.
// Read through a guard, it follows the message when the file changes.
func view(f io.ReaderAt, e *mbox.Entry) io.Reader {
	if g, ok := f.(*guard); ok {
		return &movingView{g: g, e: e, r: e.Message().ClientContent(g)}
	}
	return e.Message().ClientContent(f)
}

// rangeOf reads bytes [from, to) of a message's view.
func rangeOf(f io.ReaderAt, e *mbox.Entry, from, to int64) io.Reader {
	r := view(f, e)
	if _, err := io.CopyN(io.Discard, r, from); err != nil {
		return errReader{err}
	}
	return io.LimitReader(r, to-from)
}

// structCache keeps the parsed structure of the last few messages a
// client fetched from (BODYSTRUCTURE, then parts, is the usual order).
type structCache struct {
	parts map[uint32]*part
	sizes map[uint32]int64
}

func newStructCache() structCache {
	return structCache{parts: map[uint32]*part{}, sizes: map[uint32]int64{}}
}

func (sel *selected) structure(f io.ReaderAt, e *mbox.Entry) *part {
	if p, ok := sel.cache.parts[e.UID]; ok {
		return p
	}
	if len(sel.cache.parts) >= 64 {
		clear(sel.cache.parts)
	}
	p := parseParts(view(f, e))
	if readFailed(f) != nil {
		return p // made of what could be read: not kept
	}
	sel.cache.parts[e.UID] = p
	sel.cache.sizes[e.UID] = p.end
	return p
}

// size is RFC822.SIZE: the length of the view, which the scan counted.
func (sel *selected) size(f io.ReaderAt, e *mbox.Entry) int64 {
	if e.ClientSize >= 0 {
		return e.ClientSize
	}
	if n, ok := sel.cache.sizes[e.UID]; ok {
		return n
	}
	n := messageSize(f, e)
	sel.cache.sizes[e.UID] = n
	return n
}

// messageSize is RFC822.SIZE counted from the file, for the messages
// whose size the scan could not tell (mbox.Message.ClientSize).
func messageSize(f io.ReaderAt, e *mbox.Entry) int64 {
	if e.ClientSize >= 0 {
		return e.ClientSize
	}
	n, _ := io.Copy(io.Discard, view(f, e))
	return n
}

// header is a message's header alone, for ENVELOPE and the sort keys:
// the bytes the scan found to be the header, in one read, state fields
// left out (no mboxrd quoting to undo there).
func header(f io.ReaderAt, e *mbox.Entry) textproto.Header {
	return (&partParser{src: &memLines{b: storedHeader(f, e, nil)}}).header(true, false)
}

// storedHeader is e's header as stored, state fields and all, read into
// buf when it is big enough. Read through a guard, it is read again
// where the message has moved; nil when it cannot be.
func storedHeader(f io.ReaderAt, e *mbox.Entry, buf []byte) []byte {
	for {
		n := min(e.BodyOffset-e.HeaderOffset, maxHeader)
		if int64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		got, err := f.ReadAt(buf[:n], e.HeaderOffset)
		if g, ok := f.(*guard); ok && errors.Is(err, errMoved) {
			if e, err = g.relocate(e); err != nil {
				return nil
			}
			continue
		}
		return buf[:got]
	}
}

func (sel *selected) envelopes() *envCache {
	if sel.envs == nil {
		sel.envs = loadEnvCache(sel.path, sel.validity)
	}
	return sel.envs
}

// envelope is e's ENVELOPE: the cache's, or made from the header in top
// (parsed already), or else from the header read from f, and kept.
func (sel *selected) envelope(f io.ReaderAt, e *mbox.Entry, top *part) *imap.Envelope {
	if top == nil || top.header.Len() == 0 {
		if env, ok := sel.envelopes().get(e); ok {
			return env
		}
	}
	var env *imap.Envelope
	if top != nil {
		env = imapserver.ExtractEnvelope(top.header)
	} else {
		env = envelopeOf(sel.rawHeader(f, e))
	}
	if readFailed(f) == nil {
		sel.envelopes().put(e, env)
	}
	return env
}

// aheadMin is how many messages a FETCH of ENVELOPE names for their
// envelopes to be made ahead, on other cores.
const aheadMin = 64

// envelopesAhead makes the envelope cache records of a FETCH's messages
// (appendRecord's: the envelope as SORT reads it and as FETCH sends it)
// ahead of the command's goroutine, which writes the responses. A source
// goroutine walks the messages in order a batch at a time, taking what
// the cache holds; the batches with messages it does not hold go to a
// few workers, which read those headers and make their envelopes, the
// cores sharing the work; the batches come back in order. At most
// aheadQueue batches are on their way at once, so memory stays bounded
// whatever the folder's size. Until stop, the saved envelope cache is the
// source's alone (what the session makes, put, stays the command's).
//
// The workers read the file without a guard (only the command's
// goroutine may bring the snapshot up to date) but check a batch's reads
// alike, the file's stamp taken after them all must still be the
// snapshot's: a batch read from a file changed under it, or one with a
// message gone, ends the records made ahead there (next gives nil: the
// command's goroutine takes over).
type envelopesAhead struct {
	order chan *aheadBatch
	free  chan *aheadBatch // batches done with, for the source to fill again
	cur   *aheadBatch
	at    int // the next item of cur
	quit  chan struct{}
	wg    sync.WaitGroup
}

// aheadBatch is the work of some consecutive messages of the FETCH.
type aheadBatch struct {
	items []aheadItem
	arena []byte        // the bytes the items' records are in
	ready chan struct{} // closed when good is known and items[:good] made
	good  int
}

// aheadItem is one message on its way.
type aheadItem struct {
	e    *mbox.Entry
	rec  []byte // its record; nil until made
	made bool   // made here, not found in the cache: to be kept there
}

// The batch size in messages, and about the bytes of records or headers
// a batch holds at most; how many batches may be on their way at once.
const (
	aheadBatchLen = 128
	aheadBytes    = 1 << 20
	aheadQueue    = 6
)

// aheadWorkers is how many goroutines make records at once: the cores
// there are, and no more than a few.
func aheadWorkers() int { return min(max(runtime.GOMAXPROCS(0), 1), 4) }

func (sel *selected) envelopesAhead(file *os.File, snap *snapshot, targets []int) *envelopesAhead {
	a := &envelopesAhead{order: make(chan *aheadBatch, aheadQueue), free: make(chan *aheadBatch, aheadQueue+2), quit: make(chan struct{})}
	c := sel.envelopes()
	if len(c.list) == 0 {
		c.list = make([]keyed, 0, len(targets)) // put may keep them all
	}
	jobs := make(chan *aheadBatch, aheadQueue)
	// The batches for the workers are sent to them in the order they go
	// to the command's goroutine: the workers take what arrives, and the
	// command's goroutine waits for each in turn.
	send := func(b *aheadBatch, work bool) bool {
		select {
		case a.order <- b:
		case <-a.quit:
			return false
		}
		if !work {
			close(b.ready)
			return true
		}
		select {
		case jobs <- b:
			return true
		case <-a.quit:
			b.good = 0
			close(b.ready)
			return false
		}
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer close(jobs)
		defer close(a.order)
		b, work := a.fresh(), false
		for _, t := range targets {
			e := snap.entry(sel.msgs[t].uid)
			if e == nil {
				break
			}
			it := aheadItem{e: e}
			if rec, ok := c.getSaved(e); ok {
				start := len(b.arena)
				b.arena = append(b.arena, rec...)
				it.rec = b.arena[start:len(b.arena):len(b.arena)]
			} else {
				work = true
			}
			b.items = append(b.items, it)
			b.good = len(b.items)
			if len(b.items) == aheadBatchLen || len(b.arena) >= aheadBytes {
				if !send(b, work) {
					return
				}
				b, work = a.fresh(), false
			}
		}
		if len(b.items) > 0 {
			send(b, work)
		}
	}()
	for range aheadWorkers() {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			var w aheadWorker
			defer w.headers.Close()
			for b := range jobs {
				b.make(file, snap.stamp, &w)
				close(b.ready)
			}
		}()
	}
	return a
}

// fresh is an empty batch: one done with, when there is one.
func (a *envelopesAhead) fresh() *aheadBatch {
	select {
	case b := <-a.free:
		b.items, b.arena, b.ready, b.good = b.items[:0], b.arena[:0], make(chan struct{}), 0
		return b
	default:
		return &aheadBatch{items: make([]aheadItem, 0, aheadBatchLen), arena: make([]byte, 0, 64<<10), ready: make(chan struct{})}
	}
}

// aheadWorker is what a worker of envelopesAhead keeps from one batch
// to the next.
type aheadWorker struct {
	headers filewrite.Reader // a batch's headers read at once, not one pread each
	spans   []filewrite.Span
	env     envelopeMaker
}

// make reads the headers of the batch's messages that have no record
// and makes theirs, the arena grown by them. When the file is not the
// snapshot's any more, good is cut to the first message read.
func (b *aheadBatch) make(f *os.File, want stamp, w *aheadWorker) {
	w.spans = w.spans[:0]
	for i := range b.items {
		if e := b.items[i].e; b.items[i].rec == nil {
			w.spans = append(w.spans, filewrite.Span{Off: e.HeaderOffset, N: int(min(e.BodyOffset-e.HeaderOffset, maxHeader))})
		}
	}
	raw, err := w.headers.Read(f, w.spans)
	if err != nil {
		b.cut()
		return
	}
	if stp, err := stampOf(f); err != nil || stp != want {
		b.cut()
		return
	}
	spans := w.spans
	for i := range b.items {
		it := &b.items[i]
		if it.rec != nil {
			continue
		}
		n := spans[0].N
		start := len(b.arena)
		b.arena = appendRecord(b.arena, w.env.make(raw[:n]))
		it.rec, it.made = b.arena[start:len(b.arena):len(b.arena)], true
		raw, spans = raw[n:], spans[1:]
	}
}

// cut ends the batch's good items before its first without a record.
func (b *aheadBatch) cut() {
	for i := range b.items {
		if b.items[i].rec == nil {
			b.good = i
			return
		}
	}
}

// next is the record of the next message of the FETCH and whether it was
// made here (else found in the cache); nil when no more were made.
func (a *envelopesAhead) next() ([]byte, bool) {
	for a.cur == nil || a.at == a.cur.good {
		if a.cur != nil && a.cur.good < len(a.cur.items) {
			return nil, false
		}
		b, ok := <-a.order
		if !ok {
			return nil, false
		}
		<-b.ready
		if a.cur != nil {
			select {
			case a.free <- a.cur:
			default:
			}
		}
		a.cur, a.at = b, 0
	}
	it := a.cur.items[a.at]
	a.at++
	return it.rec, it.made
}

// stop ends the goroutines (the FETCH may end early) and waits for them.
func (a *envelopesAhead) stop() {
	if a == nil {
		return
	}
	close(a.quit)
	for b := range a.order {
		<-b.ready
	}
	a.wg.Wait()
}

// rawHeader is e's header as stored, state fields and all, in one read
// into a buffer of the selection's, valid until the next call.
func (sel *selected) rawHeader(f io.ReaderAt, e *mbox.Entry) []byte {
	b := storedHeader(f, e, sel.hdrBuf)
	if cap(b) > cap(sel.hdrBuf) {
		sel.hdrBuf = b
	}
	return b
}

// internalDate is the From_ line's date (the delivery time), or the
// Date field when the From_ line has none.
func internalDate(e *mbox.Entry, top *part) time.Time {
	if !e.Date.IsZero() {
		return e.Date
	}
	if top != nil {
		if t, err := (&mail.Header{Header: gomessage.Header{Header: top.header}}).Date(); err == nil {
			return t
		}
	}
	return time.Unix(0, 0)
}

// Fetch writes the items asked for, streaming every section from the file.
// Fetching a body section without PEEK sets \Seen first, as RFC 3501 says,
// in one write for all the messages.
func (s *Session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	marks := setsSeen(options) && s.sel != nil && !s.sel.readOnly
	if s.sel != nil && s.sel.pending != nil && !marks {
		if done, err := s.fetchPending(w, numSet, options); done || err != nil {
			return err
		}
	}
	sel, err := s.needSelected()
	if err != nil {
		return err
	}
	targets, err := sel.indexes(numSet)
	if err != nil {
		return err
	}
	if err := s.refresh(); err != nil {
		return err
	}
	flagsChanged := map[int]bool{}
	if marks {
		var unseen imap.SeqSet
		for _, t := range targets {
			if sel.msgs[t].flags&mbox.Seen == 0 {
				unseen.AddNum(uint32(t + 1))
				flagsChanged[t] = true
			}
		}
		if len(unseen) > 0 {
			store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}
			if err := s.Store(w, unseen, store, nil); err != nil {
				return err
			}
		}
	}
	file, err := sel.reader()
	if err != nil {
		return err
	}
	f := &guard{s: s, f: file}
	var ahead *envelopesAhead
	if options.Envelope && len(targets) >= aheadMin {
		ahead = sel.envelopesAhead(file, sel.snap, targets)
		defer func() { ahead.stop() }()
	}
	out := s.fetchOut(w, options)
	for _, t := range targets {
		m := &sel.msgs[t]
		var rec []byte
		made := false
		if ahead != nil {
			if rec, made = ahead.next(); rec == nil {
				// A message gone, or the folder changed under it: the
				// rest are made here, where messages can be found again
				// (and the envelope cache is this goroutine's again).
				ahead.stop()
				ahead = nil
			}
		}
		e := sel.entry(m.uid)
		if e == nil {
			// Expunged by another program; the client hears at the next
			// command that allows EXPUNGE (RFC 2180 4.1.2).
			continue
		}
		if made {
			sel.envelopes().putRecord(e, rec)
		}
		f.next()
		if err := out.one(f, uint32(t+1), m, e, rec, flagsChanged[t]); err != nil {
			return out.close(err)
		}
	}
	return out.close(nil)
}

// fetchOut writes a FETCH's responses: through the library (fetchOne),
// or, when the session may (Session.Direct) and the items allow, made
// here (appendDirect) and written in chunks.
type fetchOut struct {
	s      *Session
	w      *imapserver.FetchWriter
	o      *imap.FetchOptions
	items  fetchItems
	direct bool
	buf    []byte // direct responses not yet written
}

func (s *Session) fetchOut(w *imapserver.FetchWriter, o *imap.FetchOptions) *fetchOut {
	out := &fetchOut{s: s, w: w, o: o}
	out.items, out.direct = directItems(o)
	out.direct = out.direct && s.Direct != nil
	return out
}

// one writes message seq's response; rec is its envelope cache record
// when made already (envelopesAhead).
func (out *fetchOut) one(f *guard, seq uint32, m *viewMsg, e *mbox.Entry, rec []byte, flagsChanged bool) error {
	if !out.direct {
		return out.s.fetchOne(out.w, f, seq, m, e, rec, out.o, flagsChanged)
	}
	var err error
	if out.buf, err = out.s.appendDirect(out.buf, f, seq, m, e, rec, out.items); err != nil {
		return err
	}
	if len(out.buf) >= directFlush {
		_, err = out.s.Direct.Write(out.buf)
		out.buf = out.buf[:0]
	}
	return err
}

// close writes the responses gathered, which come before the command's
// reply whatever it is (err, the command's failure, or nil).
func (out *fetchOut) close(err error) error {
	if len(out.buf) > 0 {
		if _, werr := out.s.Direct.Write(out.buf); werr != nil {
			return werr
		}
	}
	return err
}

// directFlush is about how many bytes of responses direct FETCH gathers
// before it writes them.
const directFlush = 64 << 10

// appendDirect adds one message's response to a FETCH of the items
// directItems allows (its record, when made ahead, holds its ENVELOPE as
// sent). A message that cannot be read adds nothing: the command ends
// with NO after the responses before it.
func (s *Session) appendDirect(b []byte, f *guard, seq uint32, m *viewMsg, e *mbox.Entry, rec []byte, it fetchItems) ([]byte, error) {
	sel := s.sel
	dm := directMsg{seq: seq, uid: m.uid}
	if it.flags {
		dm.flags = s.flagsOf(m)
	}
	if it.internalDate {
		top := sel.cache.parts[e.UID]
		if top == nil && e.Date.IsZero() {
			top = &part{header: header(f, e)}
		}
		dm.date = internalDate(e, top)
	}
	if it.size {
		dm.size = sel.size(f, e)
	}
	if it.envelope {
		if rec != nil {
			_, dm.env, _ = splitRecord(rec)
		} else {
			sel.wireBuf = appendEnvelopeWire(sel.wireBuf[:0], sel.envelope(f, e, nil))
			dm.env = sel.wireBuf
		}
	}
	if err := f.failed(); err != nil {
		return b, err
	}
	return appendFetch(b, it, &dm), nil
}

// setsSeen reports whether a FETCH reads a body section without PEEK.
func setsSeen(options *imap.FetchOptions) bool {
	for _, bs := range options.BodySection {
		if !bs.Peek {
			return true
		}
	}
	for _, bs := range options.BinarySection {
		if !bs.Peek {
			return true
		}
	}
	return false
}

// fetchPending is a FETCH that changes no flag, on a selection SELECT
// answered from the index alone (pending), while the file is as it was
// then: only the messages asked for are decoded from the index, not all
// of them (a client reading the newest few of a big folder). It reports
// false when the selection must be made whole first.
func (s *Session) fetchPending(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) (bool, error) {
	sel, pv := s.sel, s.sel.pending
	if !pv.fresh(sel.path) {
		return false, nil
	}
	sum := pv.m.Summary()
	first := 0
	if sum.Pseudo {
		first = 1
	}
	at := func(i int) mbox.Entry {
		e, _ := pv.m.Entry(first + i)
		return e
	}
	targets, err := indexesOf(numSet, sum.Messages, func(i int) uint32 { return at(i).UID })
	if err != nil {
		return true, err
	}
	if options.Envelope && len(targets) >= aheadMin {
		return false, nil // made ahead, from the whole view
	}
	file, err := sel.reader()
	if err != nil {
		return true, err
	}
	// No snapshot to find a moved message in: a change under the read
	// fails the command, and the client's next try reads the file anew.
	f := &guard{f: file, stamp: pv.stamp}
	out := s.fetchOut(w, options)
	for _, t := range targets {
		e := at(t)
		f.next()
		m := viewMsg{uid: e.UID, flags: e.Flags, keywords: e.Keywords, recent: e.Flags&mbox.Old == 0 && e.UID >= sum.RecentFrom}
		if err := out.one(f, uint32(t+1), &m, &e, nil, false); err != nil {
			return true, out.close(err)
		}
	}
	return true, out.close(nil)
}

// fetchOne writes one message's FETCH response through the library; rec
// is its envelope cache record when made already (envelopesAhead). What must be read before the response
// can be written (its structure, header, envelope, sizes) is read first:
// a message that cannot be read then ends the command with NO, its
// response not begun. Once a literal is announced, a failure can only
// end the connection (ErrCutShort).
func (s *Session) fetchOne(w *imapserver.FetchWriter, f *guard, seq uint32, m *viewMsg, e *mbox.Entry, rec []byte, o *imap.FetchOptions, flagsChanged bool) error {
	sel := s.sel
	var top *part
	if cached, ok := sel.cache.parts[e.UID]; ok {
		top = cached
	} else if o.BodyStructure != nil || !wholeOnly(o.BodySection) || len(o.BinarySection) > 0 || len(o.BinarySectionSize) > 0 {
		top = sel.structure(f, e)
	} else if o.InternalDate && e.Date.IsZero() {
		top = &part{header: header(f, e)}
	}
	size := int64(-1)
	if o.RFC822Size || len(o.BodySection) > 0 {
		size = sel.size(f, e)
	}
	var env *imap.Envelope
	if o.Envelope && rec != nil {
		env, _ = decodeRecord(rec)
	}
	if o.Envelope && env == nil {
		env = sel.envelope(f, e, top)
	}
	if err := f.failed(); err != nil {
		return err
	}
	if err := checkBinary(top, o); err != nil {
		return err
	}
	rw := w.CreateMessage(seq)
	if o.UID {
		rw.WriteUID(imap.UID(m.uid))
	}
	if o.Flags || flagsChanged {
		rw.WriteFlags(s.flagsOf(m))
	}
	if o.InternalDate {
		rw.WriteInternalDate(internalDate(e, top))
	}
	if o.RFC822Size {
		rw.WriteRFC822Size(size)
	}
	if o.Envelope {
		rw.WriteEnvelope(env)
	}
	if o.BodyStructure != nil {
		rw.WriteBodyStructure(top.bodyStructure(o.BodyStructure.Extended))
	}
	for _, bs := range o.BodySection {
		if err := writeSection(rw, f, e, top, bs, size); err != nil {
			return s.closeOnError(rw, err)
		}
	}
	for _, bs := range o.BinarySection {
		if err := writeBinary(rw, f, e, top, bs); err != nil {
			return s.closeOnError(rw, err)
		}
	}
	for _, bs := range o.BinarySectionSize {
		n, _ := binarySection(f, e, top, bs.Part)
		if err := readFailed(f); err != nil {
			return s.closeOnError(rw, err)
		}
		rw.WriteBinarySectionSize(bs, uint32(n))
	}
	return rw.Close()
}

// closeOnError ends a message's FETCH response that failed: between its
// items, closed, so that the tagged NO follows a well-formed response;
// inside a literal, after the connection is cut (CutOff), since nothing
// more may reach the client. Closed either way, the response lets go of
// the library's writer, which every later response waits for.
func (s *Session) closeOnError(rw *imapserver.FetchResponseWriter, err error) error {
	if errors.Is(err, ErrCutShort) && s.CutOff != nil {
		s.CutOff(err)
	}
	rw.Close()
	return err
}

// readFailed is why the message in hand could not be read through a
// guard, nil when it was (or f is no guard).
func readFailed(f io.ReaderAt) error {
	if g, ok := f.(*guard); ok {
		return g.failed()
	}
	return nil
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// wholeOnly reports whether the sections asked for are all BODY[] (or
// a partial of it), which needs no parse: its size is in the index.
func wholeOnly(sections []*imap.FetchItemBodySection) bool {
	for _, bs := range sections {
		if len(bs.Part) > 0 || bs.Specifier != imap.PartSpecifierNone {
			return false
		}
	}
	return true
}

// sectionRange finds the bytes of the view a section names, or gives the
// bytes to send when they must be made (a filtered header). size is the
// view's length.
func sectionRange(f io.ReaderAt, e *mbox.Entry, top *part, bs *imap.FetchItemBodySection, size int64) (from, to int64, made []byte) {
	if len(bs.Part) == 0 && bs.Specifier == imap.PartSpecifierNone {
		return 0, size, nil
	}
	pt := top.find(bs.Part)
	if pt == nil {
		return 0, 0, []byte{}
	}
	msg := pt
	if len(bs.Part) > 0 && (bs.Specifier == imap.PartSpecifierHeader || bs.Specifier == imap.PartSpecifierText) {
		if pt.msg == nil {
			return 0, 0, []byte{}
		}
		msg = pt.msg
	}
	switch bs.Specifier {
	case imap.PartSpecifierNone:
		return pt.bodyStart, pt.end, nil
	case imap.PartSpecifierText:
		return msg.bodyStart, msg.end, nil
	case imap.PartSpecifierMIME:
		if len(bs.Part) == 0 {
			return 0, 0, []byte{}
		}
		return pt.hdrStart, pt.bodyStart, nil
	}
	// HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT
	if len(bs.HeaderFields) == 0 && len(bs.HeaderFieldsNot) == 0 {
		return msg.hdrStart, msg.bodyStart, nil
	}
	raw, _ := io.ReadAll(io.LimitReader(rangeOf(f, e, msg.hdrStart, msg.bodyStart), maxHeader))
	return 0, 0, filterHeader(raw, bs.HeaderFields, bs.HeaderFieldsNot)
}

// filterHeader keeps (or drops) the named fields, continuation lines and
// all, and ends the result with the blank line (RFC 3501 6.4.5).
func filterHeader(raw []byte, keep, drop []string) []byte {
	want := func(name string) bool {
		if len(keep) > 0 {
			for _, k := range keep {
				if strings.EqualFold(k, name) {
					return true
				}
			}
			return false
		}
		for _, d := range drop {
			if strings.EqualFold(d, name) {
				return false
			}
		}
		return true
	}
	var out []byte
	in := false
	for _, line := range bytes.SplitAfter(raw, []byte("\n")) {
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if in {
				out = append(out, line...)
			}
			continue
		}
		name, _, _ := bytes.Cut(line, []byte(":"))
		in = want(string(bytes.TrimSpace(name)))
		if in {
			out = append(out, line...)
		}
	}
	return append(out, "\r\n"...)
}

func partial(from, to int64, p *imap.SectionPartial) (int64, int64) {
	if p == nil {
		return from, to
	}
	from += p.Offset
	if from > to {
		from = to
	}
	if p.Size >= 0 && from+p.Size < to {
		to = from + p.Size
	}
	return from, to
}

func writeSection(rw *imapserver.FetchResponseWriter, f io.ReaderAt, e *mbox.Entry, top *part, bs *imap.FetchItemBodySection, size int64) error {
	from, to, made := sectionRange(f, e, top, bs, size)
	if err := readFailed(f); err != nil {
		return err
	}
	var r io.Reader
	if made != nil {
		a, b := partial(0, int64(len(made)), bs.Partial)
		r, from, to = bytes.NewReader(made[a:b]), a, b
	} else {
		from, to = partial(from, to, bs.Partial)
		r = rangeOf(f, e, from, to)
	}
	// The first bytes are read before the literal is announced: a
	// message expunged by another program meanwhile is answered NO, and
	// only one bigger than this can still be cut short.
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	head := (*buf)[:min(to-from, int64(len(*buf)))]
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return err
	}
	wc := rw.WriteBodySection(bs, to-from)
	if _, err := wc.Write(head[:n]); err != nil {
		wc.Close()
		return fmt.Errorf("%w: %w", ErrCutShort, err)
	}
	if err := copyExactly(wc, r, to-from-int64(n)); err != nil {
		wc.Close()
		return err
	}
	return wc.Close()
}

// copyExactly sends n bytes of r, a literal whose size went before it.
// If r cannot be read to the end (the message expunged by another program
// while it was sent), the literal cannot be finished: ErrCutShort. If it
// ends early (sizes that do not agree: a bug), it is padded with spaces,
// which keeps the session in step.
func copyExactly(w io.Writer, r io.Reader, n int64) error {
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	got, err := io.CopyBuffer(w, io.LimitReader(r, n), *buf)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCutShort, err)
	}
	for ; got < n; got++ {
		if _, err := w.Write([]byte{' '}); err != nil {
			return err
		}
	}
	return nil
}

// copyBufs are copyExactly's buffers, one per message otherwise.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// decoded is a part's body with its Content-Transfer-Encoding undone.
func decoded(f io.ReaderAt, e *mbox.Entry, pt *part) io.Reader {
	body := rangeOf(f, e, pt.bodyStart, pt.end)
	enc := strings.ToLower(strings.TrimSpace(pt.header.Get("Content-Transfer-Encoding")))
	r, err := gomessage.New(gomessage.Header{Header: textproto.Header{}}, body)
	if err != nil {
		return body
	}
	if enc == "" || enc == "7bit" || enc == "8bit" || enc == "binary" {
		return r.Body
	}
	var h textproto.Header
	h.Set("Content-Transfer-Encoding", enc)
	if m, err := gomessage.New(gomessage.Header{Header: h}, rangeOf(f, e, pt.bodyStart, pt.end)); err == nil {
		return m.Body
	}
	return body
}

// binaryPart is BINARY[part] (pt nil when there is no such part): its size,
// and a reader of the part's body with its transfer encoding undone. A
// part that fits in memory is read and decoded once; a bigger one is
// decoded twice, to count it and to send it.
func binaryPart(f io.ReaderAt, e *mbox.Entry, pt *part) (int64, func() io.Reader) {
	if pt == nil {
		return 0, func() io.Reader { return strings.NewReader("") }
	}
	if pt.end-pt.bodyStart > searchWindow {
		n, _ := io.Copy(io.Discard, decoded(f, e, pt))
		return n, func() io.Reader { return decoded(f, e, pt) }
	}
	raw, _ := io.ReadAll(rangeOf(f, e, pt.bodyStart, pt.end))
	var buf []byte
	b, _ := transferDecoded(&buf, strings.ToLower(strings.TrimSpace(pt.header.Get("Content-Transfer-Encoding"))), raw)
	return int64(len(b)), func() io.Reader { return bytes.NewReader(b) }
}

// binarySection is BINARY[path]: a part's body decoded, or for BINARY[]
// the whole message, its header as it is and its body decoded.
func binarySection(f io.ReaderAt, e *mbox.Entry, top *part, path []int) (int64, func() io.Reader) {
	n, open := binaryPart(f, e, top.find(path))
	if len(path) > 0 {
		return n, open
	}
	h := top.bodyStart - top.hdrStart
	return h + n, func() io.Reader { return io.MultiReader(rangeOf(f, e, top.hdrStart, top.bodyStart), open()) }
}

// checkBinary refuses BINARY and BINARY.SIZE of a part whose transfer
// encoding it cannot undo (RFC 3516 4.3), before any of the message's
// FETCH response is sent.
func checkBinary(top *part, o *imap.FetchOptions) error {
	paths := make([][]int, 0, len(o.BinarySection)+len(o.BinarySectionSize))
	for _, bs := range o.BinarySection {
		paths = append(paths, bs.Part)
	}
	for _, bs := range o.BinarySectionSize {
		paths = append(paths, bs.Part)
	}
	for _, p := range paths {
		pt := top.find(p)
		if pt == nil || strings.HasPrefix(pt.mediaType, "multipart/") {
			continue
		}
		var buf []byte
		enc := strings.ToLower(strings.TrimSpace(pt.header.Get("Content-Transfer-Encoding")))
		if _, known := transferDecoded(&buf, enc, nil); !known {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: "UNKNOWN-CTE", Text: "Cannot decode the part's Content-Transfer-Encoding: " + enc}
		}
	}
	return nil
}

// writeBinary sends BINARY[part]: the decoded body, counted first since a
// literal's size goes before it.
func writeBinary(rw *imapserver.FetchResponseWriter, f io.ReaderAt, e *mbox.Entry, top *part, bs *imap.FetchItemBinarySection) error {
	n, open := binarySection(f, e, top, bs.Part)
	if err := readFailed(f); err != nil {
		return err
	}
	from, to := partial(0, n, bs.Partial)
	wc := rw.WriteBinarySection(bs, to-from)
	r := open()
	io.CopyN(io.Discard, r, from)
	if err := copyExactly(wc, r, to-from); err != nil {
		wc.Close()
		return err
	}
	return wc.Close()
}

// bodyStructure is BODY / BODYSTRUCTURE for a part, always well formed:
// a multipart with no parts is shown as a text part, every type a token.
func (pt *part) bodyStructure(extended bool) imap.BodyStructure {
	h := gomessage.Header{Header: pt.header}
	typ, sub, _ := strings.Cut(pt.mediaType, "/")
	if typ == "multipart" && len(pt.children) > 0 {
		bs := &imap.BodyStructureMultiPart{Subtype: sub}
		for _, c := range pt.children {
			bs.Children = append(bs.Children, c.bodyStructure(extended))
		}
		if extended {
			bs.Extended = &imap.BodyStructureMultiPartExt{Params: pt.params, Disposition: disposition(h), Language: language(h), Location: h.Get("Content-Location")}
		}
		return bs
	}
	if typ == "multipart" {
		typ, sub = "text", "plain"
	}
	bs := &imap.BodyStructureSinglePart{
		Type: typ, Subtype: sub, Params: pt.params,
		ID: h.Get("Content-Id"), Description: h.Get("Content-Description"),
		Encoding: strings.ToUpper(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))),
		Size:     uint32(pt.end - pt.bodyStart),
	}
	if bs.Encoding == "" {
		bs.Encoding = "7BIT"
	}
	if pt.msg != nil {
		bs.MessageRFC822 = &imap.BodyStructureMessageRFC822{
			Envelope:      imapserver.ExtractEnvelope(pt.msg.header),
			BodyStructure: pt.msg.bodyStructure(extended),
			NumLines:      pt.lines,
		}
	} else if typ == "message" && (sub == "rfc822" || sub == "global") {
		bs.Type, bs.Subtype = "application", "octet-stream"
	}
	if typ == "text" {
		bs.Text = &imap.BodyStructureText{NumLines: pt.lines}
	}
	if extended {
		bs.Extended = &imap.BodyStructureSinglePartExt{Disposition: disposition(h), Language: language(h), Location: h.Get("Content-Location")}
	}
	return bs
}

func disposition(h gomessage.Header) *imap.BodyStructureDisposition {
	v := h.Get("Content-Disposition")
	if v == "" {
		return nil
	}
	d, params, err := mime.ParseMediaType(v)
	if err != nil {
		d, _, _ = strings.Cut(v, ";")
		d, params = strings.ToLower(strings.TrimSpace(d)), nil
		if d == "" || strings.ContainsAny(d, " \t\"") {
			return nil
		}
	}
	return &imap.BodyStructureDisposition{Value: d, Params: params}
}

func language(h gomessage.Header) []string {
	v := h.Get("Content-Language")
	if v == "" {
		return nil
	}
	var out []string
	for _, l := range strings.Split(v, ",") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}
