// Package queue is sendmail's mail queue: one file per message holding its
// envelope and its text, written so that nothing accepted is ever lost.
//
// A message is written to a temporary file, fsync'ed, renamed into place and
// the directory fsync'ed before Enqueue returns, so a crash at any moment
// leaves either no message or a whole one (the rules of chasquid's safeio and
// Postfix's cleanup). Each file is locked with an open file description
// fcntl(2) lock while a runner works on it, so two runners never deliver one
// message twice, and a runner killed mid-delivery leaves the file as it was
// before the attempt: only that one message may be delivered again.
//
// Two directories hold messages. active/ is written only by those who may
// deliver (root, or in a sandbox the owner of the queue); its recipients may
// carry alias expansions, which name programs and files. maildrop/ is where
// anyone else drops a message (Postfix's postdrop does the same); Pickup moves
// it into active/ and keeps only its plain addresses, so a forged file cannot
// make the runner start a program.
package queue

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Recipient states.
const (
	Pending = ""        // not yet delivered
	Sent    = "sent"    // delivered
	Bounced = "bounced" // failed for good; a DSN was sent or is due
)

// Recipient kinds, set only in active/ by the runner's alias expansion.
const (
	Address = ""     // an address still to be routed
	User    = "user" // a local mailbox: Target is the user name
	File    = "file" // append to Target as Privs
	Pipe    = "pipe" // run Target with /bin/sh -c as Privs
	Remote  = "smtp" // Target is an address for SMTP
)

// Recipient is one recipient's state.
type Recipient struct {
	Addr   string `json:"addr"`             // the address the sender gave (or an alias produced)
	Orig   string `json:"orig,omitempty"`   // the address before alias expansion
	Kind   string `json:"kind,omitempty"`   // see the kinds above
	Target string `json:"target,omitempty"` // what Kind acts on
	Privs  string `json:"privs,omitempty"`  // user whose ids run a File or Pipe
	Notify string `json:"notify,omitempty"` // RFC 3461 NOTIFY
	State  string `json:"state,omitempty"`
	// Status is the RFC 3463 code of the last attempt, Diag its text.
	Status string `json:"status,omitempty"`
	Diag   string `json:"diag,omitempty"`
	Relay  string `json:"relay,omitempty"`
}

// Envelope is what the queue knows of a message besides its text.
type Envelope struct {
	ID       string      `json:"id"`
	Sender   string      `json:"sender"` // "" is the null sender <>
	Rcpts    []Recipient `json:"rcpts"`
	Arrival  time.Time   `json:"arrival"`
	NextTry  time.Time   `json:"next_try"`
	Attempts int         `json:"attempts"`
	LastErr  string      `json:"last_error,omitempty"`
	EnvID    string      `json:"envid,omitempty"`
	Ret      string      `json:"ret,omitempty"`
	// Bounce marks a DSN we made: if it cannot be delivered it goes to
	// postmaster; DoubleBounce marks that one, which is never bounced.
	Bounce       bool  `json:"bounce,omitempty"`
	DoubleBounce bool  `json:"double_bounce,omitempty"`
	Size         int64 `json:"size"`
}

// Pending reports the recipients still to deliver.
func (e *Envelope) Pending() []int {
	var idx []int
	for i, r := range e.Rcpts {
		if r.State == Pending {
			idx = append(idx, i)
		}
	}
	return idx
}

// magic starts every queue file; the envelope is the rest of the first
// line, as JSON, and the message follows.
const magic = "UNIXMAILQ1 "

// Errors of Lock.
var (
	ErrLocked = errors.New("queue file is locked by another process")
	ErrGone   = errors.New("queue file is gone")
)

// Queue is a queue directory.
type Queue struct {
	Dir string
	Now func() time.Time
	// PickupFilter, when set, may rewrite each message Pickup moves from
	// maildrop/ (by its new id); an error leaves the message there.
	PickupFilter func(id string, msg io.Reader) (io.Reader, error)
}

// Directory names under the queue directory.
const (
	activeDir   = "active"
	maildropDir = "maildrop"
	// corruptDir keeps files the runner cannot read, out of its way, for
	// the administrator to look at (Postfix's corrupt/).
	corruptDir = "corrupt"
)

// ErrCorrupt is wrapped by errors about a queue file that could not be
// read and was moved to corrupt/.
var ErrCorrupt = errors.New("moved to corrupt/")

// quarantine moves a file that cannot be read out of the runner's way,
// so that one bad file never stops the queue.
func (q *Queue) quarantine(sub, id string, why error) error {
	dir := filepath.Join(q.Dir, corruptDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("queue: %s/%s: %v; %w", sub, id, why, err)
	}
	if err := os.Rename(filepath.Join(q.Dir, sub, id), filepath.Join(dir, sub+"-"+id)); err != nil {
		return fmt.Errorf("queue: %s/%s: %v; %w", sub, id, why, err)
	}
	return fmt.Errorf("queue: %s/%s: %v: %w", sub, id, why, ErrCorrupt)
}

// Open prepares the queue directory. Only a caller who may deliver creates
// it; others need the administrator to have made maildrop/ writable.
func Open(dir string) *Queue {
	return &Queue{Dir: dir, Now: time.Now}
}

// Init makes the directories: active/ private to the owner, maildrop/
// writable by the owner's group with the sticky bit, as Postfix's, so a
// setgid sendmail can drop mail but nobody can remove another's.
func (q *Queue) Init() error {
	if err := os.MkdirAll(q.Dir, 0755); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	if err := os.Mkdir(filepath.Join(q.Dir, activeDir), 0700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("queue: %w", err)
	}
	md := filepath.Join(q.Dir, maildropDir)
	if err := os.Mkdir(md, 0730); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("queue: %w", err)
	} else if err == nil {
		// Mkdir's mode is masked by the umask and cannot carry the
		// sticky bit.
		if err := os.Chmod(md, 0730|os.ModeSticky); err != nil {
			return fmt.Errorf("queue: %w", err)
		}
	}
	return nil
}

// NewID makes a queue id: 12 upper-case hex digits, as Postfix's short ids.
func NewID() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on Linux; the time is a fallback.
		n := time.Now().UnixNano()
		for i := range b {
			b[i] = byte(n >> (8 * i))
		}
	}
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// Entry is a queue file held locked, or a draft: a message held in
// memory that is not in the queue yet.
type Entry struct {
	Env    Envelope
	q      *Queue
	f      *os.File
	path   string
	msgOff int64
	draft  []byte // the message of a draft; nil once stored
}

// Draft makes an entry for a message held in memory without writing it:
// the caller delivers it at once, and only what it could not deliver is
// stored, by Save, before it reports the message accepted. Remove and
// Close of a draft do nothing. A draft always goes to active/.
func (q *Queue) Draft(env Envelope, msg []byte) *Entry {
	if env.ID == "" {
		env.ID = NewID()
	}
	if env.Arrival.IsZero() {
		env.Arrival = q.Now()
	}
	env.Size = int64(len(msg))
	return &Entry{Env: env, q: q, path: filepath.Join(q.Dir, activeDir, env.ID), draft: msg}
}

// Stored reports whether the entry is a file in the queue (not a draft).
func (e *Entry) Stored() bool { return e.f != nil }

// Enqueue stores env and the message read from msg (to io.EOF) as a new
// queue file and returns it locked, so the caller may deliver it at once
// while other runners leave it alone. trusted says whether the file goes
// to active/ (the caller may deliver) or to maildrop/. On any error,
// reading msg included, nothing is stored.
func (q *Queue) Enqueue(env Envelope, msg io.Reader, trusted bool) (*Entry, error) {
	dir := filepath.Join(q.Dir, maildropDir)
	if trusted {
		dir = filepath.Join(q.Dir, activeDir)
	}
	if env.ID == "" {
		env.ID = NewID()
	}
	if env.Arrival.IsZero() {
		env.Arrival = q.Now()
	}
	e := &Entry{Env: env, q: q, path: filepath.Join(dir, env.ID)}
	f, err := e.write(dir, func(w io.Writer) (int64, error) { return io.Copy(w, msg) })
	if err != nil {
		return nil, err
	}
	e.f = f
	return e, nil
}

// write makes the file for e from its envelope and the message that
// copyMsg writes, and renames it into place. The new file is locked before
// it becomes visible.
func (e *Entry) write(dir string, copyMsg func(io.Writer) (int64, error)) (*os.File, error) {
	tmp, err := os.CreateTemp(dir, ".tmp-"+e.Env.ID+"-")
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tryLock(tmp); err != nil {
		return nil, fmt.Errorf("queue: lock %s: %w", tmp.Name(), err)
	}
	// The size is known only after the copy, so the header is written
	// with a fixed-width size and patched.
	head, err := json.Marshal(&e.Env)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	bw := bufio.NewWriterSize(tmp, 64<<10)
	// The header line is padded so it can be rewritten in place with the
	// final size, which is at most 20 digits longer.
	pad := strings.Repeat(" ", 24)
	if _, err := fmt.Fprintf(bw, "%s%s%s\n", magic, head, pad); err != nil {
		return nil, fmt.Errorf("queue: write %s: %w", tmp.Name(), err)
	}
	off := int64(len(magic) + len(head) + len(pad) + 1)
	n, err := copyMsg(bw)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("queue: write %s: %w", tmp.Name(), err)
	}
	if n != e.Env.Size {
		e.Env.Size = n
		head, err = json.Marshal(&e.Env)
		if err != nil {
			return nil, fmt.Errorf("queue: %w", err)
		}
		line := magic + string(head)
		line += strings.Repeat(" ", int(off)-1-len(line)) + "\n"
		if len(line) != int(off) {
			return nil, fmt.Errorf("queue: header of %s grew", e.Env.ID)
		}
		if _, err := tmp.WriteAt([]byte(line), 0); err != nil {
			return nil, fmt.Errorf("queue: write %s: %w", tmp.Name(), err)
		}
	}
	if err := tmp.Sync(); err != nil {
		return nil, fmt.Errorf("queue: fsync %s: %w", tmp.Name(), err)
	}
	final := filepath.Join(dir, e.Env.ID)
	if err := os.Rename(tmp.Name(), final); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	if err := syncDir(dir, tmp); err != nil {
		return nil, err
	}
	ok = true
	e.path, e.msgOff = final, off
	return tmp, nil
}

// syncDir makes the rename durable. A caller dropping mail into maildrop/
// (mode 1730) may not open the directory: then the file system holding
// the file is synced instead, which covers the directory too.
func syncDir(dir string, f *os.File) error {
	d, err := os.Open(dir)
	if errors.Is(err, os.ErrPermission) {
		if err := unix.Syncfs(int(f.Fd())); err != nil {
			return fmt.Errorf("queue: syncfs %s: %w", dir, err)
		}
		return nil
	} else if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("queue: fsync %s: %w", dir, err)
	}
	return nil
}

// tryLock takes an exclusive open file description lock without waiting.
func tryLock(f *os.File) error { return tryLockType(f, unix.F_WRLCK) }

// tryLockType takes a lock of the given type: a shared one (F_RDLCK) is
// enough to learn, from a read-only descriptor, whether a runner holds it.
func tryLockType(f *os.File, typ int16) error {
	lk := unix.Flock_t{Type: typ, Whence: 0}
	err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
		return ErrLocked
	}
	return err
}

// Message returns a reader of the message text from its start.
func (e *Entry) Message() io.ReadCloser {
	if e.f == nil {
		return io.NopCloser(bytes.NewReader(e.draft))
	}
	return io.NopCloser(io.NewSectionReader(e.f, e.msgOff, e.Env.Size))
}

// Save writes the envelope's new state durably, replacing the file; a
// draft is written for the first time and comes back locked.
func (e *Entry) Save() error {
	old := e.f
	f, err := e.write(filepath.Dir(e.path), func(w io.Writer) (int64, error) {
		if old == nil {
			n, err := w.Write(e.draft)
			return int64(n), err
		}
		return io.Copy(w, io.NewSectionReader(old, e.msgOff, e.Env.Size))
	})
	if err != nil {
		return err
	}
	e.f, e.draft = f, nil
	if old != nil {
		old.Close()
	}
	return nil
}

// Remove deletes the queue file: every recipient is done.
func (e *Entry) Remove() error {
	if e.f == nil {
		return nil // a draft that was never stored
	}
	if err := os.Remove(e.path); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	// A lost removal only means one more attempt, which finds nothing
	// pending; no directory fsync is needed for safety.
	return nil
}

// Close releases the lock.
func (e *Entry) Close() error {
	if e.f == nil {
		return nil
	}
	return e.f.Close()
}

// Lock opens and locks the active queue file id. It returns ErrLocked when
// another runner has it and ErrGone when it was removed or replaced meanwhile.
func (q *Queue) Lock(id string) (*Entry, error) {
	path := filepath.Join(q.Dir, activeDir, id)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrGone
	} else if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	if err := tryLock(f); err != nil {
		f.Close()
		return nil, err
	}
	// The file may have been replaced (Save) or removed between our open
	// and our lock: then what we hold is stale.
	var fst, pst unix.Stat_t
	if unix.Fstat(int(f.Fd()), &fst) != nil || unix.Stat(path, &pst) != nil || fst.Ino != pst.Ino || fst.Nlink == 0 {
		f.Close()
		return nil, ErrGone
	}
	env, off, err := readHeader(f)
	if err != nil {
		f.Close()
		return nil, q.quarantine(activeDir, id, err)
	}
	return &Entry{Env: *env, q: q, f: f, path: path, msgOff: off}, nil
}

func readHeader(f *os.File) (*Envelope, int64, error) {
	br := bufio.NewReaderSize(io.NewSectionReader(f, 0, 1<<30), 4096)
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, 0, fmt.Errorf("short queue file: %w", err)
	}
	rest, ok := strings.CutPrefix(line, magic)
	if !ok {
		return nil, 0, errors.New("not a queue file")
	}
	var env Envelope
	if err := json.Unmarshal([]byte(strings.TrimSpace(rest)), &env); err != nil {
		return nil, 0, fmt.Errorf("bad envelope: %w", err)
	}
	return &env, int64(len(line)), nil
}

// IDs lists the messages in active/, oldest name order.
func (q *Queue) IDs() ([]string, error) {
	return listIDs(filepath.Join(q.Dir, activeDir))
}

func listIDs(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	var ids []string
	for _, de := range ents {
		if !strings.HasPrefix(de.Name(), ".") {
			ids = append(ids, de.Name())
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// Listed is one message as mailq shows it.
type Listed struct {
	Env    Envelope
	Active bool // being delivered right now (locked)
}

// List reads every envelope without taking locks, for mailq.
func (q *Queue) List() ([]Listed, error) {
	var out []Listed
	for _, sub := range []string{activeDir, maildropDir} {
		dir := filepath.Join(q.Dir, sub)
		ids, err := listIDs(dir)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			f, err := os.Open(filepath.Join(dir, id))
			if err != nil {
				continue // delivered meanwhile
			}
			env, _, err := readHeader(f)
			locked := tryLockType(f, unix.F_RDLCK) == ErrLocked
			f.Close()
			if err != nil {
				continue
			}
			out = append(out, Listed{Env: *env, Active: locked})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Env.Arrival.Before(out[j].Env.Arrival) })
	return out, nil
}

// Pickup moves the messages in maildrop/ into active/, keeping of each
// recipient only its address and DSN request: whatever else a dropped file
// says was written by someone we do not trust. A file that is not a
// readable queue file goes to corrupt/ and the rest are picked up; the
// error returned then names each such file.
func (q *Queue) Pickup() ([]*Entry, error) {
	dir := filepath.Join(q.Dir, maildropDir)
	ids, err := listIDs(dir)
	if err != nil {
		return nil, err
	}
	var picked []*Entry
	var bad error
	for _, id := range ids {
		e, err := q.pickup(dir, id)
		if errors.Is(err, errBusy) {
			continue
		}
		var u *unreadableError
		if errors.As(err, &u) {
			bad = errors.Join(bad, q.quarantine(maildropDir, id, u.err))
			continue
		}
		if err != nil {
			return picked, errors.Join(bad, err)
		}
		picked = append(picked, e)
	}
	return picked, bad
}

var errBusy = errors.New("being written")

// unreadableError is a file's fault rather than the system's.
type unreadableError struct{ err error }

func (e *unreadableError) Error() string { return e.err.Error() }

func unreadable(err error) error { return &unreadableError{err} }

func (q *Queue) pickup(dir, id string) (*Entry, error) {
	path := filepath.Join(dir, id)
	// Anyone in the group can put anything here: no symlink, FIFO or
	// device is followed or waited on.
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errBusy // picked up by another runner
	} else if err != nil {
		return nil, unreadable(err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, unreadable(errors.New("not a regular file"))
	}
	if tryLock(f) != nil {
		return nil, errBusy // still being written
	}
	env, off, err := readHeader(f)
	if err != nil {
		return nil, unreadable(err)
	}
	clean := Envelope{ID: NewID(), Sender: env.Sender, Arrival: env.Arrival, EnvID: env.EnvID, Ret: env.Ret, Size: env.Size}
	for _, r := range env.Rcpts {
		clean.Rcpts = append(clean.Rcpts, Recipient{Addr: r.Addr, Notify: r.Notify})
	}
	var msg io.Reader = io.NewSectionReader(f, off, env.Size)
	if q.PickupFilter != nil {
		if msg, err = q.PickupFilter(clean.ID, msg); err != nil {
			return nil, fmt.Errorf("queue: maildrop %s: %w", id, err)
		}
	}
	e, err := q.Enqueue(clean, msg, true)
	if err != nil {
		return nil, err
	}
	if err := os.Remove(path); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	return e, nil
}

// Backoff is the wait after the n-th failed attempt: 5 minutes, doubling,
// at most an hour, as Postfix's minimal and maximal backoff times.
func Backoff(n int) time.Duration {
	d := 5 * time.Minute
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}
