package mta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"unixmail/internal/iolimit"
	"unixmail/pkg/deliver"
	"unixmail/pkg/queue"
	"unixmail/pkg/sysexits"
	"unixmail/pkg/userdb"
)

// deliverUser delivers to one local user's mailbox: in this process when
// we run as the user already (a per-user or sandboxed MTA), which costs
// no fork; else, in a daemon, through a long-lived `deliver -l` running as
// the user; else through one run of deliver(8), which run as root drops
// to the user before it opens the mailbox.
func (m *MTA) deliverUser(ctx context.Context, e *queue.Entry, r *queue.Recipient) outcome {
	if u, err := m.Users.Lookup(r.Target); err == nil {
		if u.UID == os.Geteuid() {
			return m.mailboxes.deliver(ctx, m, e, r, u, u.Expand(m.Cfg.Mailbox))
		}
		if o, ok := m.viaChild(ctx, e, r, u); ok {
			return o
		}
		return m.runDeliver(ctx, e, r, u, u.Expand(m.Cfg.Mailbox))
	}
	return m.runDeliver(ctx, e, r, &userdb.User{Name: r.Target, UID: -1}, "")
}

// deliverFile appends to a file named in an alias or .forward with the
// same locking and safety checks as a mailbox, as the user named by Privs
// (who must own the file): in this process when we are that user, else,
// as root, through deliver(8) started as them, which needs no user
// database to find them.
func (m *MTA) deliverFile(ctx context.Context, e *queue.Entry, r *queue.Recipient) outcome {
	u, err := m.privsFor("file", r.Target, r.Privs)
	if err != nil {
		return privsFailure(err)
	}
	if u.UID == os.Geteuid() {
		return m.mailboxes.deliver(ctx, m, e, r, u, r.Target)
	}
	return m.runDeliver(ctx, e, r, u, r.Target)
}

// runDeliver runs deliver(8) for u into mailbox (a path, or "" for u's
// configured one when u is not known here: deliver then finds the user, or
// says there is none). Run as root for a user of another uid, deliver is
// started with that user's uid and gid itself and told the mailbox, which
// saves it starting a child of its own.
func (m *MTA) runDeliver(ctx context.Context, e *queue.Entry, r *queue.Recipient, u *userdb.User, mailbox string) outcome {
	sender := e.Env.Sender
	if sender == "" {
		sender = "<>"
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeLimit)
	defer cancel()
	var cmd *exec.Cmd
	if os.Geteuid() == 0 && u.UID > 0 && mailbox != "" {
		child := &deliver.Child{Exe: m.Deliver, Args: m.DeliverArgs, Caller: sender}
		cmd = child.Command(ctx, u, mailbox, "-f", sender, "-a", r.Addr)
	} else {
		args := append(append([]string{}, m.DeliverArgs...), "-f", sender, "-a", r.Addr)
		if mailbox != "" {
			// deliver expands % and ~ in -m: keep the path literal.
			args = append(args, "-m", strings.ReplaceAll(mailbox, "%", "%%"))
		}
		cmd = exec.CommandContext(ctx, m.Deliver, append(args, "--", u.Name)...)
	}
	cmd.Stdin = e.Message()
	var stderr bytes.Buffer
	cmd.Stderr = &iolimit.Writer{W: &stderr, N: 4096}
	err := cmd.Run()
	diag := strings.TrimSpace(stderr.String())
	return exitOutcome("local", err, diag, "delivered to mailbox")
}

// exitOutcome reads the sysexits contract: 0 done, 75 try again, any other
// failure a bounce; being killed (a timeout, a shutdown) is temporary.
func exitOutcome(relay string, err error, diag, okText string) outcome {
	if err == nil {
		return sent(relay, okText)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return deferred(relay, "4.3.0", fmt.Sprintf("cannot run: %v", err))
	}
	code := exit.ExitCode()
	if diag == "" {
		diag = fmt.Sprintf("exit status %d", code)
	}
	return codeOutcome(relay, code, diag)
}

// codeOutcome is the outcome of a failure with a sysexits code.
func codeOutcome(relay string, code int, diag string) outcome {
	switch code {
	case sysexits.TempFail, -1:
		return deferred(relay, "4.3.0", diag)
	case sysexits.NoUser:
		return bounced(relay, "5.1.1", diag)
	}
	return bounced(relay, "5.3.0", diag)
}

// deliverPipe runs an alias's or .forward's command through /bin/sh -c,
// the command text being the file's own; what comes from the message
// (sender, recipient) reaches the program only in its environment, never in
// the command line, so no shell ever parses it (CVE-2016-10033).
func (m *MTA) deliverPipe(ctx context.Context, e *queue.Entry, r *queue.Recipient) outcome {
	u, err := m.privsFor("command", r.Target, r.Privs)
	if err != nil {
		return privsFailure(err)
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", r.Target)
	cmd.Env = []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"SHELL=/bin/sh",
		"HOME=" + u.Home,
		"USER=" + u.Name,
		"LOGNAME=" + u.Name,
		"SENDER=" + e.Env.Sender,
		"RECIPIENT=" + r.Orig,
		"ORIGINAL_RECIPIENT=" + r.Orig,
	}
	cmd.Dir = u.Home
	if fi, err := os.Stat(u.Home); err != nil || !fi.IsDir() {
		cmd.Dir = "/"
	}
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
			Uid: uint32(u.UID), Gid: uint32(u.GID), Groups: []uint32{},
		}}
	}
	trace := fmt.Sprintf("Return-Path: <%s>\nDelivered-To: %s\n", e.Env.Sender, r.Orig)
	cmd.Stdin = io.MultiReader(strings.NewReader(trace), e.Message())
	var out bytes.Buffer
	cmd.Stdout = &iolimit.Writer{W: &out, N: 4096}
	cmd.Stderr = cmd.Stdout
	err = cmd.Run()
	diag := strings.TrimSpace(out.String())
	if err != nil && diag != "" {
		diag = "command " + r.Target + " failed: " + diag
	}
	return exitOutcome("local", err, diag, "delivered to command: "+r.Target)
}
