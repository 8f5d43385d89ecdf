package mta

import (
	"reflect"
	"strings"
	"testing"
)

func TestAddressListReadsHeadersAsSendmailDoes(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"bob@x", []string{"bob@x"}},
		{"root", []string{"root"}},
		{"alice, bob", []string{"alice", "bob"}},
		{`"Doe, John" <john@x>, jane@x`, []string{"john@x", "jane@x"}},
		{"undisclosed-recipients:;", nil},
		{"Team: carol@x, alice;, dave@x", []string{"carol@x", "alice", "dave@x"}},
		{"=?koi8-r?B?8NLJ18XU?= <bob@x>", []string{"bob@x"}},
		{"=?utf-8?Q?J=C3=BCrgen?= <j@x>,\n\t=?iso-8859-1?q?Ren=E9?= <r@x>", []string{"j@x", "r@x"}},
		{"bob@x (Bob, the (nested) builder)", []string{"bob@x"}},
		{"<@relay.x,@other.x:bob@x>", []string{"bob@x"}},
		{"John Q. Public <jqp@x>", []string{"jqp@x"}},
		{"a.b @ x . y", []string{"a.b@x.y"}},
		{"bob@[127.0.0.1]", []string{"bob@[127.0.0.1]"}},
		{"<>", nil},
		{"", nil},
		{"a@x; b@x", []string{"a@x", "b@x"}},
		{"John Doe", []string{"John Doe"}}, // left for CheckAddress to refuse
		{`"unterminated <a@x>`, []string{`"unterminated <a@x>`}},
	}
	for _, tt := range tests {
		if got := AddressList(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("AddressList(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzAddressList(f *testing.F) {
	f.Add(`"Doe, John" <john@x>, Team: a@x, b;`)
	f.Add("(comment \\) still) <@r:a@b>")
	f.Fuzz(func(t *testing.T, s string) {
		for _, a := range AddressList(s) {
			if a == "" {
				t.Fatalf("%q gave an empty address", s)
			}
			if n := len(strings.ReplaceAll(a, " ", "")); n > len(s) {
				t.Fatalf("%q gave %q, longer than the input", s, a)
			}
			if strings.ContainsAny(a, "\n\r") && !strings.ContainsAny(s, "\"[") {
				t.Fatalf("%q gave %q with a line break", s, a)
			}
		}
	})
}
