package imapstore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"unixmail/pkg/mbox"
)

// LoginFunc checks a user's password and gives that user's store. It is
// where the daemon applies its delays, limits and privilege drop; method
// is LOGIN or the SASL mechanism, for the log.
type LoginFunc func(user, password, method string) (*Store, error)

// Session is one client's IMAP session. It implements the imapserver
// Session interfaces imapd advertises (NAMESPACE, MOVE, APPENDLIMIT).
type Session struct {
	st *Store
	// shared is st for Unsynced, which other goroutines call (imapd's
	// flush timer) while Login may be setting st.
	shared atomic.Pointer[Store]
	login  LoginFunc
	sel    *selected
	// Hook, when not nil, sees every login attempt before the password is
	// checked, so the connection can refuse it (plaintext on an open link).
	Hook func() error
	rev2 atomic.Bool // the client sent ENABLE IMAP4rev2 (see rev2.go)
	// CutOff, when not nil, ends the connection at once, before anything
	// more is written: a FETCH literal could not be finished (ErrCutShort).
	CutOff func(error)
	// Direct, when not nil, is the connection under the library: a FETCH
	// of items that need no message body (UID, FLAGS, INTERNALDATE,
	// RFC822.SIZE, ENVELOPE) writes its responses to it directly, made
	// here as the library makes them (see wire.go). The library writes
	// nothing else meanwhile: it has flushed all it wrote before (it does
	// after every response) and the command's goroutine, the one running
	// the FETCH, is the only one writing responses.
	Direct io.Writer
	// GroupCommit leaves the sync of what an APPEND wrote to Commit, its
	// folder kept locked meanwhile, so that APPENDs a client pipelines
	// wait for the disk once for them all. The caller must Commit before
	// the APPEND's reply goes out, and before any command but another
	// APPEND (imapd's connection filter does both).
	GroupCommit bool
}

// Unsynced reports whether APPENDs wrote what Commit is yet to sync (or
// whose sync failed). Any goroutine may ask.
func (s *Session) Unsynced() bool {
	st := s.shared.Load()
	return st != nil && st.unsynced.Load()
}

// Commit syncs what APPENDs wrote since the last Commit and lets their
// folder go. Once it has failed it keeps failing: the session must end
// without saying those APPENDs were done.
func (s *Session) Commit() error {
	if s.st == nil {
		return nil
	}
	return s.st.commit()
}

var (
	_ imapserver.SessionNamespace   = (*Session)(nil)
	_ imapserver.SessionMove        = (*Session)(nil)
	_ imapserver.SessionAppendLimit = (*Session)(nil)
)

// NewSession starts a session that must log in first.
func NewSession(login LoginFunc) *Session { return &Session{login: login} }

// NewPreauthSession starts a session for a user already known (imapd run
// by the user itself, over ssh).
func NewPreauthSession(st *Store) *Session {
	s := &Session{st: st}
	s.shared.Store(st)
	return s
}

// selected is the mailbox a client has selected, as the client knows it.
type selected struct {
	name, path string
	readOnly   bool
	snap       *snapshot
	msgs       []viewMsg // in sequence order
	uidNext    uint32    // the first UID the client has not been told of
	validity   uint32
	file       *os.File // for reading messages; reopened when the inode changes
	cache      structCache
	newRecent  map[uint32]bool // \Recent messages not yet announced
	envs       *envCache       // nil until an ENVELOPE is fetched
	hdrBuf     []byte          // rawHeader's
	wireBuf    []byte          // appendDirect's, for an envelope made there
	batch      batch           // flag changes not yet written
	// pending, when not nil, is the index SELECT answered from alone:
	// snap and msgs are made from it when a command first needs them.
	pending *pendingView
	// synced is the snapshot msgs was last made level with, nothing left
	// to expunge, when msgs held syncedLen messages, syncedRecent of them
	// \Recent (see report).
	synced                  *snapshot
	syncedLen, syncedRecent int
}

// pendingView is a big folder's saved index, mapped, that fitted the file
// exactly when it was selected (its stamp then).
type pendingView struct {
	m     *mbox.IndexMap
	stamp stamp
}

type viewMsg struct {
	uid      uint32
	flags    mbox.Flags
	recent   bool
	batched  bool // delta is the session's change, not yet written
	keywords []string
	delta    delta
}

// Close ends the session however the connection ended: the flag changes
// not yet written are written first.
func (s *Session) Close() error {
	cerr := s.Commit()
	err := errors.Join(cerr, s.Flush())
	if s.sel != nil {
		s.sel.close()
		s.sel = nil
	}
	if s.st != nil && s.st.spoolFile != nil {
		s.st.spoolFile.Close()
		s.st.spoolFile = nil
	}
	return err
}

// leave writes the selected folder's flag changes and lets it go; when
// they cannot be written (the folder locked too long) it stays selected,
// the changes kept, and the command fails.
func (s *Session) leave() error {
	if s.sel == nil {
		return nil
	}
	if err := s.Flush(); err != nil {
		return err
	}
	s.sel.close()
	s.sel = nil
	return nil
}

func (sel *selected) close() {
	if pv := sel.pending; pv != nil {
		if sel.envs != nil && sel.envs.changed() {
			// Envelopes fetched while pending are kept too.
			if idx, err := pv.m.Index(); err == nil {
				sel.envs.save(idx.Entries)
			}
		}
		pv.m.Close()
		sel.pending = nil
	} else {
		sel.snap.save(sel.path)
		if sel.envs != nil {
			sel.envs.save(sel.snap.entries)
		}
	}
	if sel.envs != nil {
		sel.envs.close()
	}
	if sel.file != nil {
		sel.file.Close()
		sel.file = nil
	}
}

func (s *Session) Login(user, password string) error {
	return s.LoginWith(user, password, "LOGIN")
}

// LoginWith is Login for a SASL mechanism.
func (s *Session) LoginWith(user, password, method string) error {
	if s.login == nil {
		return &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Already authenticated"}
	}
	if s.Hook != nil {
		if err := s.Hook(); err != nil {
			return err
		}
	}
	st, err := s.login(user, password, method)
	if err != nil {
		return err
	}
	s.st = st
	s.shared.Store(st)
	return nil
}

func errReadOnly() error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: "READ-ONLY", Text: "Mailbox is read-only (EXAMINE)"}
}

// Select opens a mailbox. Read-write, the messages new to it lose \Recent
// in the file (Status: O) as UW-IMAP and Dovecot mark them, so the next
// session sees them as old.
func (s *Session) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	if err := s.leave(); err != nil {
		return nil, err
	}
	path, err := s.st.selectable(name)
	if err != nil {
		return nil, err
	}
	if isInbox(name) {
		name = "INBOX"
	}
	sel := &selected{name: name, path: path, readOnly: options.ReadOnly, cache: newStructCache()}
	if pv, sum, err := s.st.peek(path, sel.readOnly); err != nil {
		return nil, err
	} else if pv != nil {
		sel.pending = pv
		sel.validity, sel.uidNext = sum.UIDValidity, sum.LastUID+1
		s.st.limitMemory(sum.Messages)
		s.sel = sel
		return s.selectData(sel, sum.Keywords, sum.Messages, sum.Recent, sum.FirstUnseen), nil
	}
	snap, err := s.st.readSnapshot(path, nil)
	if err != nil {
		return nil, err
	}
	var recent map[uint32]bool
	if !snap.complete() || !snap.hasBase || (!sel.readOnly && hasNew(snap, 0)) {
		claimed, r, err := s.st.claim(path, snap, !sel.readOnly)
		if err != nil && !roomless(err, snap) {
			return nil, err
		}
		if err == nil {
			snap, recent = claimed, r
		}
	}
	if recent == nil {
		recent = recentOf(snap)
	}
	nRecent, firstUnseen := sel.show(snap, recent)
	s.st.limitMemory(len(sel.msgs))
	s.sel = sel
	return s.selectData(sel, snap.base.Keywords, len(sel.msgs), nRecent, firstUnseen), nil
}

// roomless reports whether claiming snap failed only for want of room on
// the disk while every message has its lasting UID already: the folder is
// shown as it is, its new mail \Recent again to the next session.
func roomless(err error, snap *snapshot) bool {
	var ie *imap.Error
	return errors.As(err, &ie) && ie.Code == imap.ResponseCodeOverQuota && snap.complete() && snap.hasBase
}

// recentOf is the UIDs of snap's \Recent messages.
func recentOf(snap *snapshot) map[uint32]bool {
	recent := map[uint32]bool{}
	for i := range snap.entries {
		if snap.recent(i) {
			recent[snap.entries[i].UID] = true
		}
	}
	return recent
}

// show makes snap, with the \Recent messages in recent, what the client
// is shown of the folder, and gives how many are \Recent and the position
// of the first not \Seen (-1 for none).
func (sel *selected) show(snap *snapshot, recent map[uint32]bool) (nRecent, firstUnseen int) {
	sel.snap = snap
	sel.validity = snap.base.UIDValidity
	if sel.validity == 0 {
		// An empty mailbox we could not write: its UIDs start with the
		// first message, whenever that comes.
		sel.validity = uint32(snap.stamp.mtime / int64(time.Second))
		if sel.validity == 0 {
			sel.validity = 1
		}
	}
	firstUnseen = -1
	sel.msgs = make([]viewMsg, 0, len(snap.entries))
	for i := range snap.entries {
		e := &snap.entries[i]
		m := viewMsg{uid: e.UID, flags: e.Flags, keywords: e.Keywords, recent: recent[e.UID]}
		sel.msgs = append(sel.msgs, m)
		if m.recent {
			nRecent++
		}
		if e.Flags&mbox.Seen == 0 && firstUnseen < 0 {
			firstUnseen = i
		}
	}
	sel.uidNext = snap.uidNext()
	return nRecent, firstUnseen
}

// selectData is SELECT's answer for sel, which holds messages of which
// recent are \Recent and the one at firstUnseen (-1: none) is the first
// not \Seen.
func (s *Session) selectData(sel *selected, keywords []string, messages, recent, firstUnseen int) *imap.SelectData {
	data := &imap.SelectData{UIDValidity: sel.validity, UIDNext: imap.UID(sel.uidNext),
		NumMessages: uint32(messages), NumRecent: uint32(recent), FirstUnseenSeqNum: uint32(firstUnseen + 1)}
	data.Flags = mailboxFlags(keywords)
	if !sel.readOnly {
		data.PermanentFlags = append(slices.Clone(data.Flags), imap.FlagWildcard)
	}
	data.List = s.selectList(sel.name)
	return data
}

// peek answers SELECT of a big folder from its saved index alone, where
// the index is the scan of the file as it is (so nothing would be read
// nor numbered) and selecting it changes nothing (read-only, or no
// message \Recent): decoding a 50,000-message index is most of what a
// SELECT would otherwise cost, for a client that may only look, or wait
// for mail. It gives nil where the folder must be read as usual.
func (st *Store) peek(path string, readOnly bool) (*pendingView, mbox.IndexSummary, error) {
	if st.snaps[path] != nil {
		return nil, mbox.IndexSummary{}, nil // this session's scan is at hand
	}
	mb, err := mbox.Open(path, mbox.OpenOptions{ReadOnly: true, Owner: st.opts.Owner, Lock: st.opts.Lock, Warn: st.opts.Log.Warn, NoDotLockOK: true})
	if err != nil {
		return nil, mbox.IndexSummary{}, nil // readSnapshot tells
	}
	defer mb.Close()
	stp, err := stampOf(mb.File)
	if err != nil || stp.size < mbox.LazyFrom() {
		return nil, mbox.IndexSummary{}, err
	}
	m, err := mbox.MapIndex(mbox.IndexPath(path))
	if m == nil {
		return nil, mbox.IndexSummary{}, err
	}
	sum := m.Summary()
	if exact, err := m.Exact(mb.File); err != nil || !exact || !readOnly && sum.Recent > 0 {
		m.Close()
		return nil, mbox.IndexSummary{}, err
	}
	return &pendingView{m: m, stamp: stp}, sum, nil
}

// fresh reports whether the file at path is as it was when selected.
func (pv *pendingView) fresh(path string) bool {
	f, err := os.OpenFile(path, os.O_RDONLY|noFollow, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	stp, err := stampOf(f)
	return err == nil && stp == pv.stamp
}

// ready makes the view a SELECT answered from the index alone (pending)
// showed the client: its snapshot as the index held it then, which the
// mapping still holds whatever was saved since.
func (s *Session) ready(sel *selected) error {
	pv := sel.pending
	if pv == nil {
		return nil
	}
	sel.pending = nil
	defer collectorOff()()
	defer pv.m.Close()
	idx, err := pv.m.Index()
	if err != nil {
		return err
	}
	if got, told := idx.Summary(), pv.m.Summary(); got.Messages != told.Messages || got.Recent != told.Recent || got.FirstUnseen != told.FirstUnseen {
		// SELECT's answer came from the counts the index's records end
		// with, which only a writer other than ours could have made
		// disagree with the entries: the entries are the truth.
		s.st.opts.Log.Warn("index of %s: its counts said %d messages, %d recent, first unseen %d; its entries %d, %d, %d",
			sel.path, told.Messages, told.Recent, told.FirstUnseen, got.Messages, got.Recent, got.FirstUnseen)
	}
	snap := newSnapshot(idx, pv.stamp)
	snap.saved = true
	if s.st.snaps[sel.path] == nil {
		s.st.remember(sel.path, snap)
	}
	sel.show(snap, recentOf(snap))
	return nil
}

// hasNew reports whether messages from UID from on are \Recent. Below it
// are those a session was shown: claimed then if they were new.
func hasNew(snap *snapshot, from uint32) bool {
	// Entries are in UID order, and none below RecentFrom is \Recent.
	from = max(from, snap.idx.RecentFrom)
	first := sort.Search(len(snap.entries), func(i int) bool { return snap.entries[i].UID >= from })
	for i := first; i < len(snap.entries); i++ {
		if snap.recent(i) {
			return true
		}
	}
	return false
}

// claim gives every message of the folder its UID and, when mark is set,
// makes the new ones old, in one locked rewrite (of the index alone where
// the folder is lazy: its RecentFrom). It returns the UIDs that were new
// (\Recent for this session). An empty folder gets UW's pseudo-message so
// that its UIDVALIDITY lasts.
func (st *Store) claim(path string, prev *snapshot, mark bool) (*snapshot, map[uint32]bool, error) {
	lf, err := st.openLocked(path, isInboxPath(st, path), prev)
	if err != nil {
		if prev != nil && len(prev.entries) == 0 {
			// A mailbox we may not write is still readable when empty.
			return prev, nil, nil
		}
		return nil, nil, err
	}
	defer lf.close()
	if len(lf.snap.idx.Entries) == 0 {
		if err := st.writePseudo(lf, &mbox.Base{UIDValidity: uint32(st.now().Unix())}); err != nil {
			return nil, nil, err
		}
	}
	recent := map[uint32]bool{}
	changes := map[int]change{}
	for i := range lf.snap.entries {
		e := &lf.snap.entries[i]
		if !lf.snap.recent(i) {
			continue
		}
		recent[e.UID] = true
		if mark {
			ns, was := e.State, e.State
			ns.Flags |= mbox.Old
			changes[i] = change{state: &ns, was: &was}
		}
	}
	if len(changes) > 0 && lf.snap.lazy() {
		lf.snap.idx.RecentFrom = lf.snap.idx.LastUID + 1
		lf.snap.saved = false
		if lf.snap.save(path) {
			changes = nil
		}
	}
	if len(changes) > 0 {
		if err := st.rewrite(lf, changes); err != nil {
			return nil, nil, err
		}
	}
	return lf.snap, recent, nil
}

func isInboxPath(st *Store, path string) bool { return path == st.opts.Inbox }

// writePseudo starts an empty folder with UW's pseudo-message holding b,
// which keeps its UIDVALIDITY while it has no mail (c-client and Dovecot
// hide it).
func (st *Store) writePseudo(lf *lockedFolder, b *mbox.Base) error {
	if err := lf.mb.Append(noCancel, func(w ioWriter) error { return mbox.WritePseudo(w, b) }); err != nil {
		return err
	}
	snap, err := st.scan(lf.mb.File, nil)
	if err != nil {
		return err
	}
	lf.snap = snap
	return nil
}

// flagRecent is RFC 3501's \Recent; the library, made for IMAP4rev2, has none.
const flagRecent imap.Flag = "\\Recent"

var systemFlags = []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft}

func mailboxFlags(keywords []string) []imap.Flag {
	out := slices.Clone(systemFlags)
	for _, k := range keywords {
		out = append(out, imap.Flag(k))
	}
	return out
}

func (s *Session) Unselect() error { return s.leave() }

func (s *Session) Create(name string, _ *imap.CreateOptions) error { return s.st.Create(name) }
func (s *Session) Delete(name string) error                        { return s.st.Delete(name) }
func (s *Session) Rename(from, to string, _ *imap.RenameOptions) error {
	return s.st.Rename(from, to)
}
func (s *Session) Subscribe(name string) error   { return s.st.Subscribe(name, true) }
func (s *Session) Unsubscribe(name string) error { return s.st.Subscribe(name, false) }

func (s *Session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: Delim}}}, nil
}

func (s *Session) AppendLimit() uint32 {
	if l := s.st.opts.AppendLimit; l > 0 && l < 1<<32 {
		return uint32(l)
	}
	return 1<<32 - 1
}

// List serves LIST and LSUB, with the LIST-EXTENDED selection and return
// options and LIST-STATUS.
func (s *Session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	if len(patterns) == 1 && patterns[0] == "" {
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: Delim})
	}
	subs, err := s.st.subscriptions()
	if err != nil {
		return err
	}
	folders := s.st.folders()
	seen := map[string]bool{}
	match := func(name string) bool {
		for _, p := range patterns {
			if matchList(name, ref, p) {
				return true
			}
		}
		return false
	}
	for i := range folders {
		f := &folders[i]
		seen[f.name] = true
		if !match(f.name) {
			continue
		}
		if options.SelectSubscribed && !subs[f.name] {
			continue
		}
		attrs := f.attrs()
		if options.SelectSpecialUse && !hasSpecialUse(attrs) {
			continue
		}
		if subs[f.name] && (options.ReturnSubscribed || options.SelectSubscribed) {
			attrs = append(attrs, imap.MailboxAttrSubscribed)
		}
		data := &imap.ListData{Attrs: attrs, Delim: Delim, Mailbox: f.name}
		if options.ReturnStatus != nil && f.kind == kindMbox {
			if st, err := s.Status(f.name, options.ReturnStatus); err == nil {
				data.Status = st
			}
		}
		if err := w.WriteList(data); err != nil {
			return err
		}
	}
	if options.SelectSubscribed {
		// Subscribed names that no longer exist are still listed.
		names := make([]string, 0, len(subs))
		for n := range subs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if seen[n] || !match(n) {
				continue
			}
			data := &imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNonExistent, imap.MailboxAttrSubscribed}, Delim: Delim, Mailbox: n}
			if err := w.WriteList(data); err != nil {
				return err
			}
		}
	}
	return nil
}

func hasSpecialUse(attrs []imap.MailboxAttr) bool {
	for _, a := range attrs {
		switch a {
		case imap.MailboxAttrSent, imap.MailboxAttrDrafts, imap.MailboxAttrTrash, imap.MailboxAttrJunk, imap.MailboxAttrArchive:
			return true
		}
	}
	return false
}

// Status answers from a scan of the file, which costs a stat and a small
// read when the index is current. Every item asked for is filled in.
func (s *Session) Status(name string, options *imap.StatusOptions) (*imap.StatusData, error) {
	path, err := s.st.selectable(name)
	if err != nil {
		return nil, err
	}
	var prev *snapshot
	if s.sel != nil && s.sel.path == path {
		if err := s.ready(s.sel); err != nil {
			return nil, err
		}
		// Its counts include this session's flag changes.
		if err := s.flush(false); err != nil {
			return nil, err
		}
		prev = s.sel.snap
	} else if pv, sum, err := s.st.peek(path, true); err != nil {
		return nil, err
	} else if pv != nil {
		// A big folder whose index fits: counted off the index (clients
		// poll every folder's STATUS).
		pv.m.Close()
		if !options.Size || sum.ClientSize >= 0 {
			c := statusCounts{uint32(sum.Messages), uint32(sum.Recent), uint32(sum.Unseen), uint32(sum.Deleted), sum.ClientSize}
			return s.statusData(name, options, sum.LastUID+1, sum.UIDValidity, c), nil
		}
	}
	snap, err := s.st.readSnapshot(path, prev)
	if err != nil {
		return nil, err
	}
	if !snap.complete() || (options.UIDValidity && !snap.hasBase) {
		if snap, _, err = s.st.claim(path, snap, false); err != nil {
			return nil, err
		}
	}
	var c statusCounts
	for i := range snap.entries {
		e := &snap.entries[i]
		c.messages++
		if snap.recent(i) {
			c.recent++
		}
		if e.Flags&mbox.Seen == 0 {
			c.unseen++
		}
		if e.Flags&mbox.Deleted != 0 {
			c.deleted++
		}
	}
	if options.Size {
		if c.size, err = s.folderSize(path, snap); err != nil {
			return nil, err
		}
	}
	return s.statusData(name, options, snap.uidNext(), snap.base.UIDValidity, c), nil
}

// statusCounts is what STATUS counts of a folder; size only when asked.
type statusCounts struct {
	messages, recent, unseen, deleted uint32
	size                              int64
}

// statusData is STATUS's answer: every item filled in (the library sends
// those asked for), the size when asked.
func (s *Session) statusData(name string, options *imap.StatusOptions, uidNext, validity uint32, c statusCounts) *imap.StatusData {
	data := &imap.StatusData{Mailbox: name, UIDNext: imap.UID(uidNext), UIDValidity: validity}
	if data.UIDValidity == 0 {
		data.UIDValidity = 1
	}
	data.NumMessages, data.NumRecent, data.NumUnseen, data.NumDeleted = &c.messages, &c.recent, &c.unseen, &c.deleted
	if options.Size {
		data.Size = &c.size
	}
	limit := s.AppendLimit()
	data.AppendLimit = &limit
	var zero int64
	data.DeletedStorage = &zero
	return data
}

// folderSize is STATUS SIZE: the sum of the messages' RFC822.SIZE, from
// the index; the file is read only for a message whose size the scan
// could not tell.
func (s *Session) folderSize(path string, snap *snapshot) (int64, error) {
	var size int64
	var f *os.File
	for i := range snap.entries {
		e := &snap.entries[i]
		if e.ClientSize >= 0 {
			size += e.ClientSize
			continue
		}
		if f == nil {
			var err error
			if f, err = os.Open(path); err != nil {
				return 0, fmt.Errorf("status size: %w", err)
			}
			defer f.Close()
		}
		size += messageSize(f, e)
	}
	return size, nil
}

// Poll reports what other programs changed in the selected mailbox since
// the client last heard: new messages, flags, and (when allowed) expunges.
func (s *Session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	if s.sel == nil {
		return nil
	}
	if pv := s.sel.pending; pv != nil {
		if pv.fresh(s.sel.path) {
			return nil // nothing to tell
		}
		if err := s.ready(s.sel); err != nil {
			return err
		}
	}
	if err := s.flushIfDue(); err != nil {
		return err
	}
	if err := s.refresh(); err != nil {
		return err
	}
	return s.report(w, allowExpunge)
}

// refresh brings the snapshot of the selected mailbox up to date, giving
// new mail its UIDs (and, read-write, marking it seen by a session).
func (s *Session) refresh() error {
	sel := s.sel
	snap, err := s.st.readSnapshot(sel.path, sel.snap)
	if err != nil {
		return err
	}
	if snap == sel.snap {
		return nil
	}
	var recent map[uint32]bool
	if !snap.complete() || (!sel.readOnly && hasNew(snap, sel.uidNext)) {
		claimed, r, err := s.st.claim(sel.path, snap, !sel.readOnly)
		if err != nil && !roomless(err, snap) {
			return err
		}
		if err == nil {
			snap, recent = claimed, r
		}
	}
	if recent == nil {
		recent = map[uint32]bool{}
		// Only messages the client has not heard of can be \Recent to it.
		for i := sort.Search(len(snap.entries), func(i int) bool { return snap.entries[i].UID >= sel.uidNext }); i < len(snap.entries); i++ {
			if snap.recent(i) {
				recent[snap.entries[i].UID] = true
			}
		}
	}
	if snap.base.UIDValidity != 0 && len(sel.msgs) > 0 && snap.base.UIDValidity != sel.validity {
		return &imap.Error{Type: imap.StatusResponseTypeBye, Text: "Mailbox renumbered by another program (UIDVALIDITY changed)"}
	}
	if len(sel.msgs) == 0 && snap.base.UIDValidity != 0 {
		sel.validity = snap.base.UIDValidity
	}
	for uid := range recent {
		if uid >= sel.uidNext {
			sel.pendingRecent(uid)
		}
	}
	sel.snap = snap
	return nil
}

// pendingRecent notes a new message as \Recent for this session; it is
// shown when the message is announced.
func (sel *selected) pendingRecent(uid uint32) {
	if sel.newRecent == nil {
		sel.newRecent = map[uint32]bool{}
	}
	sel.newRecent[uid] = true
}

// report tells the client what changed between what it knows and the
// snapshot: EXPUNGE (last first, so numbers stay right), FETCH FLAGS, EXISTS.
func (s *Session) report(w *imapserver.UpdateWriter, allowExpunge bool) error {
	sel := s.sel
	snap := sel.snap
	if sel.onlyAdded(snap) {
		return s.reportNew(w, len(sel.synced.entries), sel.syncedRecent)
	}
	// Both lists are in UID order: walked side by side, with no map, a
	// command on a big folder costs little when nothing changed.
	if allowExpunge {
		var gone []int
		j := 0
		for i := range sel.msgs {
			u := sel.msgs[i].uid
			for j < len(snap.entries) && snap.entries[j].UID < u {
				j++
			}
			if j == len(snap.entries) || snap.entries[j].UID != u {
				gone = append(gone, i)
			}
		}
		for k := len(gone) - 1; k >= 0; k-- {
			i := gone[k]
			if err := w.WriteExpunge(uint32(i + 1)); err != nil {
				return err
			}
			if sel.msgs[i].batched {
				sel.batch.n--
			}
			sel.msgs = slices.Delete(sel.msgs, i, i+1)
		}
	}
	j := 0
	for i := range sel.msgs {
		m := &sel.msgs[i]
		for j < len(snap.entries) && snap.entries[j].UID < m.uid {
			j++
		}
		if j == len(snap.entries) || snap.entries[j].UID != m.uid {
			continue
		}
		e := m.shownState(&snap.entries[j])
		if visible(e.Flags) != visible(m.flags) || !slices.Equal(e.Keywords, m.keywords) {
			m.flags, m.keywords = e.Flags, e.Keywords
			if err := w.WriteMessageFlags(uint32(i+1), imap.UID(m.uid), s.flagsOf(m)); err != nil {
				return err
			}
		}
	}
	recent := 0
	for i := range sel.msgs {
		if sel.msgs[i].recent {
			recent++
		}
	}
	sel.synced = nil
	if allowExpunge {
		sel.synced, sel.syncedLen = snap, len(sel.msgs)
	}
	return s.reportNew(w, sort.Search(len(snap.entries), func(i int) bool { return snap.entries[i].UID >= sel.uidNext }), recent)
}

// onlyAdded reports whether snap is the snapshot msgs was last made level
// with, with entries added and nothing else changed: the same entries, in
// the same array (a rescan or a rewrite makes a new one), msgs and the
// session's flag changes as they were then. An APPEND to a big folder then
// costs the session the messages it added, not a walk of all of them.
func (sel *selected) onlyAdded(snap *snapshot) bool {
	was := sel.synced
	return was != nil && len(sel.msgs) == sel.syncedLen && sel.batch.n == 0 &&
		len(was.entries) > 0 && len(snap.entries) >= len(was.entries) && &snap.entries[0] == &was.entries[0]
}

// reportNew announces snap's entries from the first new one on (EXISTS,
// RECENT), recent of msgs being \Recent before them, and notes msgs level
// with snap.
func (s *Session) reportNew(w *imapserver.UpdateWriter, first, recent int) error {
	sel := s.sel
	snap := sel.snap
	added := 0
	for i := first; i < len(snap.entries); i++ {
		e := &snap.entries[i]
		r := sel.newRecent[e.UID]
		delete(sel.newRecent, e.UID)
		sel.msgs = append(sel.msgs, viewMsg{uid: e.UID, flags: e.Flags, keywords: e.Keywords, recent: r})
		added++
		if r {
			recent++
		}
	}
	if sel.synced != nil {
		sel.synced, sel.syncedLen, sel.syncedRecent = snap, len(sel.msgs), recent
	}
	if added > 0 {
		sel.uidNext = snap.uidNext()
		if err := w.WriteNumMessages(uint32(len(sel.msgs))); err != nil {
			return err
		}
		if err := w.WriteNumRecent(uint32(recent)); err != nil {
			return err
		}
	}
	return nil
}

// visible leaves out the flag IMAP does not show as such.
func visible(f mbox.Flags) mbox.Flags { return f &^ mbox.Old }

func (s *Session) flagsOf(m *viewMsg) []imap.Flag {
	var out []imap.Flag
	for _, p := range flagMap {
		if m.flags&p.bit != 0 {
			out = append(out, p.flag)
		}
	}
	for _, k := range m.keywords {
		out = append(out, imap.Flag(k))
	}
	if m.recent && !s.rev2.Load() {
		out = append(out, flagRecent)
	}
	return out
}

var flagMap = []struct {
	flag imap.Flag
	bit  mbox.Flags
}{
	{imap.FlagSeen, mbox.Seen},
	{imap.FlagAnswered, mbox.Answered},
	{imap.FlagFlagged, mbox.Flagged},
	{imap.FlagDeleted, mbox.Deleted},
	{imap.FlagDraft, mbox.Draft},
}

// Idle tells the client of new mail, flag changes and expunges by other
// programs as they happen: woken by inotify where the file system allows,
// else looking at the file every Poll interval.
func (s *Session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	every := s.st.opts.Poll
	var wake <-chan struct{}
	if s.sel != nil {
		if wt, err := watchFile(s.sel.path); err == nil {
			defer wt.close()
			wake = wt.wake
			every *= watchedPollFactor
		} else if !errors.Is(err, errNoWatch) {
			s.st.opts.Log.Info("idle on %s polls the file: %v", s.sel.path, err)
		}
	}
	// What changed between the last command and the watch's start.
	if err := s.idlePoll(w); err != nil {
		return err
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return nil
		case <-wake:
		case <-t.C:
		}
		if err := s.idlePoll(w); err != nil {
			return err
		}
	}
}

// idlePoll is Poll from IDLE's goroutine, which the connection's reader
// may meanwhile ask to write the flag changes (Flush): they take turns.
func (s *Session) idlePoll(w *imapserver.UpdateWriter) error {
	if s.sel == nil {
		return nil
	}
	s.sel.batch.mu.Lock()
	defer s.sel.batch.mu.Unlock()
	return s.Poll(w, true)
}

// watchedPollFactor: a watched folder is still looked at now and then, in
// case a write escaped inotify (through a mapping, say).
const watchedPollFactor = 30

// indexes turns a sequence or UID set into indexes of sel.msgs, ascending.
func (sel *selected) indexes(numSet imap.NumSet) ([]int, error) {
	return indexesOf(numSet, len(sel.msgs), func(i int) uint32 { return sel.msgs[i].uid })
}

// indexesOf turns a sequence or UID set into indexes of a view of count
// messages, the one at i of UID uidAt(i), ascending.
func indexesOf(numSet imap.NumSet, count int, uidAt func(i int) uint32) ([]int, error) {
	var out []int
	switch set := numSet.(type) {
	case imap.SeqSet:
		n := uint32(count)
		for _, r := range set {
			start, stop := bounds(r.Start, r.Stop, n)
			if stop > n {
				if start > n || n == 0 {
					return nil, &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Message sequence number out of range"}
				}
				stop = n
			}
			if start > 0 && start <= stop {
				out = slices.Grow(out, int(stop-start+1))
			}
			for i := start; i <= stop && i > 0; i++ {
				out = append(out, int(i-1))
			}
		}
	case imap.UIDSet:
		last := uint32(0)
		if count > 0 {
			last = uidAt(count - 1)
		}
		for _, r := range set {
			start, stop := bounds(uint32(r.Start), uint32(r.Stop), last)
			lo := sort.Search(count, func(i int) bool { return uidAt(i) >= start })
			for i := lo; i < count && uidAt(i) <= stop; i++ {
				out = append(out, i)
			}
		}
	default:
		return nil, fmt.Errorf("unknown number set %T", numSet)
	}
	if !slices.IsSorted(out) { // as 1:* is, and most sets
		slices.Sort(out)
	}
	return slices.Compact(out), nil
}

// entry finds a message of the view in the current snapshot.
func (sel *selected) entry(uid uint32) *mbox.Entry { return sel.snap.entry(uid) }

// entry finds a message of the snapshot by UID.
func (s *snapshot) entry(uid uint32) *mbox.Entry {
	es := s.entries
	i := sort.Search(len(es), func(i int) bool { return es[i].UID >= uid })
	if i < len(es) && es[i].UID == uid {
		return &es[i]
	}
	return nil
}

func (s *Session) needSelected() (*selected, error) {
	if s.sel == nil {
		return nil, errors.New("no mailbox selected")
	}
	if err := s.ready(s.sel); err != nil {
		return nil, err
	}
	return s.sel, nil
}

// applyFlags is STORE's change to one message's state.
func applyFlags(st mbox.State, op imap.StoreFlagsOp, flags []imap.Flag) mbox.State {
	var bits mbox.Flags
	var kws []string
	for _, f := range flags {
		matched := false
		for _, p := range flagMap {
			if strings.EqualFold(string(f), string(p.flag)) {
				bits |= p.bit
				matched = true
			}
		}
		if !matched && !strings.HasPrefix(string(f), "\\") {
			kws = append(kws, string(f))
		}
	}
	out := mbox.State{UID: st.UID, Flags: st.Flags, Keywords: slices.Clone(st.Keywords)}
	switch op {
	case imap.StoreFlagsSet:
		out.Flags = st.Flags&mbox.Old | bits
		out.Keywords = kws
	case imap.StoreFlagsAdd:
		out.Flags |= bits
		for _, k := range kws {
			if !slices.Contains(out.Keywords, k) {
				out.Keywords = append(out.Keywords, k)
			}
		}
	case imap.StoreFlagsDel:
		out.Flags &^= bits
		out.Keywords = slices.DeleteFunc(out.Keywords, func(k string) bool { return slices.Contains(kws, k) })
	}
	return out
}
