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
// disk sector, needs none. The journal has five formats, each named on
// its first line:
//
//   - "unixmail journal 1", an undo journal: the bytes about to be
//     overwritten and the old length, put back by the next Open. Used by a
//     rewrite that moves bytes both ways (a message dropped, a later one
//     grown).
//   - "unixmail journal 2", a redo journal, for a compaction (messages
//     removed, the rest moved toward the start): the plan of the move, and
//     a record before each window of it holding only the old bytes the
//     window overwrites that it still reads. The next Open writes the last
//     recorded window again and the rest after it. See compact.go.
//   - "unixmail journal 3", the same for an expansion (state fields padded
//     or grown, the rest moved toward the end), whose windows go from the
//     end of the file to the start. Such a rewrite, which moves the rest
//     of the file anyway, pads the state fields of every message it moves
//     that lacks room (RewriteSome), so that the next flag change of any
//     of them is written in place.
//   - "unixmail journal 4" and "5", what we write now instead of 2 and 3:
//     the same with checks of what the file must hold (journalcheck.go).
//     One that no longer matches the file (another program rewrote it
//     after the kill, or renamed another file over it) is set aside as
//     .NAME.journal.unmatched-TIME, logged (OpenOptions.Warn), never
//     replayed over that program's work; the mailbox is left as it is.
//     Journals of formats 2 and 3 that the release before left are still
//     finished as before.
//
// Between a killed rewrite and the next Open of ours, a program that does
// not know the journal (dovecot-lda, procmail) may append to the mailbox.
// Mail appended to an expansion that grows the file is kept (it makes the
// file as long as the new one before its first window); so is mail
// appended to a rewrite that cuts the file short, before its cut (moved to
// the new end by a compaction of its own, late.go) or after it (of formats
// 2 and 3, only while the file stays shorter than it was: their lack of
// checks cannot tell a cut file grown past its old length from one not
// cut yet). Under an undo journal, the mail appended is cut off by the
// recovery, which sets the length the journal says: a known gap, rare (a
// kill mid-rewrite that moves bytes both ways, then a delivery by another
// program before any of ours).
//
// A journal whose first line names another format is refused with an
// error, and kept: it was written by another version, and neither applying
// it as something else nor removing it is safe.
package mbox
