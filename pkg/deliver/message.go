package deliver

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"

	"unixmail/pkg/mbox"
	"unixmail/pkg/sysexits"
)

// Incoming is a message read from the MTA, split into its header block and
// the rest, with what the MTA must not be trusted for already removed.
type Incoming struct {
	FromSender string // sender named by a leading From_ line, if there was one
	header     []byte // the header fields kept, each ending in "\n"
	hasBody    bool   // a blank line (or a non-header line) ended the header
	body       io.Reader
}

// ReadIncoming reads the header block of msg: a leading From_ line is
// dropped (its sender remembered), CRLF becomes LF, and the state headers
// of SPEC.md (Status, X-Status, X-Keywords, X-UID, X-IMAP, X-IMAPbase,
// Content-Length, in any case) are removed with their continuation lines,
// since a sender must not set flags, UIDs or message bounds. The body is
// not read: it streams from Body.
//
// The header is held in memory until the body streams, so it may not
// grow past maxHeader: a larger one is refused (exit 65), as is a message
// past message_size_limit (see Run).
func ReadIncoming(msg io.Reader) (*Incoming, error) {
	br := bufio.NewReaderSize(msg, 64<<10)
	in := &Incoming{}
	var hdr bytes.Buffer
	first, skipping := true, false
	for {
		line, whole, err := readLine(br, maxHeader-hdr.Len())
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("read message: %w", err)
		}
		if len(line) == 0 {
			break // end of input inside the header
		}
		if !whole {
			if _, ok := fieldName(line); ok || first && bytes.HasPrefix(line, []byte("From ")) || line[0] == ' ' || line[0] == '\t' {
				return nil, errHeaderTooLarge
			}
			// A long first body line after a header without its
			// blank line: the body streams as usual.
			in.hasBody = true
			in.body = io.MultiReader(bytes.NewReader(line), br)
			break
		}
		if first && bytes.HasPrefix(line, []byte("From ")) {
			first = false
			sender, _, _ := mbox.ParseFromLine(line)
			if sender == "" {
				if f := bytes.Fields(line[5:]); len(f) > 0 {
					sender = string(f[0])
				}
			}
			in.FromSender = sender
			continue
		}
		first = false
		lf := toLF(line)
		if len(lf) == 1 { // the blank line
			in.hasBody = true
			in.body = br
			break
		}
		if lf[0] == ' ' || lf[0] == '\t' {
			if !skipping {
				hdr.Write(lf)
			}
			continue
		}
		name, ok := fieldName(lf)
		if !ok {
			// Not a header field: the header has ended without its blank
			// line, and this line is the body's first.
			in.hasBody = true
			in.body = io.MultiReader(bytes.NewReader(line), br)
			break
		}
		skipping = mbox.IsStateHeader(string(name))
		if !skipping {
			hdr.Write(lf)
		}
		if err == io.EOF {
			break
		}
	}
	in.header = hdr.Bytes()
	if in.body == nil {
		in.body = bytes.NewReader(nil)
	}
	return in, nil
}

// maxHeader bounds the header block deliver holds in memory; Postfix
// keeps 100 KB of it (header_size_limit), this is ten times that.
const maxHeader = 1 << 20

var errHeaderTooLarge = sysexits.Wrap(sysexits.DataErr,
	fmt.Errorf("message header larger than %d bytes", maxHeader))

// readLine reads one line, line end included (a last line may lack it);
// past max bytes it stops with what it has (whole false).
func readLine(br *bufio.Reader, max int) (line []byte, whole bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > max {
			return line, false, nil
		}
		if err != bufio.ErrBufferFull {
			return line, true, err
		}
	}
}

func toLF(line []byte) []byte {
	switch {
	case bytes.HasSuffix(line, []byte("\r\n")):
		return append(line[:len(line)-2:len(line)-2], '\n')
	case len(line) == 0 || line[len(line)-1] != '\n':
		return append(line[:len(line):len(line)], '\n')
	}
	return line
}

// fieldName returns the name of a header field line (RFC 5322 2.2:
// printable ASCII but colon, then a colon).
func fieldName(line []byte) ([]byte, bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return nil, false
	}
	for _, c := range line[:i] {
		if c <= ' ' || c > '~' {
			return nil, false
		}
	}
	return line[:i], true
}

// content is the message as it is to be stored for one recipient:
// Return-Path and Delivered-To first, then the kept header, an empty
// X-Keywords field padded for the state fields (mbox.Padding), then the
// body.
// The body streams once, so an Incoming serves one recipient.
func (in *Incoming) content(returnPath, deliveredTo string) io.Reader {
	var top bytes.Buffer
	fmt.Fprintf(&top, "Return-Path: <%s>\n", oneLine(returnPath))
	if deliveredTo != "" {
		fmt.Fprintf(&top, "Delivered-To: %s\n", oneLine(deliveredTo))
	}
	top.Write(in.header)
	// Room for the flags a reader sets later, written in place.
	top.WriteString(mbox.Padding())
	if in.hasBody {
		top.WriteByte('\n')
	}
	return io.MultiReader(&top, in.body)
}

// oneLine keeps a value we put in a header from breaking out of it.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}
