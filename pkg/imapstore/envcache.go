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
// line, Message-ID, size), which no rewrite of the file changes, so the
// cache outlives flag changes and expunges by any program. Like the index
// it is only a cache: a missing or damaged one is built again.
type envCache struct {
	path  string
	known map[uint64][]byte // fingerprint -> encoded envelope
	added bool
}

// envCachePath is where the envelopes of the folder at mailbox live.
func envCachePath(mailbox string) string {
	dir, name := filepath.Split(mailbox)
	return filepath.Join(dir, "."+name+".envelopes")
}

const envCacheMagic = "unixmail envelope cache 1\n"

// loadEnvCache reads the envelopes saved beside the folder at mailbox.
func loadEnvCache(mailbox string) *envCache {
	c := &envCache{path: envCachePath(mailbox), known: map[uint64][]byte{}}
	data, err := os.ReadFile(c.path)
	if err != nil || len(data) < len(envCacheMagic) || string(data[:len(envCacheMagic)]) != envCacheMagic {
		return c
	}
	d := &binrec.Reader{B: data[len(envCacheMagic):]}
	for len(d.B) > 0 && !d.Bad {
		sum, rec := d.U64(), d.Bytes(int(d.U32()))
		if !d.Bad {
			c.known[sum] = rec
		}
	}
	return c
}

// get gives the envelope kept for e, if any.
func (c *envCache) get(e *mbox.Entry) (*imap.Envelope, bool) {
	rec, ok := c.known[e.Sum]
	if !ok {
		return nil, false
	}
	return decodeEnvelope(rec)
}

func (c *envCache) put(e *mbox.Entry, env *imap.Envelope) {
	c.known[e.Sum] = encodeEnvelope(env)
	c.added = true
}

// save writes the envelopes of the messages entries holds (those of
// messages gone are dropped), when some were added and the folder is big
// enough for the cache to pay. Failing costs only speed.
func (c *envCache) save(entries []mbox.Entry) error {
	if !c.added || len(entries) < minIndexed {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.path), filepath.Base(c.path)+".tmp-")
	if err != nil {
		return fmt.Errorf("save envelopes: %w", err)
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriterSize(tmp, 256<<10)
	w.WriteString(envCacheMagic)
	written := map[uint64]bool{}
	var b []byte
	for i := range entries {
		sum := entries[i].Sum
		rec, ok := c.known[sum]
		if !ok || written[sum] {
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
	c.added = false
	return nil
}

// encodeEnvelope is the cache's form of an envelope: the date (Unix
// seconds and zone offset; no date is a zero flag), then length-prefixed
// strings and lists.
func encodeEnvelope(env *imap.Envelope) []byte {
	var b []byte
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
