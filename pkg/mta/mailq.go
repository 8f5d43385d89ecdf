package mta

import (
	"fmt"
	"io"
)

// Postfix's postqueue -p layout for long queue ids (ours are 12
// characters, too wide for its short-id columns): id with its status
// mark, size, arrival (asctime cut to 19 characters), sender; recipients
// under the sender column.
const (
	mailqColumns = "%-17s %8s %-19s %s\n"
	mailqSender  = "%-17s %8d %19.19s %s\n"
)

// printQueue writes the queue as Postfix's postqueue -p (mailq) does: a
// heading, then per message the id ("*" after it when a runner is
// delivering it), size, arrival and sender, and the recipients still
// pending, each run of recipients with one reason preceded by the reason
// in parentheses, right-aligned; messages are separated by a blank line
// and a total ends the list, in whole kilobytes rounded down as Postfix
// rounds them.
func (m *MTA) printQueue(w io.Writer) error {
	list, err := m.Queue.List()
	if err != nil {
		return err
	}
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "Mail queue is empty")
		return err
	}
	fmt.Fprintf(w, mailqColumns, "----Queue ID-----", "--Size--", "---Arrival Time----", "--Sender/Recipient------")
	var total int64
	for n, l := range list {
		env := l.Env
		if n > 0 {
			fmt.Fprintln(w)
		}
		mark := " "
		if l.Active {
			mark = "*"
		}
		sender := env.Sender
		if sender == "" {
			sender = "MAILER-DAEMON"
		}
		fmt.Fprintf(w, mailqSender, env.ID+mark, env.Size, env.Arrival.Local().Format("Mon Jan _2 15:04:05"), sender)
		reason := ""
		for _, i := range env.Pending() {
			r := env.Rcpts[i]
			if why := oneLine(r.Diag); why != reason {
				reason = why
				if why == "" {
					why = "reason unavailable"
				}
				fmt.Fprintf(w, "%*s(%s)\n", max(76-len(why), 0), "", why)
			}
			fmt.Fprintf(w, mailqColumns, "", "", "", r.Addr)
		}
		total += env.Size
	}
	word := "Requests"
	if len(list) == 1 {
		word = "Request"
	}
	_, err = fmt.Fprintf(w, "\n-- %d Kbytes in %d %s.\n", total/1024, len(list), word)
	return err
}
