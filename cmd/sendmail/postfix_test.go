package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"unixmail/internal/sandbox"
)

// A private Postfix as the peer on either side of our MTA: it relays into
// our -bd, it receives what we relay, and its refusals come back to our
// sender as DSNs.

func TestPostfixRelayingToOurDaemonDeliversIntoOurMbox(t *testing.T) {
	py := sandbox.NeedPeer(t, "python3")
	sb := sandbox.New(t, "bob")
	d := sb.StartDaemon("")
	pf := sandbox.StartPostfix(t, sandbox.PostfixOptions{Relayhost: "[127.0.0.1]:" + d.Port()})
	inject := `
import smtplib, sys
from email.message import EmailMessage
m = EmailMessage()
m["From"] = "carol@postfix.example"; m["To"] = "bob@test.example"; m["Subject"] = "through postfix"
m.set_content("relayed by a real Postfix\n")
with smtplib.SMTP("127.0.0.1", int(sys.argv[1])) as s:
    s.send_message(m)
`
	if r := sandbox.RunCmd(t, exec.Command(py, "-c", inject, pf.Port()), ""); r.Code != 0 {
		t.Fatalf("python smtplib to postfix: %s", r.Stderr)
	}
	sb.WaitMail("bob", 1)
	// Then a second one through Postfix's own sendmail, after the first so
	// the order in the mailbox is known.
	if r := sandbox.RunCmd(t, pf.Sendmail("-t", "-i", "-f", "dave@postfix.example"),
		"To: bob@test.example\nSubject: postfix sendmail\n\n.\nsent by Postfix's sendmail\n"); r.Code != 0 {
		t.Fatalf("postfix's sendmail: %d %s", r.Code, r.Stderr)
	}
	mb := sb.WaitMail("bob", 2)
	read := `
import mailbox, sys
for m in mailbox.mbox(sys.argv[1]):
    print(m.get_from())
    print(m["Subject"], "|", m["Return-Path"], "|", m.get_payload().strip())
    print("\n".join(m.get_all("Received")))
`
	r := sandbox.RunCmd(t, exec.Command(py, "-c", read, sb.Mailbox("bob")), "")
	if r.Code != 0 {
		t.Fatalf("python mailbox: %s\n%s", r.Stderr, mb)
	}
	mustContain(t, "bob's mailbox read by python", r.Stdout,
		"carol@postfix.example ",
		"through postfix | <carol@postfix.example> | relayed by a real Postfix",
		"by postfix.example (Postfix)",
		"dave@postfix.example ",
		"postfix sendmail | <dave@postfix.example> | .\nsent by Postfix's sendmail")
	pf.WaitLog("to=<bob@test.example>, relay=127.0.0.1[127.0.0.1]:"+d.Port(), "status=sent (250")
}

// postfixFarSide is our sendmail relaying everything to a Postfix that
// delivers far.example's bob itself.
func postfixFarSide(t *testing.T) (near *sandbox.Sandbox, far *sandbox.Postfix) {
	far = sandbox.StartPostfix(t, sandbox.PostfixOptions{Domain: "far.example", Users: []string{"bob"}})
	near = sandbox.New(t, "alice")
	near.Set("relayhost", "[127.0.0.1]:"+far.Port(), "smtp_tls", "none")
	return near, far
}

func TestOurSendmailRelaysToARealPostfixThatDelivers(t *testing.T) {
	near, far := postfixFarSide(t)
	r := near.Run("To: Bob <bob@far.example>\nSubject: to postfix\n\nacross to a real Postfix\n", "sendmail", "-t", "-i")
	if r.Code != 0 {
		t.Fatalf("sendmail -t: %d %s", r.Code, r.Stderr)
	}
	mb := far.WaitMail("bob", 1)
	mustContain(t, "postfix's mbox for bob", mb, "From alice@test.example ", "Return-Path: <alice@test.example>",
		"Delivered-To: bob@far.example", "Subject: to postfix", "across to a real Postfix")
	mustContain(t, "our log", near.Log(), "to=<bob@far.example>, relay=127.0.0.1[127.0.0.1]:"+far.Port(), "status=sent (250 2.0.0")
	far.WaitLog("to=<bob@far.example>, relay=virtual", "status=sent (delivered to mailbox)")
}

func TestAnUnknownRecipientAtPostfixBouncesADSNThatPythonReads(t *testing.T) {
	py := sandbox.NeedPeer(t, "python3")
	near, far := postfixFarSide(t)
	if r := near.Run("To: nobody@far.example\nSubject: no such user\n\nx\n", "sendmail", "-t"); r.Code != 0 {
		t.Fatalf("sendmail -t: %d %s", r.Code, r.Stderr)
	}
	mb := near.WaitMail("alice", 1)
	script := `
import mailbox, sys
m = list(mailbox.mbox(sys.argv[1]))[-1]
assert m.get_content_type() == "multipart/report", m.get_content_type()
assert m.get_param("report-type") == "delivery-status", m.get_param("report-type")
status = [p for p in m.walk() if p.get_content_type() == "message/delivery-status"][0]
rcpt = status.get_payload()[1]
print(m["To"], "|", rcpt["Final-Recipient"], "|", rcpt["Action"], "|", rcpt["Status"])
print(rcpt["Diagnostic-Code"])
`
	r := sandbox.RunCmd(t, exec.Command(py, "-c", script, near.Mailbox("alice")), "")
	if r.Code != 0 {
		t.Fatalf("python email: %s\n%s", r.Stderr, mb)
	}
	mustContain(t, "the DSN read by python", r.Stdout,
		"alice@test.example", "| rfc822; nobody@far.example | failed | 5.1.1",
		"User unknown in virtual mailbox table")
	far.WaitLog("reject: RCPT from localhost[127.0.0.1]: 550 5.1.1 <nobody@far.example>")
}

// The same -t messages through Postfix's own sendmail reach the same
// people as through ours: the cases of TestDashTFindsRecipientsWherePostfixDoes
// are Postfix's behaviour, not only our reading of its source.
func TestPostfixSendmailDashTAgreesWithOurs(t *testing.T) {
	pf := sandbox.StartPostfix(t, sandbox.PostfixOptions{Hostname: "test.example", Domain: "test.example", Users: dashTUsers})
	cases := dashTCases()
	for i, c := range cases {
		cmd := pf.Sendmail(append([]string{"-t", "-i", "-f", "postmaster@test.example"}, c.args...)...)
		msg := fmt.Sprintf("%sSubject: case %d\n\nbody\n", c.header, i)
		if r := sandbox.RunCmd(t, cmd, msg); r.Code != 0 {
			t.Fatalf("postfix sendmail -t, %s: exit %d: %s", c.name, r.Code, r.Stderr)
		}
	}
	// Every wanted delivery made, then the queue empty: nothing more comes.
	for i, c := range cases {
		for _, u := range c.want {
			waitFor(t, fmt.Sprintf("case %d for %s", i, u), func() bool {
				b, _ := os.ReadFile(pf.Mailbox(u))
				return strings.Contains(string(b), fmt.Sprintf("Subject: case %d\n", i))
			})
		}
	}
	waitFor(t, "postfix's queue to empty", func() bool {
		out, _ := exec.Command(filepath.Join(filepath.Dir(pf.Sendmail().Path), "postqueue"), "-c", pf.Config, "-p").Output()
		return strings.HasPrefix(string(out), "Mail queue is empty")
	})
	boxes := map[string]string{}
	for _, u := range dashTUsers {
		b, _ := os.ReadFile(pf.Mailbox(u))
		boxes[u] = string(b)
	}
	for i, c := range cases {
		var got []string
		for _, u := range dashTUsers {
			if strings.Contains(boxes[u], fmt.Sprintf("Subject: case %d\n", i)) {
				got = append(got, u)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: postfix delivered to %v, ours to %v", c.name, got, c.want)
		}
	}
}

// waitFor polls cond for up to a minute; it waits for a peer, it does not
// time anything.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(time.Minute); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// Our mailq and Postfix's postqueue -p (long queue ids) lay a deferred
// message out alike: the same heading, the sender and recipients in the
// same column, the reason right-aligned, the same total line.
func TestMailqLayoutMatchesPostfixsPostqueue(t *testing.T) {
	down := "[" + strings.Replace(sandbox.FreePort(t), ":", "]:", 1)
	pf := sandbox.StartPostfix(t, sandbox.PostfixOptions{Relayhost: down, Main: []string{"enable_long_queue_ids = yes"}})
	if r := sandbox.RunCmd(t, pf.Sendmail("-f", "alice@test.example", "far@remote.example"), "Subject: x\n\nx\n"); r.Code != 0 {
		t.Fatalf("postfix sendmail: %d %s", r.Code, r.Stderr)
	}
	var theirs string
	waitFor(t, "postfix to defer the message", func() bool {
		out, _ := exec.Command(filepath.Join(filepath.Dir(pf.Sendmail().Path), "postqueue"), "-c", pf.Config, "-p").Output()
		theirs = string(out)
		// While qmgr moves it to deferred, showq can list the message
		// in both queues at once: wait for the one listing.
		return strings.Contains(theirs, "(") && strings.Contains(theirs, "in 1 Request.")
	})
	sb := sandbox.New(t)
	sb.Set("relayhost", down, "smtp_tls", "none")
	if r := sb.Run("Subject: x\n\nx\n", "sendmail", "far@remote.example"); r.Code != 0 {
		t.Fatalf("sendmail: %d %s", r.Code, r.Stderr)
	}
	ours := sb.Run("", "sendmail", "-bp").Stdout
	// Compare shapes: ids, sizes, dates and reason texts differ.
	shape := func(out string) []string {
		var s []string
		for _, l := range strings.Split(out, "\n") {
			switch {
			case strings.HasPrefix(l, "-"):
				s = append(s, regexp.MustCompile(`\d+`).ReplaceAllString(l, "N"))
			case strings.HasSuffix(l, ")"):
				s = append(s, fmt.Sprintf("reason ends at %d", len(l)))
			case strings.HasSuffix(l, "alice@test.example"), strings.HasSuffix(l, "far@remote.example"):
				s = append(s, fmt.Sprintf("address at %d", strings.LastIndex(l, " ")+1))
			default:
				s = append(s, l)
			}
		}
		return s
	}
	if a, b := shape(theirs), shape(ours); !slices.Equal(a, b) {
		t.Errorf("layouts differ:\npostfix:\n%s\nours:\n%s\n%q\n%q", theirs, ours, a, b)
	}
}
