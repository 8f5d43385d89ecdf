package e2e

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"unixmail/internal/sandbox"
)

// TestImapdUnitsInDistServeIMAP starts imapd the ways dist/ describes for
// it (the systemd socket and service, the xinetd service) and reads its
// greeting. ipop3d's are exercised by cmd/ipop3d's client tests.
func TestImapdUnitsInDistServeIMAP(t *testing.T) {
	starts := []struct {
		name  string
		start func(s *sandbox.Sandbox) string
	}{
		{"systemd", func(s *sandbox.Sandbox) string { return s.UnderSystemd("imapd") }},
		{"xinetd", func(s *sandbox.Sandbox) string { return s.UnderXinetd("imapd") }},
	}
	for _, st := range starts {
		t.Run(st.name, func(t *testing.T) {
			s := sandbox.New(t)
			c, err := net.Dial("tcp", st.start(s))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			greeting, _ := bufio.NewReader(c).ReadString('\n')
			if !strings.HasPrefix(greeting, "* OK") {
				t.Errorf("greeting %q; log:\n%s", greeting, s.Log())
			}
		})
	}
}
