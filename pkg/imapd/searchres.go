package imapd

import (
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// SEARCHRES (RFC 5182): SEARCH RETURN (SAVE ...) keeps its result, and $
// stands for it wherever a message set may be. The library parses both;
// the session keeps the result as UIDs and puts it in place of $ before
// imapstore sees the command.

// Search runs a SEARCH, or the SORT or THREAD the filter passed as one:
// then the filter has the response, and the library's is left empty.
func (s *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	s.resolveCriteria(criteria)
	if o := s.k.filter.pendingOrder(); o != nil && !o.silent {
		if err := o.run(s.Session, kind, criteria); err != nil {
			return nil, err
		}
		if kind == imapserver.NumKindUID {
			return &imap.SearchData{All: imap.UIDSet{}}, nil
		}
		return &imap.SearchData{All: imap.SeqSet{}}, nil
	}
	data, err := s.Session.Search(kind, criteria, options)
	if options.ReturnSave {
		s.saved = imap.UIDSet{}
		if err == nil {
			err = s.save(kind, data, options)
		}
	}
	return data, err
}

// save keeps what RFC 5182 2.1 says of a result: MIN, MAX or both when
// only they were asked for, else all of it.
func (s *session) save(kind imapserver.NumKind, data *imap.SearchData, options *imap.SearchOptions) error {
	var set imap.NumSet = data.All
	if !options.ReturnAll && !options.ReturnCount {
		var nums []uint32
		if options.ReturnMin && data.Min > 0 {
			nums = append(nums, data.Min)
		}
		if options.ReturnMax && data.Max > 0 {
			nums = append(nums, data.Max)
		}
		if kind == imapserver.NumKindUID {
			uids := imap.UIDSet{}
			for _, n := range nums {
				uids.AddNum(imap.UID(n))
			}
			set = uids
		} else {
			set = imap.SeqSetNum(nums...)
		}
	}
	if seqs, ok := set.(imap.SeqSet); ok {
		uids, err := s.Session.UIDs(seqs)
		if err != nil {
			return err
		}
		set = uids
	}
	s.saved = append(imap.UIDSet{}, set.(imap.UIDSet)...)
	return nil
}

// resolve puts the saved result in place of $.
func (s *session) resolve(set imap.NumSet) imap.NumSet {
	if imap.IsSearchRes(set) {
		return append(imap.UIDSet{}, s.saved...)
	}
	return set
}

func (s *session) resolveCriteria(c *imap.SearchCriteria) {
	for i := range c.UID {
		c.UID[i] = s.resolve(c.UID[i]).(imap.UIDSet)
	}
	for i := range c.Not {
		s.resolveCriteria(&c.Not[i])
	}
	for i := range c.Or {
		s.resolveCriteria(&c.Or[i][0])
		s.resolveCriteria(&c.Or[i][1])
	}
}

// A new mailbox, or none, starts with nothing saved.
func (s *session) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	s.saved = nil
	return s.Session.Select(name, options)
}

func (s *session) Unselect() error {
	s.saved = nil
	return s.Session.Unselect()
}

func (s *session) Fetch(w *imapserver.FetchWriter, set imap.NumSet, options *imap.FetchOptions) error {
	return s.Session.Fetch(w, s.resolve(set), options)
}

func (s *session) Store(w *imapserver.FetchWriter, set imap.NumSet, flags *imap.StoreFlags, options *imap.StoreOptions) error {
	return s.Session.Store(w, s.resolve(set), flags, options)
}

func (s *session) Copy(set imap.NumSet, dest string) (*imap.CopyData, error) {
	return s.Session.Copy(s.resolve(set), dest)
}

func (s *session) Move(w *imapserver.MoveWriter, set imap.NumSet, dest string) error {
	return s.Session.Move(w, s.resolve(set), dest)
}

func (s *session) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	if uids != nil && imap.IsSearchRes(*uids) {
		saved := append(imap.UIDSet{}, s.saved...)
		uids = &saved
	}
	return s.Session.Expunge(w, uids)
}
