package mta

import "unixmail/pkg/auth"

// authenticate is the SMTP server's password check, by the configured
// auth method. smtpd logs the outcome with the client's address; our
// errors never hold the password, and a wrong one, an unknown user and a
// locked account all read "authentication failed".
func (m *MTA) authenticate() (func(user, pass string) error, error) {
	a, err := auth.New(m.Cfg, m.Users)
	if err != nil {
		return nil, err
	}
	return func(user, pass string) error {
		_, err := a.Authenticate(user, pass)
		return err
	}, nil
}
