// Package daemon is the runtime ipop3d and imapd share: how a connection
// arrives, TLS, password checks with their delays and limits, the drop to
// the user's privileges, and the log lines of logins. A protocol server is
// a function of one *Client; Run finds the connection and calls it.
//
// # Start modes
//
// With Options.Listen empty (the default) the process serves the one
// connection on its standard input and output, as inetd, xinetd and systemd
// socket units with Accept=yes start it. A socket there is wrapped with
// net.FileConn, so deadlines work and the peer's address is known; a pipe or
// a terminal is a local client (the `ssh host imapd` case, tests).
//
// With Options.Listen set (`--listen ADDR`, repeatable) the process listens
// itself and starts one copy of itself per connection with the socket as its
// standard input and output: each connection then runs in its own process,
// which can become its own user. Past client_connection_limit connections
// in all, or client_connection_count_limit from one address (pkg/throttle's
// Limiter), a client gets Options.Busy and is closed; while half the slots
// are taken every session hears so (busy.go) and gives its idle client
// client_busy_timeout at most. SIGTERM (or SIGINT) stops the listening; the sessions
// already running finish on their own, then Run returns nil.
//
// Options.TLS makes every connection implicit TLS (pop3s, imaps) from
// tls_cert and tls_key; Client.StartTLS upgrades a plaintext one (STLS,
// STARTTLS). Both allow TLS 1.2 and later only.
//
// # What a protocol server does with a Client
//
//	daemon.Run(daemon.Options{Program: "ipop3d", Config: cfg, Listen: addrs, TLS: tlsFlag,
//		Busy: "-ERR [SYS/TEMP] too many connections\r\n"},
//		func(c *daemon.Client) error {
//			// greet on c.Conn; before login, c.SetIdle(c.PreLoginIdle) ...
//			if !c.PlaintextOK() { /* refuse USER/PASS, LOGIN: LOGINDISABLED */ }
//			u, err := c.Authenticate(name, password, "USER")
//			if errors.Is(err, auth.ErrBadCredentials) && c.TooManyFailures() { /* close */ }
//			if err := c.BecomeUser(u); err != nil { /* [SYS/PERM], close */ }
//			// now, and only now, open u's mailbox (u.Expand(cfg.Mailbox))
//		})
//
// Authenticate waits before it answers a failure, client_auth_failure_delay
// doubled for each recent failure on this connection and, as root, from
// this address on others (pkg/throttle's policy; the count across
// processes lives in daemon_state_dir), and logs
// `login user=<bob> rip=127.0.0.1 method=USER tls=no` or `warning: login
// failed user=<bob> rip=... method=... reason=...`; it never logs a
// password. After client_auth_failure_limit failures TooManyFailures
// reports true and the server should close. As a non-root process it accepts only the user
// running it (the sandbox, `ssh host imapd`); Caller gives that user for
// servers that log in without a password then (imapd's PREAUTH).
//
// BecomeUser drops root for good (setgroups, setgid, setuid) before any
// mailbox is opened; run by the user already, it changes nothing.
//
// A server that reads through a bufio.Reader must make a new one after
// StartTLS: anything the client sent behind STLS/STARTTLS in the same packet
// was sent in the clear and must be thrown away (CVE-2011-0411), and
// StartTLS refuses to start while the caller says bytes are still buffered.
package daemon
