package throttle

import (
	"testing"
)

// A session hears the state when it joins and each change after, once;
// one that left hears nothing more.
func TestBusyBoardTellsEverySessionOfEachChange(t *testing.T) {
	var b BusyBoard
	r1, w1, err := b.Join()
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	b.Set(true)
	b.Set(true) // no change: nothing sent
	r2, w2, err := b.Join()
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	b.Set(false)
	b.Leave(w2)
	b.Set(true)
	b.Leave(w1)
	for _, tc := range []struct {
		name string
		r    interface{ Read([]byte) (int, error) }
		want string
	}{
		{"the first session", r1, "0101"},
		{"the session that joined while busy and left", r2, "10"},
	} {
		buf := make([]byte, 16)
		var got []byte
		for {
			n, err := tc.r.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		if string(got) != tc.want {
			t.Errorf("%s heard %q, want %q", tc.name, got, tc.want)
		}
	}
}
