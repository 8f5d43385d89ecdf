// Package mboxgen writes big, realistic mbox files from a seed, for
// benchmarks: plain text, quoted-printable and RFC 2047 subjects, about 15%
// multipart messages with base64 attachments, body lines that needed
// ">From " quoting, and one message with a 10,000-character header field.
package mboxgen

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand"
	"strings"
	"time"

	"unixmail/pkg/mbox"
)

// Options size the mailbox.
type Options struct {
	Messages int   // how many messages
	AvgSize  int   // average message size in bytes
	Seed     int64 // same seed, same file
}

var words = strings.Fields(`the quick brown fox jumps over lazy dog mail server queue
deliver message header body line report meeting tomorrow please review attached
draft budget schedule project update thanks regards from subject reply forward
Grüße Köln naïve café über straße`)

// Write writes the mailbox to w and returns its size.
func Write(w io.Writer, o Options) (int64, error) {
	rng := rand.New(rand.NewSource(o.Seed))
	bw := bufio.NewWriterSize(w, 1<<20)
	var total int64
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < o.Messages; i++ {
		msg := message(rng, i, o)
		from := mbox.FromLine(fmt.Sprintf("user%d@example.org", rng.Intn(500)), start.Add(time.Duration(i)*time.Minute))
		n, err := mbox.WriteMessage(bw, from, strings.NewReader(msg))
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, bw.Flush()
}

func sentence(rng *rand.Rand, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[rng.Intn(len(words))])
	}
	return b.String()
}

func message(rng *rand.Rand, i int, o Options) string {
	var b strings.Builder
	subject := sentence(rng, 3+rng.Intn(6))
	if rng.Intn(5) == 0 {
		subject = "=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte(subject)) + "?="
	}
	fmt.Fprintf(&b, "From: User %d <user%d@example.org>\nTo: bob@example.net\n", i%500, i%500)
	fmt.Fprintf(&b, "Subject: %s\nDate: %s\nMessage-ID: <%d.%d@example.org>\n", subject,
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i)*time.Minute).Format(time.RFC1123Z), i, rng.Int63())
	if i == o.Messages/2 {
		fmt.Fprintf(&b, "X-Long: %s\n", strings.Repeat("x", 10000))
	}
	target := o.AvgSize/2 + rng.Intn(o.AvgSize+1)
	switch r := rng.Intn(100); {
	case r < 15:
		boundary := fmt.Sprintf("b%d", rng.Int63())
		fmt.Fprintf(&b, "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=%q\n\n--%s\nContent-Type: text/plain; charset=utf-8\n\n%s\n--%s\n", boundary, boundary, sentence(rng, 40), boundary)
		fmt.Fprintf(&b, "Content-Type: application/octet-stream; name=\"file%d.bin\"\nContent-Transfer-Encoding: base64\n\n", i)
		raw := make([]byte, target*3/4)
		rng.Read(raw)
		enc := base64.StdEncoding.EncodeToString(raw)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\n")
			enc = enc[76:]
		}
		fmt.Fprintf(&b, "%s\n--%s--\n", enc, boundary)
	case r < 35:
		b.WriteString("MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n")
		for b.Len() < target {
			b.WriteString(strings.ReplaceAll(sentence(rng, 10), "ü", "=C3=BC") + "=\n" + sentence(rng, 5) + "\n")
		}
	default:
		b.WriteString("\n")
		for b.Len() < target {
			if rng.Intn(40) == 0 {
				b.WriteString("From the desk of user " + fmt.Sprint(i) + "\n")
			}
			b.WriteString(sentence(rng, 12) + "\n")
		}
	}
	return b.String()
}
