package imapstore

import (
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapserver"
)

func TestListPatternsMatchAsTheLibrarysMatcherDoes(t *testing.T) {
	names := []string{"INBOX", "Sent", "lists", "lists/go", "lists/go/dev", "a*b", "a%b", "", "x/y/z", "Données"}
	refs := []string{"", "lists", "lists/", "x/y"}
	patterns := []string{"", "*", "%", "lists/%", "lists/*", "%/%", "*/go", "l*s/%", "%o%", "a*b", "a%b", "*%", "%%/%", "/lists/go", "go", "Donn*", "*/*/*", "z"}
	for _, name := range names {
		for _, ref := range refs {
			for _, p := range patterns {
				if got, want := matchList(name, ref, p), imapserver.MatchList(name, Delim, ref, p); got != want {
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
