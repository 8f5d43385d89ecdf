package mailx

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"unixmail/pkg/mbox"
)

// testFolder is a four-message folder: two from alice (the second
// deleted), one from bob, one from carol; dot on bob's.
func testFolder(t testing.TB) *folder {
	t.Helper()
	text := ""
	for _, m := range [][2]string{
		{"alice@example.org", "Lunch today"}, {"bob@example.org", "Report"},
		{"alice@example.org", "Re: lunch"}, {"carol@example.net", "New thing"},
	} {
		text += "From " + m[0] + " Wed Nov 25 17:24:14 2026\nFrom: " + m[0] + "\nSubject: " + m[1] + "\n\nbody\n\n"
	}
	p := filepath.Join(t.TempDir(), "box")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	fl, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fl.Close() })
	f := &folder{path: p, file: fl}
	if err := f.scan(); err != nil {
		t.Fatal(err)
	}
	f.msgs[0].orig, f.msgs[0].flags = mbox.Seen|mbox.Old, mbox.Seen|mbox.Old
	f.msgs[1].orig, f.msgs[1].flags = mbox.Old, mbox.Old
	f.msgs[2].mark = mDeleted
	f.dot = 1
	return f
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
		{[]string{":o"}, false, []int{1}}, // not 0: it is read
		{[]string{"+"}, false, []int{3}},
		{[]string{"-"}, false, []int{0}},
		{nil, true, []int{2}},             // undelete: the deleted message after dot
		{[]string{":u"}, false, []int{1}}, // not 3: it is new
		{[]string{":r"}, false, []int{0}},
		{[]string{":d"}, false, []int{2}},
		{[]string{"/LUNCH"}, false, []int{0}},
		{[]string{"alice"}, false, []int{0}},
		{[]string{"carol@example.net", "2"}, false, []int{1, 3}},
		{[]string{"*"}, true, []int{2}},
		{[]string{"3"}, true, []int{2}},
	}
	for _, c := range cases {
		got, err := parseList(testFolder(t), c.in, c.deleted)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("parseList(%q, %v) = %v, %v; want %v", c.in, c.deleted, got, err, c.want)
		}
	}
	for _, bad := range [][]string{{"0"}, {"9"}, {"3"}, {":x"}, {"/nothing"}, {"2-x"}} {
		if got, err := parseList(testFolder(t), bad, false); err == nil {
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
	fl := testFolder(f)
	f.Fuzz(func(t *testing.T, line string) {
		words, err := splitWords(line)
		if err != nil {
			return
		}
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
