package imapd

import (
	"bufio"
	"strings"
	"testing"

	"unixmail/pkg/imapstore"
)

func TestSortAndThreadCommandsBecomeTheSearchesTheyStandFor(t *testing.T) {
	for _, c := range []struct {
		cmd, args, search string
		keys              []imapstore.SortCriterion
		alg               string
		bad               string
	}{
		{cmd: "SORT", args: "(DATE) UTF-8 ALL", search: "CHARSET UTF-8 ALL",
			keys: []imapstore.SortCriterion{{Key: imapstore.SortDate}}},
		{cmd: "UID SORT", args: `(reverse arrival Subject) "US-ASCII" FROM "x y" SINCE 1-May-2024`, search: `CHARSET "US-ASCII" FROM "x y" SINCE 1-May-2024`,
			keys: []imapstore.SortCriterion{{Key: imapstore.SortArrival, Reverse: true}, {Key: imapstore.SortSubject}}},
		{cmd: "SORT", args: "(SIZE) UTF-8 BODY {5+}", search: "CHARSET UTF-8 BODY {5+}",
			keys: []imapstore.SortCriterion{{Key: imapstore.SortSize}}},
		{cmd: "SORT", args: "RETURN (MIN COUNT) (DATE) UTF-8 ALL", search: "CHARSET UTF-8 ALL",
			keys: []imapstore.SortCriterion{{Key: imapstore.SortDate}}},
		{cmd: "SORT", args: "return () (DATE) UTF-8 ALL", search: "CHARSET UTF-8 ALL",
			keys: []imapstore.SortCriterion{{Key: imapstore.SortDate}}},
		{cmd: "SORT", args: "RETURN (SAVE) (DATE) UTF-8 ALL", bad: "unknown RETURN option"},
		{cmd: "SORT", args: "RETURN MIN (DATE) UTF-8 ALL", bad: "RETURN needs"},
		{cmd: "THREAD", args: "references UTF-8 ALL", search: "CHARSET UTF-8 ALL", alg: "REFERENCES"},
		{cmd: "UID THREAD", args: "ORDEREDSUBJECT UTF-8 UNSEEN", search: "CHARSET UTF-8 UNSEEN", alg: "ORDEREDSUBJECT"},
		{cmd: "SORT", args: "DATE UTF-8 ALL", bad: "parenthesised"},
		{cmd: "SORT", args: "(COLOUR) UTF-8 ALL", bad: "unknown sort key"},
		{cmd: "SORT", args: "() UTF-8 ALL", bad: "unknown sort key"},
		{cmd: "SORT", args: "(DATE REVERSE) UTF-8 ALL", bad: "REVERSE must"},
		{cmd: "SORT", args: "(REVERSE REVERSE DATE) UTF-8 ALL", bad: "unknown sort key"},
		{cmd: "SORT", args: "(DATE)", bad: "charset"},
		{cmd: "SORT", args: "(DATE) UTF-8", bad: "charset"},
		{cmd: "SORT", args: `(DATE) "UTF-8 ALL`, bad: "charset"},
		{cmd: "SORT", args: "(DATE) {5}", bad: "charset"},
		{cmd: "THREAD", args: "BY-MOOD UTF-8 ALL", bad: "threading algorithm"},
		{cmd: "THREAD", args: "REFERENCES", bad: "charset"},
	} {
		o, search, err := parseOrdering(c.cmd, c.args)
		if c.bad != "" {
			if err == nil || !strings.Contains(err.Error(), c.bad) {
				t.Errorf("%s %s: %v, want an error about %s", c.cmd, c.args, err, c.bad)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %s: %v", c.cmd, c.args, err)
			continue
		}
		if search != c.search || string(o.alg) != c.alg || len(o.keys) != len(c.keys) || o.name != c.cmd {
			t.Errorf("%s %s: %q %+v, want %q %v %s", c.cmd, c.args, search, o, c.search, c.keys, c.alg)
			continue
		}
		for i := range c.keys {
			if o.keys[i] != c.keys[i] {
				t.Errorf("%s %s: key %d is %v, want %v", c.cmd, c.args, i, o.keys[i], c.keys[i])
			}
		}
	}
}

func TestESortGivesMinAndMaxInSortOrderAndAllAsAscendingRuns(t *testing.T) {
	for _, c := range []struct {
		args string
		nums []uint32
		want string
	}{
		{"RETURN (MIN MAX COUNT ALL) (DATE) UTF-8 ALL", []uint32{5, 6, 7, 2, 9, 8}, `* ESEARCH (TAG "t") MIN 5 MAX 8 COUNT 6 ALL 5:7,2,9,8`},
		{"RETURN () (DATE) UTF-8 ALL", []uint32{3, 2, 1}, `* ESEARCH (TAG "t") ALL 3,2,1`},
		{"RETURN (MIN MAX COUNT ALL) (DATE) UTF-8 ALL", nil, `* ESEARCH (TAG "t") COUNT 0`},
	} {
		o, _, err := parseOrdering("SORT", c.args)
		if err != nil {
			t.Fatal(err)
		}
		o.tag = "t"
		if got := o.esearch(0, c.nums); got != c.want+"\r\n" {
			t.Errorf("%s of %v: %q, want %q", c.args, c.nums, got, c.want)
		}
	}
}

func TestThreadsAreWrittenAsRFC5256Lists(t *testing.T) {
	leaf := func(n uint32) imapstore.Thread { return imapstore.Thread{Num: n} }
	node := func(n uint32, ch ...imapstore.Thread) imapstore.Thread { return imapstore.Thread{Num: n, Children: ch} }
	for _, c := range []struct {
		t    imapstore.Thread
		want string
	}{
		{leaf(1), "1"},
		{node(1, leaf(2)), "1 2"},
		{node(1, node(2, leaf(3))), "1 2 3"},
		{node(1, leaf(2), leaf(3)), "1 (2)(3)"},
		{node(1, node(2, leaf(4)), leaf(3)), "1 (2 4)(3)"},
		{node(0, leaf(2), leaf(3)), "(2)(3)"},
		{node(0, node(2, leaf(3))), "2 3"},
		{node(1, node(0, leaf(2), leaf(3))), "1 (2)(3)"},
	} {
		var b strings.Builder
		writeThread(&b, &c.t)
		if b.String() != c.want {
			t.Errorf("%+v written %q, want %q", c.t, b.String(), c.want)
		}
	}
}

func TestTheFilterPassesSortAsSearchAndPutsTheSortResponseInItsPlace(t *testing.T) {
	f, client, r := pair(t, true)
	f.hooks.(*fakeHooks).authed = true
	go client.Write([]byte("s1 UID SORT (DATE) UTF-8 ALL\r\ns2 SORT (COLOUR) UTF-8 ALL\r\ns3 NOOP\r\n"))
	lib := bufio.NewReader(readerFunc(f.Read))
	if l, _ := lib.ReadString('\n'); l != "s1 UID SEARCH CHARSET UTF-8 ALL\r\n" {
		t.Fatalf("library got %q", l)
	}
	f.pendingOrder().reply = "* SORT 3 1 2\r\n"
	go f.Write([]byte("* SEARCH\r\n* 4 EXISTS\r\ns1 OK UID SEARCH completed\r\n"))
	for _, want := range []string{"* SORT 3 1 2\r\n", "* 4 EXISTS\r\n", "s1 OK UID SORT completed\r\n"} {
		if l := readLine(t, r); l != want {
			t.Fatalf("client got %q, want %q", l, want)
		}
	}
	if f.pendingOrder() != nil {
		t.Fatal("the SORT is still pending after its reply")
	}
	// A bad one is answered by the filter; the session goes on.
	go lib.ReadString('\n')
	if l := readLine(t, r); !strings.HasPrefix(l, "s2 BAD unknown sort key") {
		t.Fatalf("client got %q", l)
	}
}

// FuzzParseOrdering: any arguments either parse into a SEARCH with the
// same criteria, or are refused; nothing panics.
func FuzzParseOrdering(f *testing.F) {
	f.Fuzz(func(t *testing.T, cmd, args string) {
		o, search, err := parseOrdering(cmd, args)
		if err != nil {
			return
		}
		if !strings.HasPrefix(search, "CHARSET ") || !strings.HasSuffix(args, search[strings.LastIndex(search, " ")+1:]) {
			t.Fatalf("%q %q became %q", cmd, args, search)
		}
		if o.alg == "" && len(o.keys) == 0 {
			t.Fatalf("%q %q: a SORT without keys", cmd, args)
		}
	})
}

func TestOnlyASearchThatAsksForNothingButSaveHasItsResponseDropped(t *testing.T) {
	for args, want := range map[string]bool{
		"RETURN (SAVE) ALL":           true,
		"return ( save ) FROM x":      true,
		"RETURN (SAVE ALL) ALL":       false,
		"RETURN (SAVE MIN) ALL":       false,
		"RETURN () ALL":               false,
		"ALL":                         false,
		"RETURN (SAVE":                false,
		`FROM "RETURN (SAVE)"`:        false,
		"CHARSET UTF-8 RETURN (SAVE)": false,
	} {
		if got := saveOnly(args); got != want {
			t.Errorf("saveOnly(%q) = %v", args, got)
		}
	}
}
