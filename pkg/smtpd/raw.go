package smtpd

import (
	"runtime"
	"sync"

	"github.com/emersion/go-smtp"
)

var errNUL = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
	Message: "NUL character received (RFC 5321 4.1.1.4, RFC 6152 2)"}

// rawCheck looks at the client's bytes as go-smtp reads them off the
// connection (after TLS), before its DATA reader removes leading dots.
// That reader drops the CR of a line starting ".<CR>x", so that bare CR
// ("\r\n.\rMAIL FROM:...", a smuggling probe) never reaches dataChecker,
// and the stored text would differ from what was sent. Every other byte
// does reach it, so this is the one pattern looked for: <LF> "." <CR>
// and then anything but <LF>. Outside DATA it is a broken command line, so
// it is looked for everywhere; once seen, the message in transfer (go-smtp
// reads ahead, so perhaps the next one) is refused and the client's next
// MAIL is answered by a disconnection.
//
// It is the server's Debug writer, the one place go-smtp shows raw bytes;
// replies go there too and are told apart by who writes them.
type rawCheck struct {
	mu   sync.Mutex
	tail [3]byte // the client's last three bytes
	bad  error   // sticky: the first violation
}

func (r *rawCheck) Write(p []byte) (int, error) {
	if isReply() {
		return len(p), nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range p {
		if r.tail == [3]byte{'\n', '.', '\r'} && c != '\n' && r.bad == nil {
			r.bad = errBareCR
		}
		r.tail = [3]byte{r.tail[1], r.tail[2], c}
	}
	return len(p), nil
}

// err returns the first violation seen, or nil; a nil rawCheck has seen
// nothing.
func (r *rawCheck) err() error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bad
}

// isReply reports whether rawCheck.Write was called by go-smtp's writer
// (io.MultiWriter, passing on a reply) rather than its reader
// (io.TeeReader). Anything else is checked as client bytes: a reply never
// holds "\n.\r", so a mistake there could not refuse anything.
func isReply() bool {
	var pcs [1]uintptr
	// Skip runtime.Callers, isReply and rawCheck.Write.
	if runtime.Callers(3, pcs[:]) == 0 {
		return false
	}
	f, _ := runtime.CallersFrames(pcs[:]).Next()
	return f.Function == "io.(*multiWriter).Write"
}
