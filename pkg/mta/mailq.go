package mta

import (
	"fmt"
	"io"
)

// PrintQueue writes the queue as Postfix's postqueue -p (mailq) does: id
// ("*" when being delivered, "!" when still in maildrop), size, arrival,
// sender, then the last error and the recipients still pending.
func (m *MTA) PrintQueue(w io.Writer) error {
	list, err := m.Queue.List()
	if err != nil {
		return err
	}
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "Mail queue is empty")
		return err
	}
	fmt.Fprintf(w, "%-12s %8s %-20s %s\n", "-Queue ID-", "--Size--", "----Arrival Time----", "-Sender/Recipient-------")
	var total int64
	for _, l := range list {
		env := l.Env
		mark := " "
		switch {
		case l.Active:
			mark = "*"
		case l.Drop:
			mark = "!"
		}
		sender := env.Sender
		if sender == "" {
			sender = "MAILER-DAEMON"
		}
		fmt.Fprintf(w, "%-12s%s%8d %-20s %s\n", env.ID, mark, env.Size, env.Arrival.Local().Format("Mon Jan _2 15:04:05"), sender)
		lastErr := ""
		for _, i := range env.Pending() {
			r := env.Rcpts[i]
			if r.Diag != "" && r.Diag != lastErr {
				lastErr = r.Diag
				fmt.Fprintf(w, "%43s(%s)\n", "", oneLine(r.Diag))
			}
			fmt.Fprintf(w, "%43s%s\n", "", r.Addr)
		}
		fmt.Fprintln(w)
		total += env.Size
	}
	n := len(list)
	word := "Requests"
	if n == 1 {
		word = "Request"
	}
	_, err = fmt.Fprintf(w, "-- %d Kbytes in %d %s.\n", (total+1023)/1024, n, word)
	return err
}
