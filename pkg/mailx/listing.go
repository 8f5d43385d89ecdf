package mailx

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"unixmail/pkg/mbox"
	"unixmail/pkg/mimeview"
)

// summary is what the header listing shows of a message.
type summary struct {
	from    string // the sender's address
	subject string
	date    time.Time // zero when unknown
}

// header reads message i's From_ line and header block.
func (f *folder) header(i int) ([]byte, error) {
	m := &f.msgs[i]
	n := int(m.fromLen) + int(m.hdrLen)
	e, edited := f.edits[i]
	if edited {
		n = int(m.fromLen)
	}
	b := make([]byte, n)
	if _, err := f.file.ReadAt(b, m.off); err != nil && err != io.EOF {
		return nil, fmt.Errorf("read %s: %w", f.path, err)
	}
	if edited {
		hdr, _, _ := bytes.Cut(e, []byte("\n\n"))
		b = append(append(b, hdr...), "\n\n"...)
	}
	return b, nil
}

// Reading header blocks for a listing: messages whose headers lie close
// together are read with one pread, since a system call costs here about
// what copying 16 KiB does.
const (
	spanGap = 16 << 10  // the most bytes between two headers read at once
	spanMax = 256 << 10 // the longest read
)

// headers calls fn(k, hdr) for each message list[k], in order, with its
// From_ line and header block, which fn must not keep. buf is scratch.
func (f *folder) headers(list []int, buf *[]byte, fn func(k int, hdr []byte)) {
	hdrEnd := func(i int) int64 { m := &f.msgs[i]; return m.hdrOff() + int64(m.hdrLen) }
	for k := 0; k < len(list); {
		start := f.msgs[list[k]].off
		j := k + 1
		for j < len(list) && list[j] > list[j-1] && f.msgs[list[j]].off-hdrEnd(list[j-1]) <= spanGap && hdrEnd(list[j])-start <= spanMax {
			j++
		}
		n := int(hdrEnd(list[j-1]) - start)
		if cap(*buf) < n {
			*buf = make([]byte, n)
		}
		span := (*buf)[:n]
		if _, err := f.file.ReadAt(span, start); err != nil && err != io.EOF {
			span = span[:0]
		}
		for ; k < j; k++ {
			if _, ok := f.edits[list[k]]; ok {
				if h, err := f.header(list[k]); err == nil {
					fn(k, h)
					continue
				}
			}
			m := &f.msgs[list[k]]
			lo := m.off - start
			hi := min(lo+int64(m.fromLen)+int64(m.hdrLen), int64(len(span)))
			fn(k, span[min(lo, hi):hi])
		}
	}
}

// summaryOf is what the header listing shows of a message with this From_
// line and header block. The From field and Date fall back on the From_
// line's sender and date.
func summaryOf(h []byte) summary {
	from, subj, date := mimeview.Summary(h)
	sm := summary{from: mimeview.Skin(from), subject: subj, date: date}
	if sm.from == "" || sm.date.IsZero() {
		line, _, _ := bytes.Cut(h, []byte("\n"))
		sender, d, _ := mbox.ParseFromLine(line)
		if sm.from == "" {
			sm.from = sender
		}
		if sm.date.IsZero() {
			sm.date = d
		}
	}
	return sm
}

// summary reads message i's summary from the file.
func (f *folder) summary(i int) summary {
	h, err := f.header(i)
	if err != nil {
		return summary{}
	}
	return summaryOf(h)
}

// listChunk is how many messages one goroutine summarises at a time.
const listChunk = 512

// inOrder computes work(lo, hi), the results for items [lo, hi), for
// chunks of [0, n) on every CPU, and hands each result to use in order,
// holding only a few chunks at once. Reading and decoding 100,000 header
// blocks this way takes a fraction of what one goroutine needs. It stops
// early when use returns false.
func inOrder[T any](n int, work func(lo, hi int) []T, use func(k int, v T) bool) {
	type part struct {
		lo   int
		vals chan []T
	}
	parts := make(chan part, runtime.GOMAXPROCS(0))
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(parts)
		for lo := 0; lo < n; lo += listChunk {
			p := part{lo, make(chan []T, 1)}
			select {
			case parts <- p:
			case <-stop:
				return
			}
			go func(lo, hi int) { p.vals <- work(lo, hi) }(lo, min(lo+listChunk, n))
		}
	}()
	for p := range parts {
		for j, v := range <-p.vals {
			if !use(p.lo+j, v) {
				return
			}
		}
	}
}

// eachHeader is inOrder over the header blocks of the messages in list:
// fn(i, hdr) for message i gives the result.
func eachHeader[T any](f *folder, list []int, fn func(i int, hdr []byte) T, use func(k int, v T) bool) {
	inOrder(len(list), func(lo, hi int) []T {
		var buf []byte
		vals := make([]T, hi-lo)
		f.headers(list[lo:hi], &buf, func(k int, hdr []byte) { vals[k] = fn(list[lo+k], hdr) })
		return vals
	}, use)
}

// matching is the messages among those ok selects whose summary satisfies
// pred, in folder order. An interrupt (f.stop) ends it with errInterrupted.
func (f *folder) matching(ok func(i int) bool, pred func(sm *summary) bool) ([]int, error) {
	stop := func() bool { return f.stop != nil && f.stop() }
	var list, out []int
	for i := range f.msgs {
		if ok(i) {
			list = append(list, i)
		}
	}
	eachHeader(f, list, func(_ int, hdr []byte) bool {
		sm := summaryOf(hdr)
		return pred(&sm)
	}, func(k int, yes bool) bool {
		if yes {
			out = append(out, list[k])
		}
		return k%listChunk != 0 || !stop()
	})
	if stop() {
		return nil, errInterrupted
	}
	return out, nil
}

// printHeaderLines prints the summary lines of the messages in list.
func (s *Session) printHeaderLines(list []int) error {
	w := bufio.NewWriterSize(s.out, 64<<10)
	err := s.writeHeaderLines(w, list)
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	return err
}

// writeHeaderLines writes the summary lines of the messages in list, in
// order. An interrupt stops it.
func (s *Session) writeHeaderLines(w io.Writer, list []int) error {
	var err error
	eachHeader(s.f, list, s.headerLine, func(_ int, line string) bool {
		if _, err = io.WriteString(w, line+"\n"); err != nil {
			return false
		}
		if s.interrupted() {
			err = errInterrupted
			return false
		}
		return true
	})
	return err
}

// showTo is the first To address of message i when it is from the user
// and showto is set, else "". hdr is its header block.
func (s *Session) showTo(from string, hdr []byte) string {
	if !s.isSet("showto") || !s.isMe(from) {
		return ""
	}
	_, rest, _ := bytes.Cut(hdr, []byte("\n"))
	return headerValue(rest, "To")
}

// headerValue is the decoded, skinned first address of a field.
func headerValue(hdr []byte, name string) string {
	var v string
	mbox.HeaderFields(hdr, func(n, val []byte) {
		if v == "" && strings.EqualFold(string(n), name) {
			v = mimeview.Skin(mimeview.DecodeHeader(string(val)))
		}
	})
	return v
}

// keywords are message i's IMAP keywords (X-Keywords), which the session
// does not keep: copies read them back from the header.
func (f *folder) keywords(i int) []string {
	h, err := f.header(i)
	if err != nil {
		return nil
	}
	_, block, _ := bytes.Cut(h, []byte("\n"))
	var kw []string
	mbox.HeaderFields(block, func(name, value []byte) {
		if strings.EqualFold(string(name), "X-Keywords") {
			kw = append(kw, strings.FieldsFunc(string(value), func(r rune) bool { return r == ' ' || r == '\t' || r == ',' })...)
		}
	})
	return kw
}
