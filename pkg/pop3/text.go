package pop3

import (
	"bufio"
	"errors"
	"io"

	"unixmail/pkg/mbox"
)

// writeText copies a message read from br to a multi-line response (RFC
// 1939 3): every line ends in CRLF, a line starting with "." gets one more,
// and the text ends with a line end so the terminating "." stands alone.
// bodyLines >= 0 stops after that many lines of the body (TOP); the header
// and the blank line after it always go. With mboxrd, br holds the text as
// an mbox stores it: a line ">From ", ">>From "... loses one ">", and the
// header fields that are the mailbox's bookkeeping (X-UID, Status,
// Content-Length...: mbox.IsStateHeader) are left out, as UW's ipop3d and
// Dovecot leave them out.
// Memory stays bounded whatever the line or message length: a line longer
// than the buffer goes out in pieces. Without stuff the leading dots stay
// single: that is the size LIST gives.
func writeText(w *bufio.Writer, br *bufio.Reader, bodyLines int, mboxrd, stuff bool) error {
	atStart, inHeader, pendingCR := true, true, false
	hiding := false // in a state header field, its continuation lines included
	for {
		if !inHeader && bodyLines == 0 && atStart {
			return nil
		}
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			whole := chunk[len(chunk)-1] == '\n'
			if atStart && inHeader && mboxrd {
				hiding = mbox.StateFieldLine(chunk, hiding)
			}
			if !hiding {
				if atStart {
					if mboxrd && mbox.QuotedFrom(chunk) {
						chunk = chunk[1:]
					}
					if stuff && chunk[0] == '.' {
						w.WriteByte('.')
					}
					if inHeader && (string(chunk) == "\n" || string(chunk) == "\r\n") {
						inHeader = false
					} else if !inHeader && whole {
						bodyLines--
					}
				}
				if pendingCR {
					// A CR that ended the last piece: part of a CRLF, or text.
					if chunk[0] != '\n' {
						w.WriteByte('\r')
					}
					pendingCR = false
				}
				switch {
				case whole:
					text := chunk[:len(chunk)-1]
					if n := len(text); n > 0 && text[n-1] == '\r' {
						text = text[:n-1]
					}
					w.Write(text)
					w.WriteString("\r\n")
				case chunk[len(chunk)-1] == '\r':
					w.Write(chunk[:len(chunk)-1])
					pendingCR = true
				default:
					w.Write(chunk)
				}
			}
			atStart = whole
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if pendingCR {
				w.WriteByte('\r')
			}
			if !atStart && !hiding {
				w.WriteString("\r\n")
			}
			return nil
		case err != nil:
			return err
		}
	}
}
