package mta

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"unixmail/pkg/aliases"
	"unixmail/pkg/sysexits"
)

// Verify is sendmail -bv: it reads no message and says, for each
// recipient, whether mail to it would be accepted here, one line each in
// classic sendmail's form ("bob@x... deliverable: local"). Postfix mails
// this report instead; printing it is what a script calling -bv can use.
// An unknown local user makes the result EX_NOUSER; a file or program
// that would wait for a configuration fix (see privsFor) is reported as
// deferred, and makes it EX_TEMPFAIL.
func (m *MTA) Verify(w io.Writer, args []string) error {
	var addrs []string
	for _, a := range args {
		addrs = append(addrs, AddressList(a)...)
	}
	if len(addrs) == 0 {
		return sysexits.Wrap(sysexits.Usage, ErrNoRecipients)
	}
	unknown, waiting := 0, 0
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
				if err := m.checkPrivs(a); err != nil {
					verdict = "deferred: " + err.Error()
					waiting++
				}
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
	if waiting > 0 {
		return sysexits.Wrap(sysexits.TempFail, errors.New("some recipients would wait for a configuration fix"))
	}
	return nil
}

// checkPrivs finds, as a delivery would, the user each file and program
// addr expands to runs as. What the expansion itself finds wrong shows
// when the mail is delivered, as with Postfix's -bv.
func (m *MTA) checkPrivs(addr string) error {
	dests, err := m.expander().Expand(addr)
	if err != nil {
		return nil
	}
	for _, d := range dests {
		kind := map[aliases.Kind]string{aliases.File: "file", aliases.Pipe: "command"}[d.Kind]
		if kind == "" {
			continue
		}
		if _, err := m.privsFor(kind, d.Value, d.Privs); err != nil {
			return err
		}
	}
	return nil
}
