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
	"unixmail/pkg/queue"
	"unixmail/pkg/sysexits"
	"unixmail/pkg/userdb"
)

// A localRoute is one way of putting a message into local users'
// mailboxes; deliverLocal picks one for each recipient, and each route is
// whole in its own file: the LMTP server of mailbox_transport
// (route_lmtp.go), this process when it runs as the mailbox's owner
// (route_inprocess.go), a kept `deliver -l` child per user in a daemon run
// as root (route_child.go), one run of deliver(8) per recipient
// (route_exec.go).
type localRoute interface {
	deliver(ctx context.Context, e *queue.Entry, rcpts []localRcpt) []outcome
}

// localRcpt is a recipient with its user, nil when our user database does
// not know it.
type localRcpt struct {
	r *queue.Recipient
	u *userdb.User
}

// deliverLocal delivers e to its local-mailbox recipients idx, each route
// taking its recipients at once, and returns their outcomes in order.
func (m *MTA) deliverLocal(ctx context.Context, e *queue.Entry, idx []int) []outcome {
	var routes []localRoute
	byRoute := map[localRoute][]int{} // positions in idx
	rcpts := make([]localRcpt, len(idx))
	for j, i := range idx {
		rcpts[j] = localRcpt{r: &e.Env.Rcpts[i]}
		rt := m.routeFor(&rcpts[j])
		if _, ok := byRoute[rt]; !ok {
			routes = append(routes, rt)
		}
		byRoute[rt] = append(byRoute[rt], j)
	}
	out := make([]outcome, len(idx))
	for _, rt := range routes {
		pos := byRoute[rt]
		some := make([]localRcpt, len(pos))
		for k, j := range pos {
			some[k] = rcpts[j]
		}
		for k, o := range rt.deliver(ctx, e, some) {
			out[pos[k]] = o
		}
	}
	return out
}

// routeFor picks the cheapest route that keeps root from writing a
// user's mailbox, and finds lr's user for it.
func (m *MTA) routeFor(lr *localRcpt) localRoute {
	if m.Cfg.MailboxTransport != "" {
		return lmtpTransport{m: m, relay: strings.TrimPrefix(m.Cfg.MailboxTransport, "lmtp:")}
	}
	lr.u = m.localUser(lr.r)
	u := lr.u
	switch {
	case u == nil:
		return execDeliver{m}
	case u.UID == os.Geteuid():
		return inProcess{m}
	case m.children.kept():
		return perUserChild{m}
	}
	return execDeliver{m}
}

// localUser is r's user, or nil when our user database does not know it.
func (m *MTA) localUser(r *queue.Recipient) *userdb.User {
	u, err := m.Users.Lookup(r.Target)
	if err != nil {
		return nil
	}
	return u
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
		return inProcess{m}.deliverTo(ctx, e, r, u, r.Target)
	}
	return m.runDeliver(ctx, e, r, u, r.Target)
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
