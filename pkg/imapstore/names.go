package imapstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"
)

// Delim is the hierarchy delimiter: folders are files under folder_dir,
// and a sub-folder lives in a directory of the same name.
const Delim = '/'

const maxNameLen = 512

// errNoMailbox answers a command on a mailbox that does not exist; clients
// that see TRYCREATE create it and try again (RFC 3501 6.3.11).
func errNoMailbox(name string) error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: fmt.Sprintf("No such mailbox: %s", name)}
}

func errTryCreate(name string) error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: fmt.Sprintf("No such mailbox: %s", name)}
}

func errBadName(why string) error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Bad mailbox name: " + why}
}

func isInbox(name string) bool { return strings.EqualFold(name, "INBOX") }

// checkName refuses a folder name that could reach outside folder_dir or
// clash with the files mbox programs keep beside a folder. The library has
// already turned modified UTF-7 into UTF-8.
func checkName(name string) error {
	switch {
	case name == "":
		return errBadName("empty")
	case len(name) > maxNameLen:
		return errBadName("too long")
	case !utf8.ValidString(name):
		return errBadName("not UTF-8")
	case name[0] == Delim:
		return errBadName("absolute")
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return errBadName("control character")
		}
	}
	for _, c := range strings.Split(name, string(Delim)) {
		switch {
		case c == "":
			return errBadName("empty level")
		case c == "." || c == "..":
			return errBadName("dot level")
		case strings.HasPrefix(c, "."):
			return errBadName("hidden level")
		case strings.HasSuffix(c, ".lock"):
			return errBadName("lock file")
		}
	}
	if len(name) >= 6 && isInbox(name[:5]) && name[5] == Delim {
		return errBadName("INBOX has no sub-folders")
	}
	return nil
}

// hidden reports whether a directory entry is one of the files kept beside
// folders (indexes, locks, the subscription list, rewrite journals), never
// shown as a folder.
func hidden(base string) bool {
	return strings.HasPrefix(base, ".") || strings.HasSuffix(base, ".lock")
}

// folderPath gives the file of folder name under dir, after checking that
// no directory on the way is a symbolic link, so no name escapes dir. The
// file itself is opened with O_NOFOLLOW later.
func folderPath(dir, name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	parts := strings.Split(name, string(Delim))
	p := dir
	for _, c := range parts[:len(parts)-1] {
		p = filepath.Join(p, c)
		fi, err := os.Lstat(p)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("folder %s: %w", name, err)
		}
		if !fi.IsDir() {
			return "", errBadName(c + " is not a directory")
		}
	}
	return filepath.Join(dir, filepath.FromSlash(name)), nil
}

// kind is what a name under folder_dir is.
type kind int

const (
	kindNone  kind = iota
	kindMbox       // a selectable mbox file (empty, or starting with a From_ line)
	kindDir        // a directory of sub-folders, \NoSelect
	kindOther      // a file that is not an mbox, \NoSelect and never touched
)

func kindOf(path string) kind {
	fi, err := os.Lstat(path)
	if err != nil {
		return kindNone
	}
	switch {
	case fi.IsDir():
		return kindDir
	case !fi.Mode().IsRegular():
		return kindOther
	case fi.Size() == 0:
		return kindMbox
	}
	f, err := os.OpenFile(path, os.O_RDONLY|noFollow, 0)
	if err != nil {
		return kindOther
	}
	defer f.Close()
	var head [5]byte
	n, _ := f.Read(head[:])
	if string(head[:n]) == "From " {
		return kindMbox
	}
	return kindOther
}

// matchList reports whether a folder name matches a LIST pattern under a
// reference, joined as RFC 3501 6.3.8 says: "*" matches anything, "%"
// anything but the delimiter. It takes time len(name) x len(pattern); the
// library's MatchList backtracks, in time exponential in the wildcards of
// a pattern such as "*%*%...x", which kept imapd busy without end.
//
// The name INBOX is case-insensitive (RFC 3501 5.1), so it matches a
// pattern in any case ("inbox*", "In%"), as Dovecot and UW-IMAP match it;
// every other name is matched case-sensitively, as it is stored.
func matchList(name, ref, pattern string) bool {
	const d = string(Delim)
	if isInbox(name) {
		name, ref, pattern = "inbox", lowerASCII(ref), lowerASCII(pattern)
	}
	if strings.HasPrefix(pattern, d) {
		ref, pattern = "", pattern[len(d):]
	}
	if ref != "" {
		if !strings.HasSuffix(ref, d) {
			ref += d
		}
		var ok bool
		if name, ok = strings.CutPrefix(name, ref); !ok {
			return false
		}
	}
	// at[i]: the pattern so far can match name[:i].
	at := make([]bool, len(name)+1)
	next := make([]bool, len(name)+1)
	at[0] = true
	for j := 0; j < len(pattern); j++ {
		clear(next)
		c := pattern[j]
		for i, ok := range at {
			if !ok {
				continue
			}
			switch c {
			case '*':
				for k := i; k <= len(name) && !next[k]; k++ {
					next[k] = true
				}
			case '%':
				for k := i; k <= len(name) && !next[k]; k++ {
					next[k] = true
					if k < len(name) && name[k] == Delim {
						break
					}
				}
			default:
				if i < len(name) && name[i] == c {
					next[i+1] = true
				}
			}
		}
		at, next = next, at
	}
	return at[len(name)]
}

// lowerASCII lower-cases the ASCII letters of s only: Unicode case
// mapping would turn other characters into ASCII ones (the Kelvin sign
// into "k").
func lowerASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}
