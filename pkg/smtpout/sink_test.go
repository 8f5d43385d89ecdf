package smtpout

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"unixmail/internal/sandbox"
)

// startSmtpSink runs Postfix's smtp-sink on a free loopback port, dumping
// each transaction into dir, with extra flags.
func startSmtpSink(t *testing.T, dir string, flags ...string) int {
	t.Helper()
	bin, err := exec.LookPath("smtp-sink")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("smtp-sink (Debian package postfix) is not installed")
		}
		t.Skip("smtp-sink (Debian package postfix) is not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	args := append(append(sandbox.SmtpSinkUser(), "-h", "sink.example", "-d", filepath.Join(dir, "%M%S.")), flags...)
	cmd := exec.Command(bin, append(args, "127.0.0.1:"+strconv.Itoa(port), "10")...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for range 500 {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			c.Close()
			return port
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("smtp-sink did not start listening")
	return 0
}

func TestPostfixSmtpSinkReceivesWhatWeSend(t *testing.T) {
	dir := t.TempDir()
	port := startSmtpSink(t, dir)
	o := Options{Helo: "out.example", Relayhost: "[127.0.0.1]:" + strconv.Itoa(port), TLS: "opportunistic", Timeout: time.Minute}
	res := Deliver(context.Background(), o, "dest.example", "alice@src.example",
		[]string{"bob@dest.example", "carol@dest.example"}, message("Subject: to postfix\n\n.leading dot\nbody\n"))
	for _, r := range res {
		if r.Code != 250 || r.Temporary || r.Relay != "127.0.0.1[127.0.0.1]:"+strconv.Itoa(port) {
			t.Fatalf("%+v", r)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 1 {
		t.Fatalf("smtp-sink dumped %v", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	// smtp-sink stores lines with LF, after undoing the dot-stuffing.
	for _, want := range []string{"X-Helo-Args: out.example\n", "X-Mail-Args: <alice@src.example> BODY=8BITMIME\n",
		"X-Rcpt-Args: <bob@dest.example>\nX-Rcpt-Args: <carol@dest.example>\n",
		"\nSubject: to postfix\n\n.leading dot\nbody\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("smtp-sink dump lacks %q:\n%q", want, got)
		}
	}
}

func TestPostfixSmtpSinkRefusalsDecideEachRecipient(t *testing.T) {
	for _, tc := range []struct {
		flag string
		code int
		temp bool
	}{{"-f", 550, false}, {"-r", 450, true}} {
		t.Run(tc.flag, func(t *testing.T) {
			port := startSmtpSink(t, t.TempDir(), tc.flag, "RCPT")
			o := Options{Helo: "out.example", Relayhost: "[127.0.0.1]:" + strconv.Itoa(port), TLS: "none", Timeout: time.Minute}
			res := Deliver(context.Background(), o, "d", "a@s.example", []string{"b@d"}, message("x\n"))
			if res[0].Code/100 != tc.code/100 || res[0].Temporary != tc.temp {
				t.Fatalf("%+v", res[0])
			}
		})
	}
}
