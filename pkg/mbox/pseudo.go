package mbox

import "io"

// WritePseudo writes UW c-client's folder-internal message carrying b, the
// way an IMAP server starts an empty folder so that its UIDVALIDITY lasts
// until the first message comes (c-client, Dovecot and we hide it).
func WritePseudo(w io.Writer, b *Base) error {
	return writePseudo(w, []byte(baseField(b)))
}
