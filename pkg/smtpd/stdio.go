package smtpd

import (
	"io"
	"net"

	"unixmail/pkg/stdioconn"
)

// ServeStdio runs one SMTP session on in and out, for sendmail -bs (and
// inetd). It returns when the session ends.
func ServeStdio(p Policy, q Queue, log Logger, in io.Reader, out io.Writer) error {
	be := newBackend(p, q, log)
	be.stdio = true
	return serveConn(be, stdioconn.New(in, out), nil)
}

// ServeConn runs one SMTP session on c, a client's socket, for a process
// that serves one connection (the unprivileged parser of sendmail -bd).
// Connection limits are the caller's; per-connection ones apply here.
func ServeConn(p Policy, q Queue, log Logger, c net.Conn) error {
	return serveConn(newBackend(p, q, log), c, nil)
}
