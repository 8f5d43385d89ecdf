package mbox_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"unixmail/pkg/mbox"
)

// The mailboxes under testdata/fixtures were written by the real programs
// (see ../shared/fixtures/README.md). Where c-client and Dovecot agree on
// the message count we must too; where they disagree the choice is noted.
var fixtureCounts = map[string]int{
	"dovecot/folder-Work-step6-after-copy.mbox":          2,
	"dovecot/folder-Work-step6-created.mbox":             0,
	"dovecot/folder-Work-step9-after-select-logout.mbox": 2,
	"dovecot/step1-delivered.mbox":                       5,
	"dovecot/step2-after-select.mbox":                    5,
	"dovecot/step3-flags.mbox":                           5,
	"dovecot/step4-expunge.mbox":                         4,
	"dovecot/step4b-deleted-after-check.mbox":            5,
	"dovecot/step5-append-draft.mbox":                    5, // an unquoted "From this line" body line, Content-Length right
	"dovecot/step7a-external-procmail-append.mbox":       6,
	"dovecot/step7c-check.mbox":                          6,
	"mutt/00-procmail-delivered.mbox":                    5,
	"mutt/01-after-sync.mbox":                            4,
	"mutt/02-after-quit.mbox":                            4,
	"mutt/03-saved-by-mutt-s.mbox":                       1,
	"mutt/04-source-after-save-and-quit.mbox":            3,
	"procmail/mda-delivered.mbox":                        3,
	"procmail/procmail-delivered.mbox":                   3,
	"procmail/putmail-delivered.mbox":                    3,
	"snail/folder-00-procmail-delivered.mbox":            5,
	"snail/folder-01-after-quit.mbox":                    4,
	"snail/sent-record.mbox":                             2,
	"snail/spool-hold-00-procmail-delivered.mbox":        5,
	"snail/spool-hold-01-after-quit.mbox":                5,
	"snail/spool-move-00-procmail-delivered.mbox":        5,
	"snail/spool-move-01-MBOX-secondary.mbox":            2,
	"snail/spool-move-01-after-quit.mbox":                3,
	"uw/00-source-procmail.mbox":                         5,
	"uw/01-created-empty.mbox":                           0,
	"uw/02-after-append.mbox":                            5,
	"uw/03-copied.mbox":                                  5,
	"uw/04-copied-opened-rw.mbox":                        5,
	"uw/05-flags-set.mbox":                               5,
	"uw/06-expunged.mbox":                                4,
	"uw/07-procmail-mbox-opened-rw-by-cclient.mbox":      5,
	"uw/08-cclient-appended-to-procmail-mbox.mbox":       9,
	"uw/09-copy-kw-of-expunged.mbox":                     4,
	"uw/10-copy-kw-after-open-rw.mbox":                   4,
	"weird/crlf-after-cclient-setflags.mbox":             3,
	"weird/crlf-after-dovecot-select-store-check.mbox":   3,
	"weird/crlf-procmail.mbox":                           3,
	// Content-Length right and a valid From_ line in the body: honoured,
	// as Dovecot and mutt do (c-client says 3).
	"weird/mboxcl2-dovecot-after-append.mbox":          2,
	"weird/mboxcl2-dovecot-after-cclient-open-rw.mbox": 3,
	"weird/mboxcl2-dovecot-after-select-logout.mbox":   2,
	"weird/noctime-first-copied-by-cclient-phile.mbox": 1,
	// A first line with no ctime date: one message, as c-client and mutt.
	"weird/noctime-first.mbox": 1,
	// ISO and RFC 2822 dates are no From_ dates: c-client and mutt say 2.
	"weird/noctime-middle-after-cclient-open-rw.mbox": 2,
	"weird/noctime-middle.mbox":                       2,
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "fixtures", filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestScannerCountsFixtureMessagesAsCClientAndDovecot(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "fixtures", "*", "*.mbox"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(fixtureCounts) {
		t.Errorf("%d fixture files, %d expected counts", len(files), len(fixtureCounts))
	}
	for name, want := range fixtureCounts {
		t.Run(name, func(t *testing.T) {
			data := readFixture(t, name)
			msgs := mustScan(t, data)
			checkLayout(t, data, msgs)
			got := 0
			for _, m := range msgs {
				if !m.Pseudo {
					got++
				}
			}
			if got != want {
				t.Errorf("%d messages, want %d", got, want)
			}
		})
	}
}

func TestScannerReadsFixtureFlagsAndUIDs(t *testing.T) {
	type st struct {
		flags    mbox.Flags
		keywords []string
		uid      uint32
	}
	const ro = mbox.Seen | mbox.Old
	tests := []struct {
		file   string
		base   mbox.Base
		pseudo bool
		want   []st
	}{
		{"uw/05-flags-set.mbox", mbox.Base{UIDValidity: 1795627543, LastUID: 5, Keywords: []string{"$Work", "NonJunk"}}, true, []st{
			{ro, nil, 1},
			{mbox.Old | mbox.Flagged | mbox.Answered, nil, 2},
			{ro, []string{"$Work"}, 3},
			{ro | mbox.Deleted, nil, 4},
			{ro | mbox.Flagged | mbox.Answered | mbox.Draft, []string{"$Work", "NonJunk"}, 5},
		}},
		{"uw/09-copy-kw-of-expunged.mbox", mbox.Base{UIDValidity: 1795627583, LastUID: 1, Keywords: []string{"$Work", "NonJunk"}}, true, nil},
		{"uw/07-procmail-mbox-opened-rw-by-cclient.mbox", mbox.Base{UIDValidity: 1795627575, LastUID: 5}, false, []st{
			{mbox.Old, nil, 1}, {mbox.Old, nil, 2}, {mbox.Old, nil, 3}, {mbox.Old, nil, 4}, {mbox.Old, nil, 5},
		}},
		{"dovecot/step3-flags.mbox", mbox.Base{UIDValidity: 1795627642, LastUID: 5, Keywords: []string{"$Work"}}, false, []st{
			{ro, nil, 1},
			{mbox.Old | mbox.Answered | mbox.Flagged, nil, 2},
			{mbox.Old, []string{"$Work"}, 3},
			{0, nil, 4},
			{0, nil, 5},
		}},
		{"dovecot/step5-append-draft.mbox", mbox.Base{UIDValidity: 1795627642, LastUID: 6, Keywords: []string{"$Work"}}, false, []st{
			{ro, nil, 1},
			{mbox.Old | mbox.Answered | mbox.Flagged, nil, 2},
			{mbox.Old, []string{"$Work"}, 3},
			{mbox.Old, nil, 5},
			{mbox.Old | mbox.Draft, nil, 6},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			msgs, base, err := scanAll(t, readFixture(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if base == nil || base.UIDValidity != tt.base.UIDValidity || base.LastUID != tt.base.LastUID || !slices.Equal(base.Keywords, tt.base.Keywords) {
				t.Errorf("base %+v, want %+v", base, tt.base)
			}
			if msgs[0].Pseudo != tt.pseudo {
				t.Errorf("first message pseudo = %v", msgs[0].Pseudo)
			}
			if tt.pseudo {
				msgs = msgs[1:]
			}
			if tt.want == nil {
				return
			}
			if len(msgs) != len(tt.want) {
				t.Fatalf("%d messages, want %d", len(msgs), len(tt.want))
			}
			for i, m := range msgs {
				got := st{m.Flags, m.Keywords, m.UID}
				if got.flags != tt.want[i].flags || got.uid != tt.want[i].uid || !slices.Equal(got.keywords, tt.want[i].keywords) {
					t.Errorf("message %d: %+v, want %+v", i+1, got, tt.want[i])
				}
			}
		})
	}
}
