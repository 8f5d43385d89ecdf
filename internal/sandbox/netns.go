package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
)

// Host is a network namespace standing for a machine of its own: its
// loopback, and one address on a link to the other host. Files are
// shared (as over NFS); the network is not.
type Host struct {
	NS   string // the namespace's name
	Addr string // its address on the link (10.x, inside the namespaces only)
}

var hostPairs atomic.Int32

// TwoHosts makes two namespaces joined by a veth pair, 10.212.0.1 (the
// first) and 10.212.0.2, each with its loopback up, and removes them when
// the test ends. The addresses exist only inside the two namespaces, so
// other tests' pairs may use them too. It needs root and ip(8).
func TwoHosts(t testing.TB, first, second string) (*Host, *Host) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to make network namespaces")
	}
	ip := NeedPeer(t, "ip")
	n := hostPairs.Add(1)
	tag := fmt.Sprintf("%d%d", os.Getpid()%100000, n)
	a := &Host{NS: "u12-" + tag + "-" + first, Addr: "10.212.0.1"}
	b := &Host{NS: "u12-" + tag + "-" + second, Addr: "10.212.0.2"}
	va, vb := "u12a"+tag, "u12b"+tag
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, h := range []*Host{a, b} {
		run("netns", "add", h.NS)
		t.Cleanup(func() { exec.Command(ip, "netns", "delete", h.NS).Run() })
	}
	run("link", "add", va, "netns", a.NS, "type", "veth", "peer", "name", vb, "netns", b.NS)
	for _, h := range []struct {
		host *Host
		dev  string
	}{{a, va}, {b, vb}} {
		run("-n", h.host.NS, "link", "set", "lo", "up")
		run("-n", h.host.NS, "addr", "add", h.host.Addr+"/24", "dev", h.dev)
		run("-n", h.host.NS, "link", "set", h.dev, "up")
	}
	return a, b
}

// In makes cmd run inside the host's network namespace.
func (h *Host) In(cmd *exec.Cmd) *exec.Cmd {
	ip, err := exec.LookPath("ip")
	if err != nil {
		ip = "/usr/sbin/ip"
	}
	cmd.Args = append([]string{ip, "netns", "exec", h.NS, cmd.Path}, cmd.Args[1:]...)
	cmd.Path = ip
	return cmd
}
