// Package dsn writes delivery status notifications, the bounces of RFC 3464:
// a multipart/report (RFC 6522) with report-type=delivery-status holding a
// human-readable part, a message/delivery-status part with one block per
// failed recipient (RFC 3463 status codes, RFC 3461 ENVID and ORCPT), and the
// original message's header as text/rfc822-headers.
package dsn

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"
)

// Recipient is one failed (or delayed) recipient.
type Recipient struct {
	Addr   string // Final-Recipient
	Orig   string // Original-Recipient, "" if same
	Action string // "failed" or "delayed"
	Status string // RFC 3463, e.g. 5.1.1
	Remote string // Remote-MTA, "" for local
	Diag   string // the reply or error text
}

// Report is what goes into one bounce.
type Report struct {
	ReportingMTA string // our hostname
	QueueID      string
	From         string // the bounce's From: address, e.g. MAILER-DAEMON@host
	To           string // the envelope sender we report to
	EnvID        string
	Arrival      time.Time
	Date         time.Time
	MessageID    string
	Rcpts        []Recipient
	Original     io.Reader // the original message; only its header is used
}

// Write writes the bounce message (CRLF-free, LF lines; the queue and SMTP
// client fix line ends).
func Write(w io.Writer, r *Report) error {
	boundary := r.QueueID + "." + fmt.Sprint(r.Date.Unix()) + "/" + r.ReportingMTA
	var b bytes.Buffer
	subject := "Undelivered Mail Returned to Sender"
	if len(r.Rcpts) > 0 && r.Rcpts[0].Action == "delayed" {
		subject = "Delayed Mail (still being retried)"
	}
	fmt.Fprintf(&b, "From: Mail Delivery System <%s>\n", r.From)
	fmt.Fprintf(&b, "To: <%s>\n", r.To)
	fmt.Fprintf(&b, "Subject: %s\n", subject)
	fmt.Fprintf(&b, "Date: %s\n", r.Date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: %s\n", r.MessageID)
	fmt.Fprintf(&b, "Auto-Submitted: auto-replied\n")
	fmt.Fprintf(&b, "MIME-Version: 1.0\n")
	fmt.Fprintf(&b, "Content-Type: multipart/report; report-type=delivery-status;\n\tboundary=\"%s\"\n", boundary)
	fmt.Fprintf(&b, "\nThis is a MIME-encapsulated message.\n\n")

	fmt.Fprintf(&b, "--%s\nContent-Description: Notification\nContent-Type: text/plain; charset=utf-8\n\n", boundary)
	fmt.Fprintf(&b, "This is the mail system at host %s.\n\n", r.ReportingMTA)
	fmt.Fprintf(&b, "I'm sorry to have to inform you that your message could not\nbe delivered to one or more recipients. It's attached below.\n\n")
	for _, rc := range r.Rcpts {
		fmt.Fprintf(&b, "<%s>: %s\n", rc.Addr, oneLine(rc.Diag))
	}

	fmt.Fprintf(&b, "\n--%s\nContent-Description: Delivery report\nContent-Type: message/delivery-status\n\n", boundary)
	fmt.Fprintf(&b, "Reporting-MTA: dns; %s\n", r.ReportingMTA)
	fmt.Fprintf(&b, "X-Unixmail-Queue-ID: %s\n", r.QueueID)
	if r.EnvID != "" {
		fmt.Fprintf(&b, "Original-Envelope-Id: %s\n", oneLine(r.EnvID))
	}
	fmt.Fprintf(&b, "Arrival-Date: %s\n", r.Arrival.Format(time.RFC1123Z))
	for _, rc := range r.Rcpts {
		fmt.Fprintf(&b, "\nFinal-Recipient: rfc822; %s\n", rc.Addr)
		if rc.Orig != "" && rc.Orig != rc.Addr {
			fmt.Fprintf(&b, "Original-Recipient: rfc822; %s\n", rc.Orig)
		}
		fmt.Fprintf(&b, "Action: %s\nStatus: %s\n", rc.Action, rc.Status)
		if rc.Remote != "" {
			fmt.Fprintf(&b, "Remote-MTA: dns; %s\n", rc.Remote)
		}
		diagType := "x-unix"
		if rc.Remote != "" {
			diagType = "smtp"
		}
		fmt.Fprintf(&b, "Diagnostic-Code: %s; %s\n", diagType, oneLine(rc.Diag))
	}

	fmt.Fprintf(&b, "\n--%s\nContent-Description: Undelivered Message Headers\nContent-Type: text/rfc822-headers\n\n", boundary)
	if r.Original != nil {
		if err := copyHeader(&b, r.Original); err != nil {
			return err
		}
	}
	fmt.Fprintf(&b, "\n--%s--\n", boundary)
	_, err := w.Write(b.Bytes())
	return err
}

// oneLine keeps a diagnostic on one header line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// copyHeader copies the header block of msg (up to the first empty line),
// with LF line ends.
func copyHeader(w io.Writer, msg io.Reader) error {
	br := bufio.NewReader(msg)
	for {
		line, err := br.ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return nil
		}
		if _, werr := io.WriteString(w, line+"\n"); werr != nil {
			return werr
		}
		if err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("dsn: read original: %w", err)
		}
	}
}
