package throttle

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
)

func TestAcceptPausePassesOnlyAShortageOfResources(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"out of file descriptors", &net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.EMFILE)}, true},
		{"a timeout", &net.OpError{Op: "accept", Err: os.ErrDeadlineExceeded}, true},
		{"a closed listener", net.ErrClosed, false},
		{"anything else", errors.New("boom"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p AcceptPause
			logged := 0
			if got := p.Passes(tt.err, func(string, ...any) { logged++ }); got != tt.want || (logged == 1) != tt.want {
				t.Fatalf("Passes = %v, logged %d times; want %v", got, logged, tt.want)
			}
		})
	}
}
