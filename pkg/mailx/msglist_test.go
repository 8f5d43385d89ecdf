package mailx

import (
	"slices"
	"testing"

	"unixmail/pkg/mbox"
)

func testFolder() *folder {
	return &folder{msgs: []msg{
		{from: "alice@example.org", subject: "Lunch today", orig: mbox.Seen | mbox.Old, flags: mbox.Seen | mbox.Old},
		{from: "bob@example.org", subject: "Report", orig: mbox.Old, flags: mbox.Old},
		{from: "alice@example.org", subject: "Re: lunch", mark: mDeleted},
		{from: "carol@example.net", subject: "New thing"},
	}, dot: 1}
}

func TestParseListSelectsWhatPOSIXSays(t *testing.T) {
	cases := []struct {
		in      []string
		deleted bool
		want    []int
	}{
		{nil, false, []int{1}},
		{[]string{"1"}, false, []int{0}},
		{[]string{"1-4"}, false, []int{0, 1, 3}},
		{[]string{"*"}, false, []int{0, 1, 3}},
		{[]string{"."}, false, []int{1}},
		{[]string{"^", "$"}, false, []int{0, 3}},
		{[]string{":n"}, false, []int{3}},
		{[]string{":o"}, false, []int{0, 1}},
		{[]string{":u"}, false, []int{1, 3}},
		{[]string{":r"}, false, []int{0}},
		{[]string{":d"}, false, []int{2}},
		{[]string{"/LUNCH"}, false, []int{0}},
		{[]string{"alice"}, false, []int{0}},
		{[]string{"carol@example.net", "2"}, false, []int{1, 3}},
		{[]string{"*"}, true, []int{2}},
		{[]string{"3"}, true, []int{2}},
	}
	for _, c := range cases {
		got, err := parseList(testFolder(), c.in, c.deleted)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("parseList(%q, %v) = %v, %v; want %v", c.in, c.deleted, got, err, c.want)
		}
	}
	for _, bad := range [][]string{{"0"}, {"9"}, {"3"}, {":x"}, {"/nothing"}, {"2-x"}} {
		if got, err := parseList(testFolder(), bad, false); err == nil {
			t.Errorf("parseList(%q) = %v, want an error", bad, got)
		}
	}
}

func TestLookupGivesThePOSIXAbbreviations(t *testing.T) {
	for abbr, name := range map[string]string{
		"n": "next", "a": "alias", "alt": "alternates", "p": "print", "P": "Print", "t": "type", "T": "Type",
		"to": "top", "tou": "touch", "pre": "preserve", "d": "delete", "di": "discard", "u": "undelete",
		"una": "unalias", "uns": "unset", "m": "mail", "mb": "mbox", "pi": "pipe", "c": "copy", "C": "Copy",
		"ch": "chdir", "s": "save", "S": "Save", "se": "set", "sh": "shell", "si": "size", "so": "source",
		"w": "write", "f": "from", "fi": "file", "fo": "followup", "F": "Followup", "fold": "folder",
		"folders": "folders", "h": "headers", "hel": "help", "ho": "hold", "i": "if", "ig": "ignore",
		"l": "list", "q": "quit", "r": "reply", "R": "Reply", "ret": "retain", "v": "visual", "e": "edit",
		"ec": "echo", "ex": "exit", "x": "xit", "z": "z", "el": "else", "en": "endif",
	} {
		if c := lookup(abbr); c == nil || c.Name != name {
			t.Errorf("lookup(%q) = %v, want %s", abbr, c, name)
		}
	}
}

func TestSplitWordsHonoursQuotes(t *testing.T) {
	got, err := splitWords(`set sign="-- Alice" a\ b 'x"y'`)
	if want := []string{"set", "sign=-- Alice", "a b", `x"y`}; err != nil || !slices.Equal(got, want) {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
	if _, err := splitWords(`"open`); err == nil {
		t.Error("an unmatched quote was accepted")
	}
}

func FuzzParseList(f *testing.F) {
	f.Add("1-3 :n /lunch alice")
	f.Add("* ^ $ . :d")
	f.Add(`"quoted word" 2-`)
	f.Fuzz(func(t *testing.T, line string) {
		words, err := splitWords(line)
		if err != nil {
			return
		}
		fl := testFolder()
		list, err := parseList(fl, words, false)
		if err != nil {
			return
		}
		for _, i := range list {
			if i < 0 || i >= len(fl.msgs) {
				t.Fatalf("index %d out of range for %q", i, line)
			}
		}
		if !slices.IsSorted(list) {
			t.Fatalf("list %v not in order for %q", list, line)
		}
	})
}
