package dsn

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
)

func TestWriteMakesAMultipartReportWithOneBlockPerRecipient(t *testing.T) {
	var b bytes.Buffer
	when := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	err := Write(&b, &Report{
		ReportingMTA: "mx.example", QueueID: "ABCDEF012345", From: "MAILER-DAEMON@mx.example", To: "alice@mx.example",
		EnvID: "env1", Arrival: when, Date: when, MessageID: "<x@mx.example>",
		Rcpts: []Recipient{
			{Addr: "bob@far.example", Action: "failed", Status: "5.1.1", Remote: "far.example[192.0.2.1]:25", Diag: "550 5.1.1 no such\n user"},
			{Addr: "carol@mx.example", Orig: "team@mx.example", Action: "failed", Status: "5.4.6", Diag: "loop"},
		},
		Original: strings.NewReader("Subject: original\r\nFrom: alice\r\n\r\nsecret body\r\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	e, err := message.Read(&b)
	if err != nil {
		t.Fatal(err)
	}
	ct, params, _ := e.Header.ContentType()
	if ct != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("content type %s %v", ct, params)
	}
	mr := e.MultipartReader()
	var types []string
	var texts []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := p.Header.ContentType()
		types = append(types, ct)
		body, _ := io.ReadAll(p.Body)
		texts = append(texts, string(body))
	}
	if strings.Join(types, ",") != "text/plain,message/delivery-status,text/rfc822-headers" {
		t.Fatalf("parts %v", types)
	}
	for _, want := range []string{"Reporting-MTA: dns; mx.example", "Original-Envelope-Id: env1", "Final-Recipient: rfc822; bob@far.example",
		"Status: 5.1.1", "Remote-MTA: dns; far.example[192.0.2.1]:25", "Diagnostic-Code: smtp; 550 5.1.1 no such user",
		"Original-Recipient: rfc822; team@mx.example", "Diagnostic-Code: x-unix; loop"} {
		if !strings.Contains(texts[1], want) {
			t.Errorf("delivery-status lacks %q:\n%s", want, texts[1])
		}
	}
	if !strings.Contains(texts[2], "Subject: original") || strings.Contains(texts[2], "secret body") {
		t.Errorf("headers part:\n%s", texts[2])
	}
}
