package main

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// The capabilities imapd(8) lists are those a logged-in client is given.
func TestTheManPageListsTheCapabilitiesOffered(t *testing.T) {
	page, err := os.ReadFile("../../man/imapd.8")
	if err != nil {
		t.Fatal(err)
	}
	_, list, _ := strings.Cut(string(page), "The capabilities after login, beyond IMAP4rev1:\n.Bd -filled -offset indent\n")
	list, _, found := strings.Cut(list, "\n.Ed")
	if !found {
		t.Fatal("imapd.8 has no capability list")
	}
	documented := strings.Fields(strings.ToUpper(list))
	u := newIMAPUser(t)
	out := u.python(t, `
import imaplib, sys
M = imaplib.IMAP4_stream(sys.argv[1])
print(" ".join(M.capabilities))
M.logout()
`)
	var offered []string
	for _, c := range strings.Fields(out) {
		if strings.HasPrefix(c, "APPENDLIMIT=") {
			c = "APPENDLIMIT" // its value is the configuration's
		}
		if c != "IMAP4REV1" {
			offered = append(offered, c)
		}
	}
	slices.Sort(documented)
	slices.Sort(offered)
	if !slices.Equal(documented, offered) {
		t.Errorf("imapd.8 lists\n%v\nimapd offers\n%v", documented, offered)
	}
}
