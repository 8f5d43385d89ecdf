package mbox_test

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
)

// Readers give their buffers back when read to the end (or to ClientSize,
// as a FETCH reads): one taken up again must not show in another's bytes.
func TestClientContentIsTheSameHoweverReadersBeforeItWereRead(t *testing.T) {
	data, err := os.ReadFile(generated(t, 60))
	if err != nil {
		t.Fatal(err)
	}
	// A long line and a long message, past the buffers' sizes.
	data = append(data, "From a@example.org Mon Jan  1 00:00:00 2024\nSubject: long\n\n"+strings.Repeat("x", 100<<10)+"\n"+strings.Repeat("a line\n", 20000)+"\n"...)
	msgs := mustScan(t, data)
	ra := bytes.NewReader(data)
	want := make([][]byte, len(msgs))
	for i := range msgs {
		want[i], _ = io.ReadAll(msgs[i].ClientContent(ra))
		if m := &msgs[i].Message; m.ClientSize >= 0 && int64(len(want[i])) != m.ClientSize {
			t.Fatalf("message %d: %d bytes, ClientSize %d", i+1, len(want[i]), m.ClientSize)
		}
	}
	tests := []struct {
		name string
		read func(i int) []byte
	}{
		{"read to ClientSize", func(i int) []byte {
			got, _ := io.ReadAll(io.LimitReader(msgs[i].ClientContent(ra), msgs[i].ClientSize))
			return got
		}},
		{"another left half read", func(i int) []byte {
			r := msgs[(i+1)%len(msgs)].ClientContent(ra)
			io.CopyN(io.Discard, r, int64(len(want[(i+1)%len(msgs)])/2))
			got, _ := io.ReadAll(msgs[i].ClientContent(ra))
			io.Copy(io.Discard, r)
			return got
		}},
		{"read a byte at a time", func(i int) []byte {
			var b bytes.Buffer
			r, one := msgs[i].ClientContent(ra), make([]byte, 1)
			for {
				n, err := r.Read(one)
				b.Write(one[:n])
				if err != nil {
					return b.Bytes()
				}
			}
		}},
	}
	for _, tt := range tests {
		for i := range msgs {
			if got := tt.read(i); !bytes.Equal(got, want[i]) {
				t.Fatalf("%s: message %d differs (%d bytes, want %d)", tt.name, i+1, len(got), len(want[i]))
			}
		}
	}
}
