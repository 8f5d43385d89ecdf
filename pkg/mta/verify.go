package mta

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"unixmail/pkg/sysexits"
)

// Verify is sendmail -bv: it reads no message and says, for each
// recipient, whether mail to it would be accepted here, one line each in
// classic sendmail's form ("bob@x... deliverable: local"). Postfix mails
// this report instead; printing it is what a script calling -bv can use.
// An unknown local user makes the result EX_NOUSER.
func (m *MTA) Verify(w io.Writer, args []string) error {
	var addrs []string
	for _, a := range args {
		addrs = append(addrs, AddressList(a)...)
	}
	if len(addrs) == 0 {
		return sysexits.Wrap(sysexits.Usage, ErrNoRecipients)
	}
	unknown := 0
	for _, a := range addrs {
		if err := CheckAddress(a); err != nil {
			return err
		}
		a = m.Qualify(a)
		at := strings.LastIndexByte(a, '@')
		verdict := "deliverable: remote, by SMTP"
		if m.Cfg.IsLocalDomain(a[at+1:]) {
			ok, err := m.LocalUserExists(a[:at])
			switch {
			case err != nil:
				return sysexits.Wrap(sysexits.TempFail, fmt.Errorf("%s: %w", a, err))
			case ok:
				verdict = "deliverable: local"
			default:
				verdict = "User unknown"
				unknown++
			}
		}
		if _, err := fmt.Fprintf(w, "%s... %s\n", a, verdict); err != nil {
			return sysexits.Wrap(sysexits.IOErr, err)
		}
	}
	if unknown > 0 {
		return sysexits.Wrap(sysexits.NoUser, errors.New("some recipients are unknown"))
	}
	return nil
}
