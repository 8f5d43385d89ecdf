package imapstore

import (
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapserver"
)

func TestListPatternsMatchAsTheLibrarysMatcherDoesButForINBOXsCase(t *testing.T) {
	names := []string{"INBOX", "Sent", "lists", "lists/go", "lists/go/dev", "a*b", "a%b", "", "x/y/z", "Données"}
	refs := []string{"", "lists", "lists/", "x/y"}
	patterns := []string{"", "*", "%", "lists/%", "lists/*", "%/%", "*/go", "l*s/%", "%o%", "In%", "inbox", "a*b", "a%b", "*%", "%%/%", "/lists/go", "go", "Donn*", "*/*/*", "z"}
	for _, name := range names {
		for _, ref := range refs {
			for _, p := range patterns {
				want := imapserver.MatchList(name, Delim, ref, p)
				if name == "INBOX" {
					want = imapserver.MatchList("inbox", Delim, lowerASCII(ref), lowerASCII(p))
				}
				if got := matchList(name, ref, p); got != want {
					t.Errorf("matchList(%q, ref %q, %q) = %v, the library says %v", name, ref, p, got, want)
				}
			}
		}
	}
}

func TestAListPatternOfManyWildcardsIsMatchedWithoutBacktracking(t *testing.T) {
	// The library's matcher takes time exponential in the wildcards:
	// this pattern against this name would not end.
	pattern := strings.Repeat("*%", 20000) + "x"
	if matchList(strings.Repeat("a/", 100)+"y", "", pattern) {
		t.Fatal("matched a name without the x")
	}
	if !matchList(strings.Repeat("a/", 100)+"x", "", pattern) {
		t.Fatal("did not match a name ending in x")
	}
}

func TestTheNameINBOXMatchesListPatternsInAnyCaseAndNoOtherNameDoes(t *testing.T) {
	tests := []struct {
		name, ref, pattern string
		want               bool
	}{
		{"INBOX", "", "inbox*", true},
		{"INBOX", "", "Inbox", true},
		{"INBOX", "", "in%", true},
		{"INBOX", "", "*o*", true},
		{"INBOX", "", "I*X", true},
		{"INBOX", "", "INBOX", true},
		{"INBOX", "", "inbo", false},
		{"INBOX", "", "inbox/%", false},
		{"INBOX", "", "\u212Anbox", false}, // the Kelvin sign is no K, nor an i
		{"INBOX", "lists", "inbox", false},
		{"Sent", "", "sent", false},
		{"Sent", "", "Sent", true},
		{"inboxes", "", "INBOX*", false},
		{"Inbox2", "", "inbox*", false},
		{"lists/Go", "LISTS", "go", false},
	}
	for _, tt := range tests {
		if got := matchList(tt.name, tt.ref, tt.pattern); got != tt.want {
			t.Errorf("matchList(%q, ref %q, %q) = %v, want %v", tt.name, tt.ref, tt.pattern, got, tt.want)
		}
	}
}
