// Command sendmail is unixmail's mail transfer agent; see sendmail(8).
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"unixmail/pkg/aliases"
	"unixmail/pkg/config"
	"unixmail/pkg/maillog"
	"unixmail/pkg/msgauth"
	"unixmail/pkg/mta"
	"unixmail/pkg/privsep"
	"unixmail/pkg/smtpd"
	"unixmail/pkg/sysexits"
	"unixmail/pkg/throttle"
	"unixmail/pkg/usage"
	"unixmail/pkg/userdb"
)

func main() {
	app := &cli.App{
		Name:      "sendmail",
		Usage:     "send mail, run the mail queue, serve SMTP",
		UsageText: "sendmail [-t] [-i] [-f sender] [-F name] [-bm|-bs|-bd|-bp|-bi] [-q[interval]] [-o key=value] [-C file] [--] [recipient ...]",
		// sendmail's flags are not GNU-style: -faddr, -oi, -odq, grouped
		// letters. mta.ParseArgs reads them.
		SkipFlagParsing: true,
	}
	app.Action = func(c *cli.Context) error {
		args, err := mta.ParseArgs(os.Args[0], c.Args().Slice())
		if err != nil {
			return usage.Bad(app, err)
		}
		return run(args)
	}
	app.ExitErrHandler = func(*cli.Context, error) {}
	if err := usage.Run(app, os.Args); err != nil {
		if !usage.Shown(err) {
			fmt.Fprintf(os.Stderr, "sendmail: %v\n", err)
		}
		code := sysexits.Code(err)
		if code == sysexits.Software {
			code = sysexits.TempFail
		}
		os.Exit(code)
	}
}

func run(a *mta.Args) error {
	// The setgid group is for dropping mail into maildrop/ and nothing
	// else: root needs no group to do that, and files it makes (a
	// mailbox, a queue file) must not end up in the group.
	if os.Geteuid() == 0 && os.Getegid() != os.Getgid() {
		if err := syscall.Setegid(os.Getgid()); err != nil {
			return sysexits.Wrap(sysexits.OSErr, fmt.Errorf("give up the setgid group: %w", err))
		}
	}
	if err := dropGroupForOwnConfig(a); err != nil {
		return err
	}
	parser := a.Mode == mta.ModeSMTP && os.Getenv(mta.ParserEnv) != ""
	if parser && os.Getegid() != os.Getgid() {
		gid := os.Getgid()
		if err := unix.Setresgid(gid, gid, gid); err != nil {
			return sysexits.Wrap(sysexits.OSErr, fmt.Errorf("give up the setgid group: %w", err))
		}
	}
	cfg, err := config.Load(a.ConfigFile, a.Overrides)
	if err != nil {
		return sysexits.Wrap(sysexits.Config, err)
	}
	logDest := cfg.Log
	if parser && logDest != "syslog" {
		// The daemon's log file is on our standard error.
		logDest = "stderr"
	}
	// An SMTP session on stdin/stdout must never write to stderr, which
	// inetd makes the client's socket too.
	log := maillog.New(logDest, "sendmail", a.Mode == mta.ModeSMTP && !parser)
	defer log.Close()
	var confArgs []string
	if cfg.Path != "" {
		confArgs = append(confArgs, "-C", cfg.Path)
	}
	for _, o := range a.Overrides {
		confArgs = append(confArgs, "-o", o)
	}
	m := mta.New(cfg, log, confArgs)
	if a.Verbose && a.Mode == mta.ModeDeliver {
		m.Verbose = os.Stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()

	switch a.Mode {
	case mta.ModeIgnore:
		return nil
	case mta.ModeVerify:
		return m.Verify(os.Stdout, a.Rcpts)
	case mta.ModePrint:
		return m.PrintQueue(os.Stdout)
	case mta.ModeAliases:
		return newaliases(cfg, a.Verbose)
	case mta.ModeQueue:
		return runQueue(ctx, m, a.Interval)
	case mta.ModeSMTP:
		if parser {
			return serveParser(m)
		}
		return serveStdio(ctx, m)
	case mta.ModeDaemon:
		return daemon(ctx, m, a.Interval)
	case mta.ModeDKIMKey:
		return dkimKey(cfg, a.Rcpts)
	}
	return submit(ctx, m, a)
}

// dropGroupForOwnConfig: an ordinary user who names a configuration of
// their own (-C, -o, $UNIXMAIL_CONF) gets it, but not with the setgid
// group: that goes for good, before anything they name is read or
// written, as Postfix refuses alternate configurations to postdrop.
// Otherwise "-o log=QUEUE/maildrop/0" would plant a file in maildrop/.
func dropGroupForOwnConfig(a *mta.Args) error {
	gid := os.Getgid()
	if os.Getuid() == 0 || os.Getegid() == gid {
		return nil
	}
	if a.ConfigFile == "" && len(a.Overrides) == 0 && os.Getenv(config.EnvVar) == "" {
		return nil
	}
	if err := unix.Setresgid(gid, gid, gid); err != nil {
		return sysexits.Wrap(sysexits.OSErr, fmt.Errorf("give up the setgid group: %w", err))
	}
	return nil
}

// caller is the user running us, from user_db, else the system's users:
// the one $LOGNAME or $USER names when it has our uid, as mail(1) finds
// it, else the first of our uid.
func caller(m *mta.MTA) *userdb.User {
	uid := os.Getuid()
	names := []string{os.Getenv("LOGNAME"), os.Getenv("USER")}
	for _, db := range []*userdb.DB{m.Users, userdb.Open("system")} {
		if u, err := db.Caller(uid, false, names...); err == nil {
			return u
		}
	}
	return &userdb.User{Name: fmt.Sprintf("uid%d", uid), UID: uid}
}

func submit(ctx context.Context, m *mta.MTA, a *mta.Args) error {
	u := caller(m)
	s := &mta.Submission{
		Sender:      m.Qualify(u.Name),
		FullName:    a.FullName,
		Rcpts:       a.Rcpts,
		FromHeaders: a.FromHeaders,
		IgnoreDots:  a.IgnoreDots,
		Notify:      a.Notify,
		Ret:         a.Ret,
		EnvID:       a.EnvID,
		UID:         u.UID,
		QueueOnly:   a.DeliveryMode == 'q',
	}
	if s.FullName == "" {
		s.FullName = u.FullName()
	}
	if a.SenderGiven {
		// Like Postfix, the first address in the value: "Name <a@x>"
		// gives a@x, "" and "<>" the null sender.
		sender := ""
		if list := mta.AddressList(a.Sender); len(list) > 0 {
			sender = list[0]
		}
		if sender != "" {
			if err := mta.CheckAddress(sender); err != nil {
				return err
			}
		}
		s.Sender = m.Qualify(sender)
	}
	e, _, err := m.Submit(ctx, s, os.Stdin)
	if err != nil {
		return err
	}
	if e == nil {
		return nil // delivered, or in maildrop for the queue runner
	}
	if s.QueueOnly {
		return e.Close()
	}
	// The message is safe in the queue: a signal from here on only
	// leaves it for the runner.
	m.Attempt(ctx, e)
	return nil
}

// newaliases checks the aliases file. Like Postfix's, it says nothing
// when all is well (-v prints the count); errors go to stderr by line.
func newaliases(cfg *config.Config, verbose bool) error {
	if cfg.AliasMaps == "" {
		return nil
	}
	am, errs := aliases.Load(cfg.AliasMaps)
	for _, err := range errs {
		fmt.Fprintf(os.Stderr, "newaliases: %v\n", err)
	}
	if len(errs) > 0 {
		return sysexits.Wrap(sysexits.DataErr, fmt.Errorf("%s: %d errors", cfg.AliasMaps, len(errs)))
	}
	if verbose {
		fmt.Printf("%s: %d aliases\n", cfg.AliasMaps, am.Len())
	}
	return nil
}

func mayDeliver(m *mta.MTA) error {
	if !m.CanDeliver {
		return sysexits.Wrap(sysexits.NoPerm, errors.New("only root or the queue's owner may run the queue"))
	}
	return nil
}

// runQueue is -q: once, trying everything; with an interval, again and
// again in the foreground, honouring retry times.
func runQueue(ctx context.Context, m *mta.MTA, every time.Duration) error {
	if err := mayDeliver(m); err != nil {
		return err
	}
	if err := m.RunQueue(ctx, true); err != nil || every == 0 {
		return err
	}
	return queueLoop(ctx, m, every)
}

func queueLoop(ctx context.Context, m *mta.MTA, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := m.RunQueue(ctx, false); err != nil {
				m.Log.Error("queue run: %v", err)
			}
		}
	}
}

func serveStdio(ctx context.Context, m *mta.MTA) error {
	p, err := m.Policy(caller(m).Name)
	if err != nil {
		return sysexits.Wrap(sysexits.Config, err)
	}
	w := m.StartWorkers(ctx, 1)
	err = smtpd.ServeStdio(p, w, m.Log, os.Stdin, os.Stdout)
	w.Wait()
	return err
}

// defaultInterval is how often -bd runs the queue when no -q says.
const defaultInterval = 5 * time.Minute

// daemon is -bd: the SMTP server on every smtp_listen address, deliveries
// right after each message, and a queue run every interval.
func daemon(ctx context.Context, m *mta.MTA, every time.Duration) error {
	if err := mayDeliver(m); err != nil {
		return err
	}
	if err := m.Queue.Init(); err != nil {
		return sysexits.Wrap(sysexits.CantCreat, err)
	}
	p, err := m.Policy("")
	if err != nil {
		return sysexits.Wrap(sysexits.Config, err)
	}
	if _, err := m.DKIMSigner(); err != nil {
		return sysexits.Wrap(sysexits.Config, err)
	}
	if every == 0 {
		every = defaultInterval
	}
	if os.Geteuid() == 0 {
		// Root delivers to each user through a `deliver -l` running as
		// the user, kept for the next message.
		m.KeepDeliverChildren()
		defer m.CloseChildren()
	}
	showq, err := m.ListenShowq()
	if err != nil {
		return sysexits.Wrap(sysexits.CantCreat, err)
	}
	go m.ServeShowq(ctx, showq)
	defer showq.Close()
	w := m.StartWorkers(ctx, 8)
	serve, closeAll, err := smtpServer(ctx, m, p, w)
	if err != nil {
		return sysexits.Wrap(sysexits.Config, err)
	}
	var wg sync.WaitGroup
	errc := make(chan error, len(m.Cfg.SMTPListen))
	for _, addr := range m.Cfg.SMTPListen {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			closeAll()
			return sysexits.Wrap(sysexits.OSErr, err)
		}
		m.Log.Info("daemon started -- listening on %s", l.Addr())
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- serve(l)
		}()
	}
	go func() {
		if err := m.RunQueue(ctx, false); err != nil {
			m.Log.Error("queue run: %v", err)
		}
		queueLoop(ctx, m, every)
	}()
	select {
	case <-ctx.Done():
	case err = <-errc:
		m.Log.Error("smtp server: %v", err)
	}
	closeAll()
	wg.Wait()
	w.Wait()
	m.Log.Info("daemon stopped")
	return err
}

// smtpServer is what serves each listener: as root with an smtpd_user
// account, a parser process per connection running as that account;
// else go-smtp in this process.
func smtpServer(ctx context.Context, m *mta.MTA, p smtpd.Policy, w *mta.Workers) (func(net.Listener) error, func(), error) {
	account := m.SplitAccount()
	if account == nil {
		srv := smtpd.NewServer(p, w, m.Log)
		return srv.Serve, func() { srv.Close() }, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	sp, err := m.NewSplit(account, w, exe, m.DeliverArgs)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	return func(l net.Listener) error { return sp.Serve(ctx, l) }, cancel, nil
}

// serveParser is the unprivileged parser of one connection of -bd (see
// mta.Split): the client's socket on standard input and output, the
// privileged side on descriptor 3.
func serveParser(m *mta.MTA) error {
	conn, err := net.FileConn(os.Stdin)
	if err != nil {
		return sysexits.Wrap(sysexits.OSErr, fmt.Errorf("the client's socket: %w", err))
	}
	defer conn.Close()
	conn = throttle.FollowBusy(conn, mta.ParserBusyFD, m.Cfg.ClientBusyTimeout)
	ps := privsep.NewParser(os.NewFile(3, "privsep"))
	p := m.ParserPolicy("")
	p.Authenticate, p.LocalUserExists = ps.Authenticate, ps.LocalUserExists
	// The privileged side makes failed logins wait, per address.
	p.AuthFailures.Delay, p.AuthFailures.MaxDelay = 0, 0
	cert, key, ok, err := ps.KeyPair()
	if err != nil {
		return sysexits.Wrap(sysexits.OSErr, err)
	}
	if ok {
		if p.TLSConfig, err = mta.TLSConfig(cert, key); err != nil {
			return sysexits.Wrap(sysexits.Config, err)
		}
	}
	return smtpd.ServeConn(p, ps, m.Log, conn)
}

// dkimKey is -bk DOMAIN [rsa|ed25519]: the key file dkim_keys names for
// DOMAIN is made if it does not exist, and its DNS record printed.
func dkimKey(cfg *config.Config, args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return sysexits.Wrap(sysexits.Usage, errors.New("usage: sendmail -bk domain [rsa|ed25519]"))
	}
	alg := msgauth.RSA
	if len(args) == 2 {
		alg = args[1]
	}
	line, made, err := msgauth.KeyRecord(cfg.DKIMKeys, args[0], alg)
	if err != nil {
		return err
	}
	if made {
		fmt.Fprintf(os.Stderr, "sendmail: made a new %s key; publish this record:\n", alg)
	}
	fmt.Println(line)
	return nil
}
