package stdioconn

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
)

// listenFD is where systemd's socket activation (sd_listen_fds(3)) puts
// the first socket it passes.
const listenFD = 3

// Inherited is the listening socket a process was started with, or nil:
// systemd's (LISTEN_FDS=1 on fd 3, LISTEN_PID ours or, for a parent that
// cannot know its child's pid before starting it, unset), else standard
// input when it is a listening socket (inetd's wait mode). LISTEN_FDS and
// LISTEN_PID are removed from the environment, so that our own children
// do not take the socket for theirs.
func Inherited() (net.Listener, error) {
	fds, pid := os.Getenv("LISTEN_FDS"), os.Getenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDNAMES")
	fd := -1
	switch {
	case fds != "" && (pid == "" || pid == strconv.Itoa(os.Getpid())):
		if fds != "1" {
			return nil, fmt.Errorf("LISTEN_FDS=%s: only one socket is served", fds)
		}
		fd = listenFD
	case isListening(0):
		fd = 0
	default:
		return nil, nil
	}
	if !isListening(fd) {
		return nil, fmt.Errorf("file descriptor %d is not a listening socket", fd)
	}
	syscall.CloseOnExec(fd)
	f := os.NewFile(uintptr(fd), "listener")
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("inherited socket: %w", err)
	}
	return ln, nil
}

func isListening(fd int) bool {
	v, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN)
	return err == nil && v == 1
}
