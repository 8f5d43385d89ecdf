package imapstore

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTheBaseSubjectLosesWhatRFC5256SaysAndKeepsTheRest(t *testing.T) {
	for _, c := range []struct {
		in, base string
		reply    bool
	}{
		{"Plans", "Plans", false},
		{"Re: Plans", "Plans", true},
		{"RE:Plans", "Plans", true},
		{"re: Re: RE:  Plans", "Plans", true},
		{"Fwd: Plans", "Plans", true},
		{"FW: Plans", "Plans", true},
		{"Re[2]: Plans", "Plans", true},
		{"Re [2]: Plans", "Plans", true},
		{"[list] Re: Plans", "Plans", true},
		{"[list] Plans", "Plans", false},
		{"[list][other] Plans", "Plans", false},
		{"Plans (fwd)", "Plans", true},
		{"Plans (FWD) (fwd)  ", "Plans", true},
		{"[Fwd: Plans]", "Plans", true},
		{"[fwd: Re: [list] Plans (fwd)]", "Plans", true},
		{"Re: [list]", "[list]", true}, // a blob alone is the subject
		{"[list]", "[list]", false},
		{"  Plans\tfor\r\n the  week ", "Plans for the week", false},
		{"Reply to all", "Reply to all", false}, // "Re" without a colon
		{"Fwd Plans", "Fwd Plans", false},
		{"Re:", "", true},
		{"", "", false},
		{"[unclosed Re: Plans", "[unclosed Re: Plans", false},
		{"Café", "Café", false},
		{"Re: Ünïcödé", "Ünïcödé", true},
	} {
		base, reply := baseSubject(c.in)
		if base != c.base || reply != c.reply {
			t.Errorf("baseSubject(%q) = %q, %v; want %q, %v", c.in, base, reply, c.base, c.reply)
		}
	}
}

func TestSubjectsCompareTitlecasedAndDecomposed(t *testing.T) {
	for in, want := range map[string]string{
		"plans": "PLANS", "Café": "CAFE\u0301", "CAFÉ": "CAFE\u0301", "ǆ": "ǅ", "straße": "STRAßE", "": "",
	} {
		if got := casemap(in); got != want {
			t.Errorf("casemap(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzBaseSubject: any subject gives a base subject that is part of it,
// without white space at its ends, and is its own base subject.
func FuzzBaseSubject(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		base, _ := baseSubject(s)
		if strings.TrimFunc(base, isWSP) != base && utf8.ValidString(base) {
			t.Fatalf("baseSubject(%q) = %q: white space at an end", s, base)
		}
		if len(base) > len(s) {
			t.Fatalf("baseSubject(%q) = %q: longer", s, base)
		}
		if again, _ := baseSubject(base); again != base {
			t.Fatalf("baseSubject(%q) = %q, whose base is %q", s, base, again)
		}
	})
}
