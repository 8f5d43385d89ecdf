// Command ipop3d is unixmail's POP3 server; see ipop3d(8).
package main

import (
	"unixmail/pkg/config"
	"unixmail/pkg/daemon"
	"unixmail/pkg/pop3"
	"unixmail/pkg/userdb"
)

func main() {
	daemon.Command{
		Program:  "ipop3d",
		Usage:    "serve users' mailboxes over POP3",
		TLSUsage: "implicit TLS on every connection (pop3s, port 995)",
		Busy:     "-ERR [SYS/TEMP] too many connections, try again later\r\n",
		Prepare:  prepare,
	}.Main()
}

func prepare(cfg *config.Config) (func(*daemon.Client) error, error) {
	var secrets map[string]string
	if cfg.APOPSecrets != "" {
		// Read now: after the login the server is the user, who may not.
		var err error
		if secrets, err = pop3.LoadAPOPSecrets(cfg.APOPSecrets); err != nil {
			return nil, err
		}
	}
	return func(client *daemon.Client) error {
		srv := &pop3.Server{
			Client:   client,
			Hostname: cfg.Hostname,
			APOP:     secrets,
			Open: func(u *userdb.User) (pop3.Maildrop, error) {
				return pop3.OpenMbox(u.Expand(cfg.Mailbox), u.UID, cfg.LockTimeout, client.Log.Warn)
			},
		}
		return srv.Serve()
	}, nil
}
