// Command imapd serves IMAP4rev1 and IMAP4rev2 over the users' mbox files;
// see imapd(8).
package main

import (
	"unixmail/pkg/config"
	"unixmail/pkg/daemon"
	"unixmail/pkg/imapd"
)

func main() {
	daemon.Command{
		Program:  "imapd",
		Usage:    "serve IMAP4rev1 and IMAP4rev2 on standard input, or on addresses it listens on",
		TLSUsage: "implicit TLS on every connection (imaps, port 993)",
		Busy:     "* BYE Too many connections, try later\r\n",
		Prepare: func(*config.Config) (func(*daemon.Client) error, error) {
			return imapd.Serve, nil
		},
	}.Main()
}
