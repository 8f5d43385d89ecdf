package mbox

import (
	"encoding/hex"
	"os"
	"strings"
	"sync"
)

// Flags written in place are not synced (WriteStates): like Dovecot, which
// never syncs them, a power cut may lose the last ones, but a client that
// marks 50,000 messages read does not wait a second for the disk. A
// process killed loses nothing: the bytes are in the page cache.
//
// The index must then never be trusted over the file after a power cut:
// the kernel writes the index back when it likes (ext4 commits an
// appended record within seconds, the mailbox's scattered pages within
// half a minute), so the index on disk may hold flags the file on disk
// lost, with the file's length and mtime (journaled with it) still
// matching. Such an index is marked with the boot it was written in
// (Index.unsynced): in that boot the page cache is the file, so the mark
// changes nothing; in any later one the index no longer fits and the
// file is scanned again, its UIDs matched as after another program's
// change in place (Number). The mark is on disk, synced, before the first
// unsynced write into the file (WriteStates), so that an index saved
// earlier without it cannot stand either. It is carried by every index
// made from a marked one (UpdateIndex, Reindex) and dropped once the
// mailbox is synced (a rewrite that moves bytes, CHECK): fdatasync writes
// every dirty page of the file, whoever wrote it.

// bootID is the system's boot (Linux's boot_id, 16 bytes), read once;
// zero when it cannot be read, and then flags are synced as they are
// written. A variable: tests stand for a reboot by changing it.
var bootID = sync.OnceValue(readBootID)

func readBootID() [16]byte {
	var id [16]byte
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return id
	}
	h, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(string(b)), "-", ""))
	if err != nil || len(h) != len(id) {
		return id
	}
	copy(id[:], h)
	return id
}

// flagsLost reports whether the index holds flags written without a sync
// in an earlier boot: the file may have lost them, so the index cannot
// stand for it.
func (idx *Index) flagsLost() bool {
	return idx.unsynced != [16]byte{} && idx.unsynced != bootID()
}

// Unsynced reports whether flags the index holds were written into the
// mailbox in place in this boot and not synced since (SyncStates syncs
// them).
func (idx *Index) Unsynced() bool {
	return idx.unsynced != [16]byte{} && idx.unsynced == bootID()
}

// carryUnsynced gives idx, made from from (nil: none) for the file as it
// is now, from's mark: the file may still hold the flags written in this
// boot, not synced, that from's mark is for.
func (idx *Index) carryUnsynced(from *Index) {
	if from != nil && from.Unsynced() {
		idx.unsynced = from.unsynced
	}
}
