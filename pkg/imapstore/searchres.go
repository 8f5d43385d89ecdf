package imapstore

import "github.com/emersion/go-imap/v2"

// UIDs turns sequence numbers of the selected mailbox into its UIDs, for
// a SEARCH result kept for later (SEARCHRES): UIDs, unlike sequence
// numbers, still name the same messages after an expunge.
func (s *Session) UIDs(seqs imap.SeqSet) (imap.UIDSet, error) {
	sel, err := s.needSelected()
	if err != nil {
		return nil, err
	}
	idx, err := sel.indexes(seqs)
	if err != nil {
		return nil, err
	}
	out := imap.UIDSet{}
	for _, i := range idx {
		out.AddNum(imap.UID(sel.msgs[i].uid))
	}
	return out, nil
}
