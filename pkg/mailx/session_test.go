package mailx

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// TestCtrlCReaderErasesTheLineThenInterrupts: the bytes before a ^C pass,
// the ^C becomes ^E ^U, the next Read reports the interrupt, and what came
// after the ^C follows.
func TestCtrlCReaderErasesTheLineThenInterrupts(t *testing.T) {
	c := &ctrlCReader{r: strings.NewReader("abc\x03def\x03")}
	var got []string
	buf := make([]byte, 16)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			got = append(got, string(buf[:n]))
		}
		if errors.Is(err, errInterrupted) {
			got = append(got, "INT")
		} else if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"abc\x05\x15", "INT", "def\x05\x15", "INT"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
}
