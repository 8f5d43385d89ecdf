// Package iolimit keeps the start of what a child process says, so that a
// chatty program cannot fill our memory while we wait for it.
package iolimit

import "io"

// Writer passes on the first N bytes written to W and drops the rest,
// always reporting success so the writer is never stopped.
type Writer struct {
	W io.Writer
	N int
}

func (l *Writer) Write(p []byte) (int, error) {
	if l.N > 0 {
		k := min(len(p), l.N)
		l.W.Write(p[:k])
		l.N -= k
	}
	return len(p), nil
}
