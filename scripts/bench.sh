#!/usr/bin/env bash
# make bench: measure unixmail beside the peers on the same machine, in the
# same run, and print ours/peer ratios. Absolute times move from run to run;
# the ratios are what count. Peers missing here are installed when we are
# root (Debian), else skipped with a note.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${UNIXMAIL_BIN:-$top/bin}
work=$top/build/bench
mkdir -p "$work"
N=${BENCH_DELIVERIES:-2000}
BIG_MESSAGES=${BENCH_BIG_MESSAGES:-100000}
BIG_AVG=${BENCH_BIG_AVG:-10000}

need() { # need PROGRAM DEBIAN-PACKAGE
	command -v "$1" >/dev/null 2>&1 && return 0
	[ -x "$1" ] && return 0
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1 || true
	fi
	command -v "$1" >/dev/null 2>&1 || [ -x "$1" ]
}
now() { date +%s.%N; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

echo "== Go benchmarks"
(cd "$top" && go test -run '^$' -bench . -benchtime 1x ./pkg/... 2>&1 | grep -E '^(Benchmark|ok|FAIL)' || true)

echo
echo "== scan a ${BIG_MESSAGES}-message mbox from the page cache (target: > 1 GB/s, RSS < 32 MiB)"
big=$work/big-$BIG_MESSAGES.mbox
(cd "$top" && go build -o "$work/mboxgen" ./tools/mboxgen && go build -o "$work/mboxscan" ./tools/mboxscan)
[ -s "$big" ] || "$work/mboxgen" "$big" "$BIG_MESSAGES" "$BIG_AVG" 1
cat "$big" >/dev/null # into the page cache
"$work/mboxscan" "$big" >/dev/null
"$work/mboxscan" "$big"

echo
echo "== $N deliveries of a 4 KB message, one process each, fsync each"
# Everyone runs as the same unprivileged user on the same disk. As root we
# become nobody for all three; otherwise we stay ourselves.
d=$work/deliver
rm -rf "$d"; mkdir -p "$d/ours" "$d/procmail" "$d/lda"
as=()
uid=$(id -u) gid=$(id -g)
if [ "$uid" = 0 ]; then
	uid=65534 gid=65534
	as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	chmod 755 "$work"
	chown -R 65534:65534 "$d"
fi
msg=$d/msg
{
	printf 'From: Alice <alice@example.org>\nTo: bob@example.org\nSubject: bench\nMessage-ID: <bench@example.org>\n\n'
	for i in $(seq 1 52); do printf 'line %02d of the benchmark body, padded to about seventy-eight chars....\n' "$i"; done
} >"$msg"
printf 'bob:x:%s:%s:Bob:%s/ours:/bin/sh\n' "$uid" "$gid" "$d" >"$d/passwd"
printf 'user_db = %s/passwd\nmailbox = ~/Mailbox\nlog = %s/ours.log\nhostname = bench.example\n' "$d" "$d" >"$d/unixmail.conf"

run_n() { # run_n LABEL COMMAND... ; prints msgs/s
	local t0 t1
	t0=$(now)
	for _ in $(seq 1 "$N"); do "$@" <"$msg" || { echo "$1 failed" >&2; return 1; }; done
	t1=$(now)
	awk -v n="$N" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }'
}
ours=$(run_n env UNIXMAIL_CONF="$d/unixmail.conf" "${as[@]}" "$bin/deliver" -f alice@example.org bob)
printf '  unixmail deliver: %6s msg/s\n' "$ours"
count() { grep -c '^From ' "$1" 2>/dev/null || echo 0; }
[ "$(count "$d/ours/Mailbox")" = "$N" ] || echo "  WARNING: ours holds $(count "$d/ours/Mailbox") messages, not $N"

if need procmail procmail; then
	pm=$(run_n env HOME="$d/procmail" "${as[@]}" procmail -f alice@example.org DEFAULT="$d/procmail/Mailbox")
	printf '  procmail:         %6s msg/s   ours/procmail = %s\n' "$pm" "$(ratio "$ours" "$pm")"
else
	echo "  procmail: not installed, skipped"
fi

lda=/usr/lib/dovecot/dovecot-lda
if need "$lda" dovecot-core; then
	printf 'mail_location = mbox:~/mail:INBOX=~/Mailbox\nprotocols =\nssl = no\nlog_path = %s/lda.log\n' "$d" >"$d/lda.conf"
	mkdir -p "$d/lda/mail"; [ "$(id -u)" = 0 ] && chown -R 65534:65534 "$d/lda"
	dl=$(run_n env HOME="$d/lda" USER=bob "${as[@]}" "$lda" -c "$d/lda.conf" -f alice@example.org)
	printf '  dovecot-lda:      %6s msg/s   ours/dovecot-lda = %s\n' "$dl" "$(ratio "$ours" "$dl")"
else
	echo "  dovecot-lda: not installed, skipped"
fi

echo
echo "== deliver -l: $N messages of 4 KB in one LMTP session, fsync each (target: >= 900 msg/s)"
lmtp=$d/lmtp.in
{
	printf 'LHLO bench.example\r\n'
	body=$(sed 's/$/\r/' "$msg")
	for _ in $(seq 1 "$N"); do
		printf 'MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@bench.example>\r\nDATA\r\n%s\n.\r\n' "$body"
	done
	printf 'QUIT\r\n'
} >"$lmtp"
rm -f "$d/ours/Mailbox"
t0=$(now)
ok=$(env UNIXMAIL_CONF="$d/unixmail.conf" "${as[@]}" "$bin/deliver" -l <"$lmtp" | grep -c 'OK: queued' || true)
t1=$(now)
awk -v n="$ok" -v a="$t0" -v b="$t1" 'BEGIN { printf "  unixmail deliver -l: %.0f msg/s (%d delivered)\n", n / (b - a), n }'

for extra in "$top"/scripts/bench-*.sh; do
	[ -x "$extra" ] || continue
	echo
	UNIXMAIL_BIN=$bin "$extra"
done
