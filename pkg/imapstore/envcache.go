package imapstore

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/emersion/go-imap/v2"

	"unixmail/internal/binrec"
	"unixmail/pkg/mbox"
)

// envCache keeps the ENVELOPE of a folder's messages in a file beside it
// (.NAME.envelopes), so that a client fetching every envelope of a big
// folder, as most do when they first open it, reads no message the second
// time. Messages are known by their fingerprint (mbox.Fingerprint: From_
// line, Message-ID, size) with their UID and the folder's UIDVALIDITY
// (key), none of which a rewrite of the file changes, so the cache
// outlives flag changes and expunges by any program. The fingerprint
// alone is not enough: messages with no Message-ID, of one size, from one
// sender in one second (a cron job's mail) share it. Like the index it is
// only a cache: a missing or damaged one is built again.
//
// The file is a run of records (key, length, envelope) in folder
// order, read through a window as they are asked for: a FETCH goes in
// folder order, so the record wanted is nearly always the next one, and
// the file is never held whole. Envelopes made meanwhile go the same way
// into a new file beside it, which becomes the cache when they are all it
// needs (the first FETCH 1:* ENVELOPE of a folder), or else is merged
// with the old one when the folder is closed.
type envCache struct {
	path     string
	validity uint32
	old      envFile
	pos      int64            // where the next record is looked for first
	offs     map[uint64]int64 // every saved record's offset: made at the first look-up the order does not answer
	made     envFile          // records made since the file was read
	w        *bufio.Writer    // ...written through this
	rec      []byte           // put's buffer
	list     []keyed          // the records in made, in its order
	at       map[uint64]made  // key -> record in made, of list[:indexed]
	indexed  int
}

// key is what the cache knows e by.
func (c *envCache) key(e *mbox.Entry) uint64 {
	return e.Sum ^ (uint64(c.validity)<<32|uint64(e.UID))*0x9e3779b97f4a7c15
}

// made is where a record made in this session lies in its file.
type made struct {
	off int64
	n   uint32
}

// keyed is a record made, and the key it is under.
type keyed struct {
	key uint64
	made
}

// envCachePath is where the envelopes of the folder at mailbox live.
func envCachePath(mailbox string) string {
	dir, name := filepath.Split(mailbox)
	return filepath.Join(dir, "."+name+".envelopes")
}

const envCacheMagic = "unixmail envelope cache 3\n"

// loadEnvCache opens the envelopes saved beside the folder at mailbox,
// whose UIDVALIDITY is validity.
func loadEnvCache(mailbox string, validity uint32) *envCache {
	c := &envCache{path: envCachePath(mailbox), validity: validity}
	mbox.RemoveStale(c.path+".tmp-", staleAfter)
	f, err := os.Open(c.path)
	if err != nil {
		return c
	}
	magic := make([]byte, len(envCacheMagic))
	st, err := f.Stat()
	if _, err2 := f.ReadAt(magic, 0); err != nil || err2 != nil || string(magic) != envCacheMagic {
		f.Close()
		return c
	}
	c.old = envFile{f: f, size: st.Size()}
	c.pos = int64(len(envCacheMagic))
	return c
}

// changed reports whether envelopes were made since the file was read.
func (c *envCache) changed() bool { return len(c.list) > 0 }

// staleAfter is how old a file of envelopes being made is taken to be
// left by a session that was killed. Removing one a live session still
// writes costs that session only its save.
const staleAfter = 6 * time.Hour

// close lets the files go.
func (c *envCache) close() {
	if c.old.f != nil {
		c.old.f.Close()
		c.old = envFile{}
	}
	c.dropMade()
}

func (c *envCache) dropMade() {
	if c.made.f != nil {
		c.made.f.Close()
		os.Remove(c.made.f.Name())
	}
	c.made, c.w, c.list, c.at, c.indexed = envFile{}, nil, nil, nil, 0
}

// get gives the envelope kept for e, if any.
func (c *envCache) get(e *mbox.Entry) (*imap.Envelope, bool) {
	rec, ok := c.record(c.key(e), &c.pos)
	if !ok {
		return nil, false
	}
	return decodeRecord(rec)
}

// getSaved is the record kept for e in the saved file alone, which put
// leaves alone: the two may run at once (envelopesAhead). The bytes are
// good until the next call.
func (c *envCache) getSaved(e *mbox.Entry) ([]byte, bool) {
	return c.savedRecord(c.key(e), &c.pos)
}

// record finds the record of the message with key sum, among those made
// since or in the file. The bytes are good until the next call.
func (c *envCache) record(sum uint64, pos *int64) ([]byte, bool) {
	if rec, ok := c.madeRecord(sum); ok {
		return rec, true
	}
	return c.savedRecord(sum, pos)
}

func (c *envCache) madeRecord(sum uint64) ([]byte, bool) {
	c.index()
	m, ok := c.at[sum]
	if !ok || c.w.Flush() != nil {
		return nil, false
	}
	_, rec, _, ok := c.made.at(m.off)
	return rec, ok
}

// savedRecord finds a record in the file: first at *pos and the few
// after it (the next message in folder order, or one after some
// expunged), then anywhere. *pos moves past the record found.
func (c *envCache) savedRecord(sum uint64, pos *int64) ([]byte, bool) {
	if c.old.f == nil {
		return nil, false
	}
	off := *pos
	for tries := 0; tries < 16; tries++ {
		got, rec, next, ok := c.old.at(off)
		if !ok {
			break
		}
		if got == sum {
			*pos = next
			return rec, true
		}
		off = next
	}
	if c.offs == nil {
		c.offs = map[uint64]int64{}
		for off := int64(len(envCacheMagic)); ; {
			got, _, next, ok := c.old.at(off)
			if !ok {
				break
			}
			c.offs[got] = off
			off = next
		}
	}
	if off, ok := c.offs[sum]; ok {
		if _, rec, next, ok := c.old.at(off); ok {
			*pos = next
			return rec, true
		}
	}
	return nil, false
}

// put keeps env for e; failing to costs only speed.
func (c *envCache) put(e *mbox.Entry, env *imap.Envelope) {
	c.rec = appendRecord(c.rec[:0], env)
	c.putRecord(e, c.rec)
}

// index brings the map of records made up to date with the list, which
// FETCH 1:* ENVELOPE of a big folder makes without ever looking one up:
// a map of 50,000 records, at random places in megabytes, cost it more
// than their order in a list. The first record made under a key is the
// one looked up.
func (c *envCache) index() {
	if c.indexed == len(c.list) {
		return
	}
	if c.at == nil {
		c.at = make(map[uint64]made, len(c.list))
	}
	for _, k := range c.list[c.indexed:] {
		if _, ok := c.at[k.key]; !ok {
			c.at[k.key] = k.made
		}
	}
	c.indexed = len(c.list)
}

// putRecord keeps rec (appendRecord's) for e. One made again, not yet
// looked up (a second FETCH ENVELOPE of every message), is written again:
// save keeps one.
func (c *envCache) putRecord(e *mbox.Entry, rec []byte) {
	key := c.key(e)
	if _, ok := c.at[key]; ok {
		return
	}
	if c.w == nil {
		f, err := os.CreateTemp(filepath.Dir(c.path), filepath.Base(c.path)+".tmp-")
		if err != nil {
			return
		}
		c.made, c.w = envFile{f: f, size: int64(len(envCacheMagic))}, bufio.NewWriterSize(f, envWindow)
		c.w.WriteString(envCacheMagic)
	}
	var head [12]byte
	binary.LittleEndian.PutUint64(head[:], key)
	binary.LittleEndian.PutUint32(head[8:], uint32(len(rec)))
	c.w.Write(head[:])
	if _, err := c.w.Write(rec); err != nil {
		return
	}
	c.list = append(c.list, keyed{key, made{c.made.size, uint32(len(rec))}})
	c.made.size += 12 + int64(len(rec))
}

// save writes the envelopes of the messages entries holds (those of
// messages gone are dropped), when some were added and the folder is big
// enough for the cache to pay. Failing costs only speed.
func (c *envCache) save(entries []mbox.Entry) error {
	if !c.changed() || len(entries) < minIndexed {
		return nil
	}
	if err := c.w.Flush(); err != nil {
		c.dropMade()
		return fmt.Errorf("save envelopes: %w", err)
	}
	if c.madeIsAll(entries) {
		if err := c.made.f.Close(); err != nil {
			c.dropMade()
			return fmt.Errorf("save envelopes: %w", err)
		}
		err := os.Rename(c.made.f.Name(), c.path)
		c.made.f = nil
		c.dropMade()
		if err != nil {
			return fmt.Errorf("save envelopes: %w", err)
		}
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.path), filepath.Base(c.path)+".tmp-")
	if err != nil {
		return fmt.Errorf("save envelopes: %w", err)
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriterSize(tmp, 256<<10)
	w.WriteString(envCacheMagic)
	written := make(map[uint64]bool, len(entries))
	var b []byte
	pos := int64(len(envCacheMagic))
	for i := range entries {
		sum := c.key(&entries[i])
		if written[sum] {
			continue
		}
		rec, ok := c.record(sum, &pos)
		if !ok {
			continue
		}
		written[sum] = true
		b = binary.LittleEndian.AppendUint64(b[:0], sum)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(rec)))
		w.Write(b)
		w.Write(rec)
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return fmt.Errorf("save envelopes: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save envelopes: %w", err)
	}
	if err := os.Rename(tmp.Name(), c.path); err != nil {
		return fmt.Errorf("save envelopes: %w", err)
	}
	c.dropMade()
	return nil
}

// madeIsAll reports whether the records made in this session are the
// whole cache for entries, in order: then that file is the new cache.
func (c *envCache) madeIsAll(entries []mbox.Entry) bool {
	if len(c.list) != len(entries) {
		return false
	}
	next := int64(len(envCacheMagic))
	for i := range entries {
		m := c.list[i]
		if m.key != c.key(&entries[i]) || m.off != next {
			return false
		}
		next += 12 + int64(m.n)
	}
	return next == c.made.size
}

// envFile reads an envelope cache file's records through a window.
type envFile struct {
	f      *os.File
	size   int64
	win    []byte // the file's bytes from winOff
	winOff int64
}

// envWindow is how much of the file is read at once.
const envWindow = 64 << 10

// at reads the record at off: its key, envelope bytes (good until
// the next call) and where the next one starts; not ok at the end or
// where the file is damaged.
func (r *envFile) at(off int64) (sum uint64, rec []byte, next int64, ok bool) {
	head, ok := r.bytes(off, 12)
	if !ok {
		return 0, nil, 0, false
	}
	sum, n := binary.LittleEndian.Uint64(head), int64(binary.LittleEndian.Uint32(head[8:]))
	rec, ok = r.bytes(off+12, n)
	return sum, rec, off + 12 + n, ok
}

// bytes gives n bytes of the file from off, reading the window again
// when they are not in it.
func (r *envFile) bytes(off, n int64) ([]byte, bool) {
	if off < 0 || n < 0 || off+n > r.size {
		return nil, false
	}
	if off < r.winOff || off+n > r.winOff+int64(len(r.win)) {
		size := min(max(n, envWindow), r.size-off)
		if int64(cap(r.win)) < size {
			r.win = make([]byte, size)
		}
		got, _ := r.f.ReadAt(r.win[:size], off)
		r.win, r.winOff = r.win[:got], off
		if int64(got) < n {
			return nil, false
		}
	}
	i := off - r.winOff
	return r.win[i : i+n], true
}

// A record of the cache is an envelope twice: in encodeEnvelope's form
// (its length first), for those who read its fields (SORT), and as a
// FETCH response writes it (appendEnvelopeWire), for FETCH ENVELOPE.
func appendRecord(b []byte, env *imap.Envelope) []byte {
	at := len(b)
	b = appendEnvelope(binary.LittleEndian.AppendUint32(b, 0), env)
	binary.LittleEndian.PutUint32(b[at:], uint32(len(b)-at-4))
	return appendEnvelopeWire(b, env)
}

// splitRecord gives a record's two forms; not ok when it is damaged.
func splitRecord(rec []byte) (fields, wire []byte, ok bool) {
	if len(rec) < 4 {
		return nil, nil, false
	}
	n := binary.LittleEndian.Uint32(rec)
	if uint64(n) > uint64(len(rec)-4) {
		return nil, nil, false
	}
	return rec[4 : 4+n], rec[4+n:], true
}

// decodeRecord is the envelope a record holds.
func decodeRecord(rec []byte) (*imap.Envelope, bool) {
	fields, _, ok := splitRecord(rec)
	if !ok {
		return nil, false
	}
	return decodeEnvelope(fields)
}

// encodeEnvelope is the cache's form of an envelope's fields: the date
// (Unix seconds and zone offset; no date is a zero flag), then
// length-prefixed strings and lists.
func encodeEnvelope(env *imap.Envelope) []byte { return appendEnvelope(nil, env) }

// appendEnvelope adds encodeEnvelope's bytes to b.
func appendEnvelope(b []byte, env *imap.Envelope) []byte {
	if env.Date.IsZero() {
		b = append(b, 0)
	} else {
		_, zone := env.Date.Zone()
		b = append(b, 1)
		b = binary.LittleEndian.AppendUint64(b, uint64(env.Date.Unix()))
		b = binary.LittleEndian.AppendUint32(b, uint32(int32(zone)))
	}
	b = appendStr(b, env.Subject)
	for _, list := range [][]imap.Address{env.From, env.Sender, env.ReplyTo, env.To, env.Cc, env.Bcc} {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(list)))
		for _, a := range list {
			b = appendStr(appendStr(appendStr(b, a.Name), a.Mailbox), a.Host)
		}
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(env.InReplyTo)))
	for _, id := range env.InReplyTo {
		b = appendStr(b, id)
	}
	return appendStr(b, env.MessageID)
}

func appendStr(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// decodeEnvelope reads what encodeEnvelope wrote; anything else is not ok.
func decodeEnvelope(rec []byte) (*imap.Envelope, bool) {
	d := &binrec.Reader{B: rec}
	env := &imap.Envelope{}
	switch flag := d.Bytes(1); {
	case len(flag) == 1 && flag[0] == 1:
		secs, zone := int64(d.U64()), int(int32(d.U32()))
		env.Date = time.Unix(secs, 0).In(time.FixedZone("", zone))
	case len(flag) != 1 || flag[0] != 0:
		return nil, false
	}
	env.Subject = d.String()
	for _, list := range []*[]imap.Address{&env.From, &env.Sender, &env.ReplyTo, &env.To, &env.Cc, &env.Bcc} {
		n := count(d, 12)
		for i := 0; i < n; i++ {
			*list = append(*list, imap.Address{Name: d.String(), Mailbox: d.String(), Host: d.String()})
		}
	}
	for n := count(d, 4); n > 0; n-- {
		env.InReplyTo = append(env.InReplyTo, d.String())
	}
	env.MessageID = d.String()
	if d.Bad || len(d.B) != 0 {
		return nil, false
	}
	return env, true
}

// count reads a list length, refusing one that the bytes left cannot
// hold at min bytes an item.
func count(d *binrec.Reader, min int) int {
	n := int(d.U32())
	if n < 0 || n > len(d.B)/min {
		d.Bad = true
		return 0
	}
	return n
}
