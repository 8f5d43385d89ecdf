package imapstore

import (
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"unixmail/pkg/mbox"
)

// libraryKeys are a message's sort keys the way the libraries give them
// (the header parsed whole, imapserver.ExtractEnvelope, mail.Header's
// MsgIDList and Date): what fill must give too.
func libraryKeys(raw []byte, e *mbox.Entry, n need) sortItem {
	top := &part{header: (&partParser{src: &memLines{b: raw}}).header(true, false)}
	it := sortItem{arrival: internalDate(e, top).Unix()}
	it.date = it.arrival
	h := mail.Header{Header: gomessage.Header{Header: top.header}}
	env := imapserver.ExtractEnvelope(top.header)
	if n.date && !env.Date.IsZero() {
		it.date = env.Date.Unix()
	}
	if n.subject {
		base, reply := baseSubject(env.Subject)
		it.subject, it.reply = casemap(base), reply
	}
	if n.from {
		it.from = firstMailbox(env.From)
	}
	if n.to {
		it.to = firstMailbox(env.To)
	}
	if n.cc {
		it.cc = firstMailbox(env.Cc)
	}
	if n.ids {
		it.msgID = env.MessageID
		it.refs, _ = h.MsgIDList("References")
		if len(it.refs) == 0 {
			if irt, _ := h.MsgIDList("In-Reply-To"); len(irt) > 0 {
				it.refs = irt[:1]
			}
		}
	}
	return it
}

// variedHeader is a header of the forms mailers write and some they
// should not, picked by r.
func variedHeader(r *rand.Rand, i int) string {
	pick := func(s ...string) string { return s[r.IntN(len(s))] }
	day := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(5*365*24)) * time.Hour)
	var b strings.Builder
	b.WriteString(pick("", "Status: RO\n", "X-Status: A\nX-Keywords: $Junk\n", "X-UID: 7\n"))
	b.WriteString(pick(
		"Date: "+day.Format("Mon, 02 Jan 2006 15:04:05 -0700")+"\n",
		"Date: "+day.Format("Mon, 2 Jan 2006 15:04:05 -0700")+"\n",
		"Date: "+day.In(time.FixedZone("", -5*3600)).Format("2 Jan 2006 15:04:05 -0700 (EST)")+"\n",
		"Date: "+day.Format("Mon, 02 Jan 2006 15:04 MST")+"\n",
		"date:  "+day.Format("Mon, 02 Jan 2006 15:04:05 -0700")+"  \n",
		"Date: last Tuesday\n",
		"Date: Mon, 31 Feb 2024 10:00:00 +0000\n",
		""))
	b.WriteString(pick(
		fmt.Sprintf("Subject: topic %d\n", i%97),
		fmt.Sprintf("Subject: Re: topic %d\n", i%97),
		fmt.Sprintf("Subject: RE: [list] Fwd: topic %d (fwd)\n", i%97),
		fmt.Sprintf("Subject: =?utf-8?q?Re=3A_Caf=C3=A9_%d?=\n", i%13),
		fmt.Sprintf("Subject: a long subject\n\tfolded %d\n", i%7),
		"Subject: \n",
		""))
	b.WriteString(pick(
		"From: Alice <Alice@Example.org>\n",
		"From: bob@example.org, Carol <carol@example.org>\n",
		"From: \"Doe, John\" <john@example.org>\n",
		"From: =?utf-8?q?Zo=C3=AB?= <zoe@example.org>\n",
		"From: dave@example.org (Dave)\n",
		"From: undisclosed-recipients:;\n",
		"From: not an address\n",
		""))
	b.WriteString(pick("To: Bob <bob@example.org>\n", "To: team: ann@example.org, Ben <ben@example.org>;\n", "TO: zed@example.org\n", ""))
	b.WriteString(pick("Cc: cc@example.org\n", "Cc: Some One <Some.One@Example.org>, x@y.z\n", ""))
	id := fmt.Sprintf("m%d@example.org", i)
	b.WriteString(pick("Message-ID: <"+id+">\n", "Message-Id:<"+id+"> (comment)\n", "Message-ID: "+id+"\n", ""))
	ref := func() string { return fmt.Sprintf("<m%d@example.org>", r.IntN(i+1)) }
	b.WriteString(pick(
		"References: "+ref()+"\n",
		"References: "+ref()+" "+ref()+"\n",
		"References: "+ref()+"\n "+ref()+"\n\t"+ref()+"\n",
		"References: "+ref()+ref()+"\n",
		"References: (old) "+ref()+"\n",
		"References: garbage "+ref()+"\n",
		"References: <a@[127.0.0.1]>\n",
		""))
	b.WriteString(pick("In-Reply-To: "+ref()+"\n", "In-Reply-To: "+ref()+" "+ref()+"\n", "In-Reply-To: your message of Monday\n", ""))
	b.WriteString(pick("", "Received: from a by b\n  with c\n", "X-Mailer: x\n"))
	return b.String()
}

func TestSortKeysOfAVariedFolderAreTheLibrarys(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var k keyReader
	fromLine := &mbox.Entry{Date: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)}
	for i := range 3000 {
		raw := []byte(variedHeader(r, i) + "\n")
		for _, e := range []*mbox.Entry{fromLine, {}} {
			for _, n := range []need{
				{date: true, subject: true, from: true, to: true, cc: true},
				{date: true, subject: true, ids: true},
				{date: true}, {subject: true}, {cc: true}, {},
			} {
				want := libraryKeys(raw, e, n)
				got := sortItem{arrival: e.Date.Unix()}
				got.date = got.arrival
				if n.header() || e.Date.IsZero() {
					k.fill(&got, raw, e.Date.IsZero(), n)
				}
				if !reflect.DeepEqual(got, want) && !(len(got.refs) == 0 && len(want.refs) == 0 && equalButRefs(got, want)) {
					t.Fatalf("header %q (From_ date %v, %+v):\ngot  %+v\nwant %+v", raw, e.Date, n, got, want)
				}
			}
		}
	}
}

// equalButRefs compares two items whose References are both empty, one
// nil and one not.
func equalButRefs(a, b sortItem) bool {
	a.refs, b.refs = nil, nil
	return reflect.DeepEqual(a, b)
}

func TestSortAndThreadOfABigVariedFolderAreThoseOfTheLibrarysKeys(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	msgs := make([]string, 3000)
	for i := range msgs {
		msgs[i] = variedHeader(r, i) + "\nbody\n"
	}
	u := newUser(t)
	u.deliver(u.inbox, msgs...)
	s := NewPreauthSession(u.store())
	defer s.Close()
	if _, err := s.Select("INBOX", &imap.SelectOptions{ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(u.inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The reference: every message's keys as the libraries give them,
	// one after another.
	want := make([]sortItem, len(s.sel.msgs))
	all := need{date: true, subject: true, from: true, to: true, cc: true, ids: true}
	for i, m := range s.sel.msgs {
		e := s.sel.entry(m.uid)
		want[i] = libraryKeys(storedHeader(f, e, nil), e, all)
		want[i].seq, want[i].uid = uint32(i+1), m.uid
	}
	for _, keys := range [][]SortCriterion{
		{{Key: SortDate}},
		{{Key: SortSubject}, {Key: SortDate, Reverse: true}},
		{{Key: SortFrom}, {Key: SortTo, Reverse: true}, {Key: SortCc}},
		{{Key: SortArrival, Reverse: true}},
	} {
		got, err := s.Sort(imapserver.NumKindUID, &imap.SearchCriteria{}, keys)
		if err != nil {
			t.Fatal(err)
		}
		if ref := sortNums(slices.Clone(want), keys, imapserver.NumKindUID); !slices.Equal(got, ref) {
			t.Errorf("SORT %v differs from the reference's order", keys)
		}
	}
	for _, alg := range []imap.ThreadAlgorithm{ThreadReferences, ThreadOrderedSubject} {
		got, err := s.Thread(imapserver.NumKindSeq, &imap.SearchCriteria{}, alg)
		if err != nil {
			t.Fatal(err)
		}
		ref := threadOrderedSubject(slices.Clone(want), imapserver.NumKindSeq)
		if alg == ThreadReferences {
			ref = threadReferences(slices.Clone(want), imapserver.NumKindSeq)
		}
		if show(got) != show(ref) {
			t.Errorf("THREAD %s differs from the reference's threads", alg)
		}
	}
}
