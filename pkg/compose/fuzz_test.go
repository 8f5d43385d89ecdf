package compose

import (
	"bufio"
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"
)

// FuzzBuildNeverInjects checks that whatever the user types as subject,
// address or extra header, Build either refuses it or writes exactly the
// fields it was asked for and the body unchanged.
func FuzzBuildNeverInjects(f *testing.F) {
	f.Add("Grüße aus Köln", "Jürgen Müller <j@example.de>", "<a@b>", "hello\n")
	f.Add("x\nBcc: v@example.com", "bob", "<a@b>\r\nX: y", "")
	f.Add(strings.Repeat("long ", 100), `"Müller, J" <j@x>, k@y`, "", "\x00\r\n.\n")
	f.Fuzz(func(t *testing.T, subject, to, ref, body string) {
		var out bytes.Buffer
		err := Build(&out, &Message{
			From: "me@example.org", To: []string{to}, Subject: subject,
			Headers: [][2]string{{"References", ref}}, Body: []byte(body), Hostname: "example.org",
		})
		if errors.Is(err, ErrHeaderInjection) {
			return
		}
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		br := bufio.NewReader(bytes.NewReader(out.Bytes()))
		h, err := textproto.ReadHeader(br)
		if err != nil {
			t.Fatalf("output header does not parse: %v\n%s", err, out.Bytes())
		}
		var names []string
		for fs := h.Fields(); fs.Next(); {
			names = append(names, strings.ToLower(fs.Key()))
		}
		want := []string{"date", "message-id", "from"}
		if strings.TrimSpace(to) != "" {
			want = append(want, "to")
		}
		if subject != "" {
			want = append(want, "subject")
		}
		want = append(want, "references", "mime-version", "content-type", "content-transfer-encoding")
		if !slices.Equal(names, want) {
			t.Fatalf("fields %v, want %v:\n%s", names, want, out.Bytes())
		}
	})
}
