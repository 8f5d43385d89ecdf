package smtpd

import (
	"io"

	"github.com/emersion/go-smtp"
)

// checkMessage runs Policy.CheckMessage on a message from a client that is
// not ours (neither trusted, authenticated nor in mynetworks) and returns
// what to queue. Anything else, and a message whose data failed (the
// checker's error then stands), passes as it came.
func (s *session) checkMessage(env *Envelope, chk *dataChecker) (io.Reader, string, *smtp.SMTPError) {
	check := s.be.policy.CheckMessage
	if check == nil || s.be.policy.Trusted || s.authUser != "" || s.inMyNetworks() {
		return chk, "", nil
	}
	msg, err := io.ReadAll(chk)
	if err != nil {
		return chk, "", nil
	}
	return check(env, msg)
}
