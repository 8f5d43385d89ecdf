package mimeview

import (
	"io"
	"unicode/utf8"
)

// Sanitize makes text safe for a terminal, as SafeWriter does.
func Sanitize(s string) string { return sanitize(s, false) }

// SafeWriter passes a message's source to a terminal under sanitize's
// rules (escape sequences and other controls shown as ^[, CRLF as LF), in
// bounded memory: it holds back at most an unfinished UTF-8 sequence or a
// CR whose LF may follow. Close writes what is held back.
type SafeWriter struct {
	w    io.Writer
	held []byte
	buf  []byte
}

// NewSafeWriter returns a SafeWriter writing to w.
func NewSafeWriter(w io.Writer) *SafeWriter { return &SafeWriter{w: w} }

// Write sanitizes p and writes it; it reports p as written in full unless
// w fails.
func (s *SafeWriter) Write(p []byte) (int, error) {
	s.buf = append(append(s.buf[:0], s.held...), p...)
	cut := boundary(s.buf)
	s.held = append(s.held[:0], s.buf[cut:]...)
	if cut == 0 {
		return len(p), nil
	}
	if _, err := io.WriteString(s.w, sanitize(string(s.buf[:cut]), false)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close writes what was held back.
func (s *SafeWriter) Close() error {
	if len(s.held) == 0 {
		return nil
	}
	_, err := io.WriteString(s.w, sanitize(string(s.held), false))
	s.held = s.held[:0]
	return err
}

// boundary is where b can be cut without splitting a UTF-8 sequence or a
// CRLF.
func boundary(b []byte) int {
	n := len(b)
	if n > 0 && b[n-1] == '\r' {
		return n - 1
	}
	// A lead byte in the last three whose sequence is not complete.
	for i := n - 1; i >= 0 && i >= n-3; i-- {
		if utf8.RuneStart(b[i]) {
			if b[i] >= 0x80 && !utf8.FullRune(b[i:]) {
				return i
			}
			break
		}
	}
	return n
}
