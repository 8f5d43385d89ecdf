package smtpd

import (
	"io"

	"unixmail/pkg/stdioconn"
)

// ServeStdio runs one SMTP session on in and out, for sendmail -bs (and
// inetd). It returns when the session ends.
func ServeStdio(p Policy, q Queue, log Logger, in io.Reader, out io.Writer) error {
	be := newBackend(p, q, log)
	be.stdio = true
	return serveConn(be, stdioconn.New(in, out), nil)
}
