package sandbox

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// DNS is a private dnsmasq serving test zones on a loopback address.
type DNS struct {
	Addr string // ADDRESS:PORT, for dns_resolver
	conf string
	t    testing.TB
}

// DNSRecords are the names a DNS serves: TXT records (each a list of
// strings that make one record), MX records ("host,preference") and
// addresses. Names under TempFail get SERVFAIL, a DNS temperror.
type DNSRecords struct {
	TXT      map[string][]string
	MX       map[string][]string
	A        map[string]string
	TempFail []string
	// Zones are answered from the records alone: a name in them that has
	// no record does not exist (NXDOMAIN), as from its real servers.
	Zones []string
}

// StartDNS runs dnsmasq (Debian's dnsmasq-base) on 127.0.0.1 with a free
// port, serving recs and nothing else: no upstream, no /etc/hosts. It is
// stopped at the end of the test.
func StartDNS(t testing.TB, recs DNSRecords) *DNS {
	t.Helper()
	bin := NeedPeer(t, "dnsmasq")
	if !filepath.IsAbs(bin) {
		t.Fatalf("dnsmasq at %q", bin)
	}
	dir := t.TempDir()
	d := &DNS{conf: filepath.Join(dir, "dnsmasq.conf"), t: t}
	port := freeUDPAndTCPPort(t)
	d.Addr = net.JoinHostPort("127.0.0.1", port)
	var lines []string
	lines = append(lines, "no-resolv", "no-hosts", "no-poll", "bind-interfaces",
		"listen-address=127.0.0.1", "port="+port, "pid-file=", "user=root", "group=root",
		"log-facility="+filepath.Join(dir, "dnsmasq.log"), "log-queries", "cache-size=0")
	for _, z := range recs.Zones {
		lines = append(lines, "local=/"+z+"/")
	}
	if len(recs.TempFail) > 0 {
		up := serveServFail(t)
		for _, n := range recs.TempFail {
			lines = append(lines, "server=/"+n+"/"+strings.Replace(up, ":", "#", 1))
		}
	}
	for name, strs := range recs.TXT {
		q := make([]string, len(strs))
		for i, s := range strs {
			q[i] = strconv.Quote(s)
		}
		lines = append(lines, "txt-record="+name+","+strings.Join(q, ","))
	}
	for name, mxs := range recs.MX {
		for _, mx := range mxs {
			lines = append(lines, "mx-host="+name+","+mx)
		}
	}
	for name, a := range recs.A {
		lines = append(lines, "host-record="+name+","+a)
	}
	if err := os.WriteFile(d.conf, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-k", "--conf-file="+d.conf)
	out, err := os.Create(filepath.Join(dir, "dnsmasq.out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dnsmasq: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		out.Close()
	})
	deadline := time.Now().Add(time.Minute)
	for {
		if c, err := net.Dial("tcp", d.Addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(out.Name())
			t.Fatalf("dnsmasq does not listen on %s:\n%s", d.Addr, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return d
}

// Log is what dnsmasq logged, queries included.
func (d *DNS) Log() string {
	b, _ := os.ReadFile(filepath.Join(filepath.Dir(d.conf), "dnsmasq.log"))
	return string(b)
}

// freeUDPAndTCPPort finds a loopback port free for both protocols.
func freeUDPAndTCPPort(t testing.TB) string {
	t.Helper()
	for range 50 {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := strconv.Itoa(u.LocalAddr().(*net.UDPAddr).Port)
		l, err := net.Listen("tcp", "127.0.0.1:"+port)
		u.Close()
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no free port for UDP and TCP")
	return ""
}

// serveServFail answers every DNS query with SERVFAIL: the upstream
// dnsmasq forwards the TempFail names to, so that it passes the failure
// on, as a broken authoritative server would make it do.
func serveServFail(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 12 {
				continue
			}
			buf[2] |= 0x80                     // QR: a response
			buf[3] = buf[3]&0x70 | 0x80 | 0x02 // RA, RCODE SERVFAIL
			pc.WriteTo(buf[:n], from)
		}
	}()
	return fmt.Sprint(pc.LocalAddr())
}
