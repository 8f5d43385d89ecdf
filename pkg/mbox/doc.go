// Package mbox reads, appends to and rewrites mbox files shared live with
// other programs (deliver, mail, Dovecot, procmail, mutt).
//
// # Rewrites and their journal
//
// A rewrite (mail's quit, POP3's UPDATE, IMAP's EXPUNGE and flag writes)
// happens in place under both locks, from the first byte that changes, so
// that programs appending through a descriptor they opened earlier lose
// nothing. A journal beside the mailbox (JournalPath) is made durable
// before the first byte changes, and removed once the new mailbox is; the
// next Open that finds one finishes with it first, so a rewrite killed at
// any instant (its recovery killed too) leaves the old mailbox or the new
// one. A rewrite that only cuts the file short, or changes bytes inside one
// disk sector, needs none. The journal has two formats, each named on its
// first line:
//
//   - "unixmail journal 1", an undo journal: the bytes about to be
//     overwritten and the old length, put back by the next Open. Used by a
//     rewrite that moves bytes toward the end (a header grown in place).
//   - "unixmail journal 2", a redo journal, for a compaction (messages
//     removed, the rest moved toward the start): the plan of the move, and
//     a record before each window of it holding only the old bytes the
//     window overwrites that it still reads. The next Open writes the last
//     recorded window again and the rest after it. See compact.go.
//
// Between a killed rewrite and the next Open of ours, a program that does
// not know the journal (dovecot-lda, procmail) may append to the mailbox.
// After a compaction's cut that mail is kept. Before it, and under an undo
// journal, the mail appended is cut off by the recovery, which sets the
// length the journal says: a known gap, rare (a kill mid-rewrite, then a
// delivery by another program before any of ours).
//
// A journal whose first line names another format is refused with an
// error, and kept: it was written by another version, and neither applying
// it as something else nor removing it is safe.
package mbox
