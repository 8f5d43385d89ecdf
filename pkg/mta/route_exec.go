package mta

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"

	"unixmail/internal/iolimit"
	"unixmail/pkg/deliver"
	"unixmail/pkg/queue"
	"unixmail/pkg/userdb"
)

// execDeliver runs deliver(8) once per recipient: the way for a user we
// do not know (deliver finds it, or says there is none), and for a run of
// sendmail that keeps no children.
type execDeliver struct{ m *MTA }

func (x execDeliver) deliver(ctx context.Context, e *queue.Entry, rcpts []localRcpt) []outcome {
	out := make([]outcome, len(rcpts))
	for j, lr := range rcpts {
		u, mailbox := lr.u, ""
		if u == nil {
			u = &userdb.User{Name: lr.r.Target, UID: -1}
		} else {
			mailbox = u.Expand(x.m.Cfg.Mailbox)
		}
		out[j] = x.m.runDeliver(ctx, e, lr.r, u, mailbox)
	}
	return out
}

// runDeliver runs deliver(8) for u into mailbox (a path, or "" for u's
// configured one when u is not known here: deliver then finds the user, or
// says there is none). Run as root for a user of another uid, deliver is
// started with that user's uid and gid itself and told the mailbox, which
// saves it looking anything up.
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
		deliver.PrepareSpool(mailbox, u)
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
	if err == nil && diag != "" {
		// A warning deliver's child had for the administrator (a journal
		// beside the mailbox set aside): its log is ours.
		m.Log.Warn("%s: to=<%s>: %s", e.Env.ID, r.Addr, diag)
	}
	return exitOutcome("local", err, diag, "delivered to mailbox")
}
