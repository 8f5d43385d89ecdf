package deliver

import (
	"io"
	"strings"
	"testing"

	"unixmail/pkg/mbox"
)

func stored(t *testing.T, input string) (*Incoming, string) {
	t.Helper()
	in, err := ReadIncoming(strings.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(in.content("s@x", "u@h"))
	if err != nil {
		t.Fatal(err)
	}
	return in, string(b)
}

func TestReadIncomingPreparesTheStoredMessagePaddedForItsFlags(t *testing.T) {
	top := "Return-Path: <s@x>\nDelivered-To: u@h\n"
	pad := mbox.Padding()
	tests := []struct {
		name, input, want, sender string
	}{
		{"plain", "Subject: hi\n\nbody\n", top + "Subject: hi\n" + pad + "\nbody\n", ""},
		{"crlf header", "Subject: hi\r\nTo: a\r\n\r\nbody\r\n", top + "Subject: hi\nTo: a\n" + pad + "\nbody\r\n", ""},
		{"state headers stripped in any case", "STATUS: RO\nx-status: D\nX-Keywords: a\nX-UID: 3\nx-imapbase: 1 2\nX-IMAP: 1 2\ncontent-length: 9\nSubject: s\n\nb\n", top + "Subject: s\n" + pad + "\nb\n", ""},
		{"folded state header stripped whole", "X-Keywords: a\n b\n\tc\nSubject: s\n folded\n\nb\n", top + "Subject: s\n folded\n" + pad + "\nb\n", ""},
		{"state header in the body kept", "Subject: s\n\nStatus: RO\n", top + "Subject: s\n" + pad + "\nStatus: RO\n", ""},
		{"leading From_ line names the sender", "From bounce@list.example Wed Nov 25 17:24:14 2026\nSubject: s\n\nb\n", top + "Subject: s\n" + pad + "\nb\n", "bounce@list.example"},
		{"From_ line without a date", "From someone\nSubject: s\n\nb\n", top + "Subject: s\n" + pad + "\nb\n", "someone"},
		{"no header at all", "just a body line\nand another\n", top + pad + "\njust a body line\nand another\n", ""},
		{"header without blank line or body", "Subject: s", top + "Subject: s\n" + pad, ""},
		{"empty input", "", top + pad, ""},
		{"header ends at a non-field line", "Subject: s\nnot a field\nmore\n", top + "Subject: s\n" + pad + "\nnot a field\nmore\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, got := stored(t, tt.input)
			if got != tt.want {
				t.Errorf("stored\n%q\nwant\n%q", got, tt.want)
			}
			if in.FromSender != tt.sender {
				t.Errorf("sender %q, want %q", in.FromSender, tt.sender)
			}
		})
	}
}

func TestHeaderValuesWeAddCannotBreakOutOfTheirLine(t *testing.T) {
	in, _ := ReadIncoming(strings.NewReader("Subject: s\n\nb\n"))
	b, _ := io.ReadAll(in.content("a@b\nX-Evil: 1", "u@h\r\nBcc: x"))
	if strings.Contains(string(b), "\nX-Evil") || strings.Contains(string(b), "\nBcc") {
		t.Fatalf("injected header:\n%s", b)
	}
}

func TestAHugeHeaderLineIsKeptWhole(t *testing.T) {
	long := "X-Long: " + strings.Repeat("y", 300000) + "\n"
	_, got := stored(t, long+"\nbody\n")
	if !strings.Contains(got, long) {
		t.Fatal("the long header line was cut")
	}
}

func FuzzReadIncoming(f *testing.F) {
	for _, s := range []string{"Subject: a\n\nb\n", "From x Wed Nov 25 17:24:14 2026\nStatus: R\n\n", "a\r\n\r\n", "X-UID: 1\n x\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		in, err := ReadIncoming(strings.NewReader(input))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(in.content("s", "u"))
		if err != nil {
			t.Fatal(err)
		}
		// No state header of the sender's may survive at the top of the
		// stored header: the one there is our empty padding.
		head, _, _ := strings.Cut(string(b), "\n\n")
		head, ok := strings.CutSuffix(strings.TrimRight(head, "\n")+"\n", mbox.Padding())
		if !ok {
			t.Fatalf("no padding at the end of the header in %q", b)
		}
		for _, line := range strings.Split(head, "\n") {
			name, _, ok := strings.Cut(line, ":")
			if ok && !strings.ContainsAny(name, " \t") && isState(name) {
				t.Fatalf("state header %q kept in %q", name, b)
			}
		}
	})
}

func isState(name string) bool {
	switch strings.ToLower(name) {
	case "status", "x-status", "x-keywords", "x-uid", "x-imap", "x-imapbase", "content-length":
		return true
	}
	return false
}
