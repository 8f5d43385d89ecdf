package imapstore

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapserver"
)

// item is a message for threading: its place, its day of May 2024, its
// subject, Message-ID and references.
func item(seq uint32, day int, subject, id string, refs ...string) sortItem {
	base, reply := baseSubject(subject)
	return sortItem{seq: seq, uid: seq * 10, date: time.Date(2024, 5, day, 0, 0, 0, 0, time.UTC).Unix(),
		subject: casemap(base), reply: reply, msgID: id, refs: refs}
}

// show writes threads as a THREAD response would.
func show(ts []Thread) string {
	var b strings.Builder
	var one func(t Thread)
	one = func(t Thread) {
		if t.Num != 0 {
			fmt.Fprint(&b, t.Num)
		}
		for _, c := range t.Children {
			b.WriteString("(")
			one(c)
			b.WriteString(")")
		}
	}
	for _, t := range ts {
		b.WriteString("(")
		one(t)
		b.WriteString(")")
	}
	return b.String()
}

func TestThreadingByReferences(t *testing.T) {
	for _, c := range []struct {
		what  string
		items []sortItem
		want  string
	}{
		{"a reply under its original, the threads by date", []sortItem{
			item(1, 3, "b", "b1"), item(2, 1, "a", "a1"), item(3, 4, "Re: a", "a2", "a1"),
		}, "(2(3))(1)"},
		{"answers of a missing message joined under a dummy at the root", []sortItem{
			item(1, 2, "x", "x2", "gone"), item(2, 3, "y", "y2", "gone"),
		}, "((1)(2))"},
		{"a lone answer of a missing message is a root", []sortItem{
			item(1, 2, "x", "x2", "gone"),
		}, "(1)"},
		{"a missing message in the middle of a chain left out", []sortItem{
			item(1, 1, "a", "a1"), item(2, 3, "Re: a", "a3", "a1", "a2"), item(3, 4, "Re: a", "a4", "a1", "a2"),
		}, "(1(2)(3))"},
		{"In-Reply-To when there are no References", []sortItem{
			item(1, 1, "a", "a1"), item(2, 2, "Re: a", "a2", "a1"),
		}, "(1(2))"},
		{"a duplicate Message-ID is no Message-ID", []sortItem{
			item(1, 1, "a", "same"), item(2, 2, "b", "same"),
		}, "(1)(2)"},
		{"a reference that would make a loop is not followed", []sortItem{
			item(1, 1, "a", "a1", "a2"), item(2, 2, "b", "a2", "a1"),
		}, "(2(1))"},
		{"a message that refers to itself is a root", []sortItem{
			item(1, 1, "a", "a1", "a1"),
		}, "(1)"},
		{"roots of one subject joined, the original above the reply", []sortItem{
			item(1, 1, "Plans", "p1"), item(2, 2, "Re: Plans", "p2"),
		}, "(1(2))"},
		{"roots of one subject, neither a reply, under a dummy", []sortItem{
			item(1, 1, "Plans", "p1"), item(2, 2, "plans", "p2"),
		}, "((1)(2))"},
		{"an empty subject never joins", []sortItem{
			item(1, 1, "", "e1"), item(2, 2, "", "e2"),
		}, "(1)(2)"},
	} {
		got := show(threadReferences(c.items, imapserver.NumKindSeq))
		if got != c.want {
			t.Errorf("%s: %s, want %s", c.what, got, c.want)
		}
	}
}

func TestThreadingByOrderedSubject(t *testing.T) {
	items := []sortItem{
		item(1, 5, "Plans", ""), item(2, 2, "Re: plans", ""), item(3, 1, "Budget", ""),
		item(4, 9, "Fwd: Plans", ""), item(5, 3, "Café", ""),
	}
	if got, want := show(threadOrderedSubject(items, imapserver.NumKindSeq)), "(3)(2(1)(4))(5)"; got != want {
		t.Errorf("%s, want %s", got, want)
	}
	items = []sortItem{item(1, 1, "a", ""), item(2, 2, "a", "")}
	if got, want := show(threadOrderedSubject(items, imapserver.NumKindUID)), "(10(20))"; got != want {
		t.Errorf("by UID: %s, want %s", got, want)
	}
}

func TestSortKeysFromTheHeader(t *testing.T) {
	arrival := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).Unix()
	for _, c := range []struct {
		what, header      string
		date              time.Time
		subject, from, to string
	}{
		{"the sent date in UTC", "Date: Tue, 7 May 2024 11:30:00 +0200\r\n", time.Date(2024, 5, 7, 9, 30, 0, 0, time.UTC), "", "", ""},
		{"no Date: the arrival", "Subject: x\r\n", time.Unix(arrival, 0), "X", "", ""},
		{"a Date that does not parse: the arrival", "Date: last Tuesday\r\n", time.Unix(arrival, 0), "", "", ""},
		{"the first sender's mailbox, folded", "From: Alice <Alice@Example.org>, bob@example.org\r\nTo: undisclosed-recipients:;\r\n", time.Unix(arrival, 0), "", "ALICE", ""},
		{"a decoded subject", "Subject: =?utf-8?q?Re=3A_Caf=C3=A9?=\r\nTo: Zed <zed@example.org>\r\n", time.Unix(arrival, 0), "CAFE\u0301", "", "ZED"},
	} {
		it := sortItem{arrival: arrival, date: arrival}
		new(keyReader).fill(&it, []byte(c.header+"\r\n"), false, need{date: true, subject: true, from: true, to: true})
		if it.date != c.date.Unix() || it.subject != c.subject || it.from != c.from || it.to != c.to {
			t.Errorf("%s: date %v subject %q from %q to %q", c.what, time.Unix(it.date, 0).UTC(), it.subject, it.from, it.to)
		}
	}
}
