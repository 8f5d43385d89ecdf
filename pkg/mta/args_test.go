package mta

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseArgsReadsSendmailSyntax(t *testing.T) {
	tests := []struct {
		argv0 string
		args  []string
		want  Args
	}{
		{"sendmail", []string{"-t", "-i"}, Args{Mode: ModeDeliver, DeliveryMode: 'i', FromHeaders: true, IgnoreDots: true}},
		{"sendmail", []string{"-ti", "bob"}, Args{Mode: ModeDeliver, DeliveryMode: 'i', FromHeaders: true, IgnoreDots: true, Rcpts: []string{"bob"}}},
		{"sendmail", []string{"-oi", "-odq", "-faddr@x", "bob"}, Args{Mode: ModeDeliver, DeliveryMode: 'q', IgnoreDots: true, Sender: "addr@x", SenderGiven: true, Rcpts: []string{"bob"}}},
		{"sendmail", []string{"-f", "a@x", "-F", "Full Name", "--", "-x"}, Args{Mode: ModeDeliver, DeliveryMode: 'i', Sender: "a@x", SenderGiven: true, FullName: "Full Name", Rcpts: []string{"-x"}}},
		{"sendmail", []string{"-r", "<>", "bob"}, Args{Mode: ModeDeliver, DeliveryMode: 'i', Sender: "<>", SenderGiven: true, Rcpts: []string{"bob"}}},
		{"sendmail", []string{"-bs"}, Args{Mode: ModeSMTP, DeliveryMode: 'i'}},
		{"sendmail", []string{"-bd", "-q30m"}, Args{Mode: ModeDaemon, DeliveryMode: 'i', QueueRun: true, Interval: 30 * time.Minute}},
		{"sendmail", []string{"-q"}, Args{Mode: ModeQueue, DeliveryMode: 'i', QueueRun: true}},
		{"sendmail", []string{"-q1h30m"}, Args{Mode: ModeQueue, DeliveryMode: 'i', QueueRun: true, Interval: 90 * time.Minute}},
		{"sendmail", []string{"-qIABC"}, Args{Mode: ModeQueue, DeliveryMode: 'i', QueueRun: true}},
		{"mailq", nil, Args{Mode: ModePrint, DeliveryMode: 'i'}},
		{"/usr/bin/newaliases", nil, Args{Mode: ModeAliases, DeliveryMode: 'i'}},
		{"sendmail", []string{"-C", "/etc/x.conf", "-o", "hostname=h", "-oQ/q", "bob"}, Args{Mode: ModeDeliver, DeliveryMode: 'i', ConfigFile: "/etc/x.conf", Overrides: []string{"hostname=h", "queue_directory=/q"}, Rcpts: []string{"bob"}}},
		{"sendmail", []string{"-oem", "-B8BITMIME", "-N", "failure,delay", "-R", "hdrs", "-V", "id1", "-FCronDaemon", "-v", "-m", "-U", "bob"},
			Args{Mode: ModeDeliver, DeliveryMode: 'i', Notify: "FAILURE,DELAY", Ret: "hdrs", EnvID: "id1", FullName: "CronDaemon", Verbose: true, Rcpts: []string{"bob"}}},
		{"sendmail", []string{"bob", "-t"}, Args{Mode: ModeDeliver, DeliveryMode: 'i', Rcpts: []string{"bob", "-t"}}},
		{"sendmail", []string{"-bl"}, Args{Mode: ModeDaemon, DeliveryMode: 'i'}},
		{"sendmail", []string{"-N", "bogus", "-R", "most", "-V", "bad\nid", "bob"}, Args{Mode: ModeDeliver, DeliveryMode: 'i', Rcpts: []string{"bob"}}},
		{"sendmail", []string{"-N", "success, DELAY", "-R", "FULL", "-V", "<id@x>", "bob"}, Args{Mode: ModeDeliver, DeliveryMode: 'i', Notify: "SUCCESS,DELAY", Ret: "FULL", EnvID: "<id@x>", Rcpts: []string{"bob"}}},
		{"sendmail", []string{"-N", "never,failure", "-V", strings.Repeat("x", 101), "bob"}, Args{Mode: ModeDeliver, DeliveryMode: 'i', Rcpts: []string{"bob"}}},
		{"sendmail", []string{"-I"}, Args{Mode: ModeAliases, DeliveryMode: 'i'}},
		{"sendmail", []string{"-bv", "bob"}, Args{Mode: ModeVerify, DeliveryMode: 'i', Rcpts: []string{"bob"}}},
		{"sendmail", []string{"-bh", "x"}, Args{Mode: ModeIgnore, DeliveryMode: 'i', Rcpts: []string{"x"}}},
		{"sendmail", []string{"-e", "m", "-p", "smtp", "-A", "c", "bob"}, Args{Mode: ModeDeliver, DeliveryMode: 'i', Rcpts: []string{"bob"}}},
	}
	for _, tt := range tests {
		got, err := ParseArgs(tt.argv0, tt.args)
		if err != nil {
			t.Errorf("%s %q: %v", tt.argv0, tt.args, err)
			continue
		}
		if !reflect.DeepEqual(*got, tt.want) {
			t.Errorf("%s %q:\n got %+v\nwant %+v", tt.argv0, tt.args, *got, tt.want)
		}
	}
}

func TestParseArgsRefusesWhatItCannotDo(t *testing.T) {
	for _, args := range [][]string{{"-f"}, {"-bt"}, {"-bx"}, {"-q5x"}, {"-C"}, {"-bp", "bob"}, {"-bd", "bob"}, {"-bs", "-t"}, {"-q", "bob"}, {"-bi", "x"}, {"--version"}, {"--help", "bob"}} {
		if _, err := ParseArgs("sendmail", args); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

func FuzzParseArgs(f *testing.F) {
	f.Add("-t\x00-i\x00bob")
	f.Add("-q30m\x00-bd")
	f.Add("-oi\x00-f\x00a@b\x00--\x00c")
	f.Fuzz(func(t *testing.T, s string) {
		args := splitNul(s)
		a, err := ParseArgs("sendmail", args)
		if err == nil && len(a.Rcpts) > len(args) {
			t.Fatalf("more recipients than arguments: %q", args)
		}
	})
}

func splitNul(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
