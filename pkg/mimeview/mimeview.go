// Package mimeview shows mail messages to a person at a terminal, for
// mail(1): header fields with RFC 2047 encoded words decoded, bodies decoded
// from their transfer encoding and charset (RFC 2045, 2046), the parts of a
// multipart message numbered as IMAP numbers them (RFC 3501 6.4.5), file
// names with RFC 2231 parameters decoded, and HTML turned into plain text.
//
// Mail in the wild is often broken. Nothing here fails on bad input: a
// damaged part is shown as far as it goes, with a bracketed note saying what
// was wrong, and only write errors are returned.
package mimeview

import (
	"bufio"
	"fmt"
	"io"

	// Registers the charsets message bodies and headers are converted from.
	_ "github.com/emersion/go-message/charset"
)

// Options control how Render shows a message.
type Options struct {
	// ShowHeader says which header fields to show (mail's ignore and
	// retain lists); it is given the field name as written in the message,
	// so compare without regard to case. nil shows all fields.
	ShowHeader func(field string) bool
	// Raw shows the source undecoded and with every field (mail's Print
	// and Type), with escape sequences and other controls neutralised as
	// everywhere else (see SafeWriter) unless Verbatim is set too.
	Raw, Verbatim bool
	// Width is the terminal width, used to fit the part list lines; 0 is 80.
	Width int
}

func wrapErr(what string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// Part describes one leaf part of a message.
type Part struct {
	Num         string // IMAP part number: "1", "2.1"
	Type        string // media type, lower case: "application/pdf"
	Charset     string // charset parameter, as given
	Encoding    string // Content-Transfer-Encoding, lower case; "7bit" when absent
	Size        int64  // bytes after transfer decoding: what WritePart writes
	Name        string // file name (Content-Disposition filename, else Content-Type name), decoded
	Disposition string // "inline", "attachment" or "" when not given
}

// Render writes msg for reading: the shown header fields, decoded, a blank
// line, then the body (see the package comment). multipart/alternative
// shows its text/plain part, else its HTML as text; multipart/mixed shows
// text parts inline and lists the others as "[-- #2 application/pdf 12K
// report.pdf --]"; message/rfc822 parts are shown nested.
func Render(w io.Writer, msg io.Reader, o Options) error {
	if o.Raw {
		if o.Verbatim {
			_, err := io.Copy(w, msg)
			return wrapErr("show message source", err)
		}
		sw := NewSafeWriter(w)
		_, err := io.Copy(sw, msg)
		if cerr := sw.Close(); err == nil {
			err = cerr
		}
		return wrapErr("show message source", err)
	}
	root, err := read(msg)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	r := &renderer{w: bw, o: o}
	if r.o.Width <= 0 {
		r.o.Width = 80
	}
	r.message(root)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("show message: %w", err)
	}
	return nil
}

// Parts lists every leaf part of msg in IMAP order. A single-part message
// has one part, numbered 1. It fails only when msg cannot be read.
func Parts(msg io.Reader) ([]Part, error) {
	root, err := read(msg)
	if err != nil {
		return nil, err
	}
	var parts []Part
	root.leaves(func(e *entity) {
		data, _ := decodeTransfer(e.cte, e.body)
		enc := e.cte
		if enc == "" {
			enc = "7bit"
		}
		parts = append(parts, Part{
			Num:         e.num,
			Type:        e.typ,
			Charset:     e.params["charset"],
			Encoding:    enc,
			Size:        int64(len(data)),
			Name:        e.name,
			Disposition: e.disp,
		})
	})
	return parts, nil
}

// WritePart writes the body of part num of msg, transfer-decoded but in its
// own charset, as a file saved from it should hold. For a message/rfc822
// part that is the whole enclosed message. When the part's encoding is
// damaged, what could be decoded is written and an error says so.
func WritePart(w io.Writer, msg io.Reader, num string) error {
	root, err := read(msg)
	if err != nil {
		return err
	}
	e := root.find(num)
	if num == "" || e == nil {
		return fmt.Errorf("no part %q in this message", num)
	}
	data, problem := decodeTransfer(e.cte, e.body)
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("write part %s: %w", num, err)
	}
	if problem != "" {
		return fmt.Errorf("part %s: %s", num, problem)
	}
	return nil
}

func read(msg io.Reader) (*entity, error) {
	raw, err := io.ReadAll(cutHeaderLines(msg))
	if err != nil {
		return nil, fmt.Errorf("read message: %w", err)
	}
	return parse(raw, "1", "", 0), nil
}
