package sandbox

import (
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
)

// ForeignJournal puts beside user's mailbox (which must exist) the journal
// a killed rewrite of another file would have left there: complete (an
// undo journal, format 1, checksum and all) but for device 1, inode 2, as
// when another program renamed a new file over the one the rewrite
// changed. It belongs to uid, as the mailbox does. Our next Open of the
// mailbox sets it aside; its path is returned.
func (s *Sandbox) ForeignJournal(t *testing.T, user string, uid int) string {
	t.Helper()
	head := "unixmail journal 1\n1 2 10 0 5\nxxxxx"
	journal := fmt.Sprintf("%s%08x\n", head, crc32.Checksum([]byte(head), crc32.MakeTable(crc32.Castagnoli)))
	dir, name := filepath.Split(s.Mailbox(user))
	path := filepath.Join(dir, "."+name+".journal")
	if err := os.WriteFile(path, []byte(journal), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, uid, uid); err != nil {
		t.Fatal(err)
	}
	return path
}
