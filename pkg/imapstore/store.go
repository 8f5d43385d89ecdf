// Package imapstore is imapd's storage: the imapserver.Session of go-imap
// over a user's mbox files. INBOX is the user's mailbox; every other folder
// is an mbox file under folder_dir. All state lives in the files, in the
// headers mutt, Dovecot and UW-IMAP use, so that every other program and
// every other imapd process sees the same UIDs and flags.
package imapstore

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"

	"unixmail/pkg/lock"
	"unixmail/pkg/maillog"
	"unixmail/pkg/mbox"
)

// Options are one user's storage.
type Options struct {
	Inbox       string // the user's mailbox file
	FolderDir   string // where other folders live
	Owner       int    // uid every mailbox must belong to; -1 = unchecked
	AppendLimit int64  // largest message APPEND takes; 0 = no limit
	Lock        lock.Options
	Log         *maillog.Logger
	Now         func() time.Time
	// Poll is how often IDLE looks at the selected folder's file.
	Poll time.Duration
	// LimitMemory: the process serves this store alone, and its heap is
	// kept near what the selected folder needs (see limitMemory).
	LimitMemory bool
}

// Store is one user's folders.
type Store struct {
	opts  Options
	snaps map[string]*snapshot // the last scan of each folder, by path
	// held is the folder a session's APPENDs (GroupCommit) keep locked,
	// what they wrote not yet synced; commit syncs it and lets it go.
	held *lockedFolder
	// syncErr is a failed commit's error: the writes it was to make last
	// may not have, and no reply may say otherwise.
	syncErr  error
	unsynced atomic.Bool // held or syncErr is set; read by other goroutines
	// spoolFile is the last spool's file, empty, for the next one.
	spoolFile *os.File
	share     share // paces the locking of a folder for other programs' sake
}

// New makes the store for one user.
func New(o Options) *Store {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Poll == 0 {
		o.Poll = time.Second
	}
	return &Store{opts: o}
}

func (st *Store) now() time.Time { return st.opts.Now() }

// limitMemory sets a soft limit on the heap for a session on a folder of n
// messages. What it holds live is about 700 bytes a message (the index
// entry, the view, the batch), but writing the flags of 50,000 makes
// garbage many times that, which the default GC pacing lets RSS follow to
// over 100 MiB; the limit keeps it near 64 MiB for a little GC work, and
// grows with the folder so that a bigger one never makes the GC run
// without end.
func (st *Store) limitMemory(n int) {
	if st.opts.LimitMemory {
		debug.SetMemoryLimit(max(48<<20, int64(n)<<10))
	}
}

// path resolves a mailbox name to its file.
func (st *Store) path(name string) (string, error) {
	if isInbox(name) {
		return st.opts.Inbox, nil
	}
	return folderPath(st.opts.FolderDir, name)
}

// openError turns a refusal to open a mailbox into what the client sees.
func (st *Store) openError(path string, err error) error {
	if e := st.noSpace(path, err); e != nil {
		return e
	}
	switch {
	case errors.Is(err, os.ErrNotExist):
		return errTryCreate(filepath.Base(path))
	case errors.Is(err, mbox.ErrUnsafe):
		st.opts.Log.Warn("refused mailbox %s: %v", path, err)
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNoPerm, Text: "Mailbox refused: not a plain file of yours"}
	case errors.Is(err, lock.ErrTimeout):
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeInUse, Text: "Mailbox is locked by another program, try again"}
	}
	return err
}

// noSpace is the client's NO for a write to path that failed on a full
// disk or quota (Dovecot's words and code), logged for the admin; nil
// for any other failure.
func (st *Store) noSpace(path string, err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		st.opts.Log.Warn("mailbox=%s: %v", path, err)
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeOverQuota, Text: "Not enough disk space"}
	}
	return nil
}

// selectable finds the file of a mailbox that may be opened.
func (st *Store) selectable(name string) (string, error) {
	p, err := st.path(name)
	if err != nil {
		return "", err
	}
	if isInbox(name) {
		return p, nil
	}
	switch kindOf(p) {
	case kindMbox:
		return p, nil
	case kindNone:
		return "", errNoMailbox(name)
	}
	return "", &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Not a mailbox: " + name}
}

// Create makes an empty folder; a name ending in the delimiter makes a
// directory for sub-folders only (RFC 3501 6.3.3).
func (st *Store) Create(name string) error {
	dirOnly := strings.HasSuffix(name, string(Delim))
	name = strings.TrimRight(name, string(Delim))
	if isInbox(name) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAlreadyExists, Text: "INBOX always exists"}
	}
	p, err := st.path(name)
	if err != nil {
		return err
	}
	if kindOf(p) != kindNone {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAlreadyExists, Text: "Mailbox exists: " + name}
	}
	if err := os.MkdirAll(filepath.Dir(p), 0700); err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	if dirOnly {
		return os.Mkdir(p, 0700)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|noFollow, 0600)
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	return f.Close()
}

// Delete removes a folder: an mbox file, or an empty directory. A file
// that is not an mbox is never removed.
func (st *Store) Delete(name string) error {
	name = strings.TrimRight(name, string(Delim))
	if isInbox(name) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "INBOX cannot be deleted"}
	}
	p, err := st.path(name)
	if err != nil {
		return err
	}
	switch kindOf(p) {
	case kindNone:
		return errNoMailbox(name)
	case kindOther:
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Not a mailbox: " + name}
	case kindDir:
		if err := os.Remove(p); err != nil {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeHasChildren, Text: "Mailbox has sub-folders"}
		}
		return nil
	}
	mb, err := mbox.Open(p, mbox.OpenOptions{Owner: st.opts.Owner, Lock: st.opts.Lock, Warn: st.opts.Log.Warn})
	if err != nil {
		return st.openError(p, err)
	}
	defer mb.Close()
	os.Remove(mbox.IndexPath(p))
	os.Remove(envCachePath(p))
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// Rename moves a folder. Renaming INBOX moves its messages to the new
// folder and leaves INBOX empty (RFC 3501 6.3.5).
func (st *Store) Rename(from, to string) error {
	from = strings.TrimRight(from, string(Delim))
	to = strings.TrimRight(to, string(Delim))
	np, err := st.path(to)
	if err != nil {
		return err
	}
	if isInbox(to) || kindOf(np) != kindNone {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAlreadyExists, Text: "Mailbox exists: " + to}
	}
	if isInbox(from) {
		return st.renameInbox(np)
	}
	op, err := st.path(from)
	if err != nil {
		return err
	}
	if k := kindOf(op); k == kindNone {
		return errNoMailbox(from)
	} else if k == kindOther {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Not a mailbox: " + from}
	}
	if err := os.MkdirAll(filepath.Dir(np), 0700); err != nil {
		return fmt.Errorf("rename %s: %w", from, err)
	}
	if err := os.Rename(op, np); err != nil {
		return fmt.Errorf("rename %s: %w", from, err)
	}
	os.Rename(mbox.IndexPath(op), mbox.IndexPath(np))
	os.Rename(envCachePath(op), envCachePath(np))
	return nil
}

// renameInbox copies every message of INBOX to a new folder, then empties
// INBOX in place (its inode stays, for deliver).
func (st *Store) renameInbox(np string) error {
	if err := os.MkdirAll(filepath.Dir(np), 0700); err != nil {
		return fmt.Errorf("rename INBOX: %w", err)
	}
	src, err := st.openLocked(st.opts.Inbox, false, nil)
	if errors.Is(err, os.ErrNotExist) || isTryCreate(err) {
		return st.Create(strings.TrimPrefix(np, st.opts.FolderDir+"/"))
	}
	if err != nil {
		return err
	}
	defer src.close()
	all := make([]int, len(src.snap.entries))
	for i := range all {
		all[i] = i
	}
	if _, err := st.copyInto(src, all, np, true); err != nil {
		return err
	}
	changes := map[int]change{}
	for _, i := range all {
		changes[i] = change{drop: true}
	}
	return st.rewrite(src, changes)
}

func isTryCreate(err error) bool {
	var ie *imap.Error
	return errors.As(err, &ie) && ie.Code == imap.ResponseCodeTryCreate
}

// subscriptions is the file of subscribed names, one a line.
func (st *Store) subscriptionsPath() string {
	return filepath.Join(st.opts.FolderDir, ".subscriptions")
}

func (st *Store) subscriptions() (map[string]bool, error) {
	subs := map[string]bool{}
	f, err := os.Open(st.subscriptionsPath())
	if errors.Is(err, os.ErrNotExist) {
		return subs, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			subs[l] = true
		}
	}
	return subs, sc.Err()
}

// Subscribe adds or removes a name in folder_dir/.subscriptions, written
// whole and renamed into place.
func (st *Store) Subscribe(name string, on bool) error {
	if isInbox(name) {
		name = "INBOX"
	} else if err := checkName(name); err != nil {
		return err
	}
	subs, err := st.subscriptions()
	if err != nil {
		return err
	}
	if subs[name] == on {
		return nil
	}
	if on {
		subs[name] = true
	} else {
		delete(subs, name)
	}
	names := make([]string, 0, len(subs))
	for n := range subs {
		names = append(names, n)
	}
	sort.Strings(names)
	if err := os.MkdirAll(st.opts.FolderDir, 0700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(st.opts.FolderDir, ".subscriptions.tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	for _, n := range names {
		fmt.Fprintln(tmp, n)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), st.subscriptionsPath())
}

// folder is one name LIST can show.
type folder struct {
	name  string
	kind  kind
	child bool
}

// folders lists INBOX and everything under folder_dir, depth first. A
// symbolic link is never followed.
func (st *Store) folders() []folder {
	out := []folder{{name: "INBOX", kind: kindMbox}}
	root := st.opts.FolderDir
	byName := map[string]int{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return nil
		}
		base := d.Name()
		if hidden(base) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		name := filepath.ToSlash(rel)
		if checkName(name) != nil || isInbox(name) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if parent := filepath.ToSlash(filepath.Dir(rel)); parent != "." {
			if i, ok := byName[parent]; ok {
				out[i].child = true
			}
		}
		k := kindOther
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			k = kindOther
		case d.IsDir():
			k = kindDir
		default:
			k = kindOf(p)
		}
		byName[name] = len(out)
		out = append(out, folder{name: name, kind: k})
		return nil
	})
	return out
}

// specialUse names the folders iOS and Thunderbird look for (RFC 6154).
var specialUse = map[string]imap.MailboxAttr{
	"sent": imap.MailboxAttrSent, "sent messages": imap.MailboxAttrSent, "sent items": imap.MailboxAttrSent,
	"drafts": imap.MailboxAttrDrafts, "trash": imap.MailboxAttrTrash, "deleted messages": imap.MailboxAttrTrash,
	"junk": imap.MailboxAttrJunk, "spam": imap.MailboxAttrJunk, "archive": imap.MailboxAttrArchive,
}

func (f *folder) attrs() []imap.MailboxAttr {
	var a []imap.MailboxAttr
	switch f.kind {
	case kindDir:
		a = append(a, imap.MailboxAttrNoSelect)
	case kindOther:
		a = append(a, imap.MailboxAttrNoSelect, imap.MailboxAttrNoInferiors)
	}
	if f.kind != kindOther {
		if f.child {
			a = append(a, imap.MailboxAttrHasChildren)
		} else {
			a = append(a, imap.MailboxAttrHasNoChildren)
		}
	}
	if u, ok := specialUse[strings.ToLower(f.name)]; ok && f.kind == kindMbox {
		a = append(a, u)
	}
	return a
}
