#!/usr/bin/env bash
# Benchmark imapd beside Dovecot's imap on the same 50,000-message mbox from
# the seeded generator (tools/mboxgen), both pre-authenticated over
# stdin/stdout, in the same run: wall time and peak RSS of each operation
# and the ratio ours/Dovecot. Each operation is one session (SELECT, the
# operation, LOGOUT) on its own copy of the mailbox where it writes.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${UNIXMAIL_BIN:-$top/bin}
work=$top/build/bench-imap
N=${BENCH_IMAP_MESSAGES:-50000}
AVG=${BENCH_IMAP_AVG:-21400} # 50,000 x 21.4 KB: about 1 GB, as TARGETS.md
# BENCH_IMAP_ROWS picks rows by name (space-separated: select fetch search
# sort thread body append store expunge); all of them by default.
ROWS=${BENCH_IMAP_ROWS:-select fetch search sort thread body append store expunge}
dovecot=/usr/lib/dovecot/imap
mkdir -p "$work"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	[ -x /usr/bin/time ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null 2>&1 || true
fi
src=$work/src-$N.mbox
if [ ! -s "$src" ]; then
	(cd "$top" && go build -o "$work/mboxgen" ./tools/mboxgen)
	"$work/mboxgen" "$src" "$N" "$AVG" 1
fi
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# Both servers run as the same unprivileged user: nobody when we are root.
as=() owner=$(id -u):$(id -g) user=$(id -un)
if [ "$(id -u)" = 0 ]; then
	as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	owner=65534:65534 user=nobody
	chmod 755 "$top/build" "$work"
fi
for who in ours dovecot; do
	rm -rf "${work:?}/$who"
	mkdir -p "$work/$who/mail"
done
printf 'mailbox = %s/ours/Mailbox\nfolder_dir = %s/ours/mail\nlog = %s/ours/imapd.log\nhostname = bench.example\n' "$work" "$work" "$work" >"$work/ours/unixmail.conf"
printf 'protocols = imap\nssl = no\nmail_location = mbox:~/mail:INBOX=~/Mailbox\nlog_path = %s/dovecot/dovecot.log\n' "$work" >"$work/dovecot/dovecot.conf"
chown -R "$owner" "$work/ours" "$work/dovecot"

server() { # server ours|dovecot: the command line, pre-authenticated
	case $1 in
	ours) echo env LOGNAME="$user" "${as[@]}" "$bin/imapd" -C "$work/ours/unixmail.conf" ;;
	dovecot) echo env -i HOME="$work/dovecot" USER="$user" PATH=/usr/bin:/bin "${as[@]}" "$dovecot" -c "$work/dovecot/dovecot.conf" ;;
	esac
}

fresh() { # fresh WHO: a pristine copy of the mailbox, no index
	rm -f "$work/$1/Mailbox" "$work/$1/.Mailbox.index" "$work/$1"/mail/.imap -r 2>/dev/null || true
	rm -rf "$work/$1/mail/.imap" "$work/$1/.Mailbox.index"
	cp "$src" "$work/$1/Mailbox"
	chown "$owner" "$work/$1/Mailbox"
	cat "$work/$1/Mailbox" >/dev/null
}

# session WHO COMMANDS-FILE: prints "seconds kib work-seconds" for one
# session: the whole process, and from its greeting to the reply to its
# last command before LOGOUT.
session() {
	# What an earlier session (or fresh's copy) left dirty in the page cache
	# is written first, not during this one's fdatasyncs.
	sync
	# shellcheck disable=SC2046
	python3 "$top/scripts/imap-session.py" "$2" "$work/$1.out" /usr/bin/time -o "$work/time" -f '%e %M' $(server "$1") || true
	if ! grep -q '^z OK' "$work/$1.out"; then
		echo "($1's session did not end well: $(grep -v '^\*' "$work/$1.out" | head -3 | tr '\r\n' '  '))" >&2
	fi
	echo "$(tail -1 "$work/time") $(cat "$work/$1.out.t" 2>/dev/null || echo n/a)"
}

cmds() { # cmds NAME LINES...: a command file that selects, runs LINES, logs out
	local f=$work/$1.cmds
	shift
	{
		printf 'a SELECT INBOX\r\n'
		for l in "$@"; do printf '%s\r\n' "$l"; done
		printf 'z LOGOUT\r\n'
	} >"$f"
	echo "$f"
}

want() { [[ " $ROWS " == *" $1 "* ]]; }

row() { # row NAME LABEL LINES...: a row that runs LINES after SELECT, if chosen
	want "$1" || return 0
	local f
	f=$(cmds "$1" "${@:3}")
	report "$2" "$(session ours "$f")" "$(session dovecot "$f")"
}

report() { # report LABEL OURS DOVECOT, each "seconds kib work-seconds"
	local ot ok ow dt dk dw
	read -r ot ok ow <<<"$2"
	read -r dt dk dw <<<"$3"
	echo "$1: ours $ot s $ok KiB, Dovecot $dt s $dk KiB; ours/Dovecot time $(ratio "$ot" "$dt"), RSS $(ratio "$ok" "$dk"); after the greeting ours $ow s, Dovecot $dw s, $(ratio "$ow" "$dw")"
}

echo "== imapd beside Dovecot imap on a $N-message mbox ($(($(stat -c %s "$src") / 1048576)) MiB)"
if [ ! -x "$dovecot" ]; then
	echo "Dovecot's imap is not installed: nothing to compare with"
	exit 0
fi

sel=$(cmds select)
fresh ours
fresh dovecot
if want select; then
	report "SELECT, no index (UIDs given)" "$(session ours "$sel")" "$(session dovecot "$sel")"
	report "SELECT again, index present" "$(session ours "$sel")" "$(session dovecot "$sel")"
else
	session ours "$sel" >/dev/null
	session dovecot "$sel" >/dev/null
fi
if want fetch; then
	f=$(cmds fetch 'b FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)')
	report "SELECT + FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)" "$(session ours "$f")" "$(session dovecot "$f")"
	report "SELECT + the same FETCH again (what it caches kept)" "$(session ours "$f")" "$(session dovecot "$f")"
fi
row search "SELECT + UID SEARCH BODY (a word in no message)" 'b UID SEARCH BODY zyzzyva'
row sort "SELECT + SORT (DATE) UTF-8 ALL" 'b SORT (DATE) UTF-8 ALL'
row thread "SELECT + THREAD REFERENCES UTF-8 ALL" 'b THREAD REFERENCES UTF-8 ALL'
row body "SELECT + FETCH BODY[] of 100 messages" 'b FETCH 1:100 BODY.PEEK[]'
if want append; then
	msg='From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: appended\r\n\r\nA message of about a kilobyte.\r\n'
	body=$(printf "$msg"; for i in $(seq 1 12); do printf 'line %02d of the appended message, padded to eighty characters or so......\r\n' "$i"; done)
	len=$(printf '%s' "$body" | wc -c)
	{
		printf 'a SELECT INBOX\r\n'
		for i in $(seq 1 1000); do printf 'p%d APPEND INBOX {%d+}\r\n%s\r\n' "$i" "$len" "$body"; done
		printf 'z LOGOUT\r\n'
	} >"$work/append.cmds"
	report "SELECT + APPEND x1000 (1 KB)" "$(session ours "$work/append.cmds")" "$(session dovecot "$work/append.cmds")"
fi
if want store || want expunge; then
	fresh ours
	fresh dovecot
	session ours "$sel" >/dev/null
	session dovecot "$sel" >/dev/null
fi
if want store; then
	f=$(cmds store 'b STORE 1:* +FLAGS.SILENT (\Seen)')
	report "SELECT + STORE +FLAGS (\\Seen) 1:*" "$(session ours "$f")" "$(session dovecot "$f")"
	# Every message has room for its flags now (ours padded them in the
	# STORE above, Dovecot at its first SELECT): the same change of every
	# message, the other way, is written in place by both.
	f=$(cmds store2 'b STORE 1:* -FLAGS.SILENT (\Seen)')
	report "SELECT + STORE -FLAGS (\\Seen) 1:*, every message with room (in place)" "$(session ours "$f")" "$(session dovecot "$f")"
fi
if want expunge; then
	# Every tenth message, 2,000 to a STORE: one line of them all is past
	# the longest command line either server takes at 100,000 messages
	# (ours 50 KiB, the library's; Dovecot's 64 KiB), and clients keep
	# theirs short.
	stores=()
	for from in $(seq 1 20000 "$N"); do
		stores+=("s$from STORE $(seq "$from" 10 $((from + 19999 < N ? from + 19999 : N)) | paste -sd,) +FLAGS.SILENT (\\Deleted)")
	done
	f=$(cmds expunge "${stores[@]}" 'c EXPUNGE')
	report "SELECT + STORE + EXPUNGE of 10%" "$(session ours "$f")" "$(session dovecot "$f")"
	echo "messages left: ours $(grep -c '^From ' "$work/ours/Mailbox"), Dovecot $(grep -c '^From ' "$work/dovecot/Mailbox") (want $((N - N / 10)))"
fi
