#!/usr/bin/env bash
# How soon an idling session hears of new mail: imapd beside Dovecot's imap,
# both pre-authenticated over stdin/stdout on a small mbox, each appended to
# as deliver does (dot-lock, fcntl) while it idles. Median and worst wait
# of each, and the ratio ours/Dovecot.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${UNIXMAIL_BIN:-$top/bin}
work=$top/build/bench-imap-idle
rounds=${BENCH_IDLE_ROUNDS:-10}
dovecot=/usr/lib/dovecot/imap
as=() owner=$(id -u):$(id -g) user=$(id -un)
if [ "$(id -u)" = 0 ]; then
	as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	owner=65534:65534 user=nobody
fi
rm -rf "$work"
mkdir -p "$work/ours/mail" "$work/dovecot/mail"
[ "$(id -u)" = 0 ] && chmod 755 "$top/build" "$work"
for who in ours dovecot; do
	for i in $(seq 1 20); do
		printf 'From a@example.org Mon May  6 07:08:09 2024\nFrom: a@example.org\nSubject: old %d\n\nold mail\n\n' "$i"
	done >"$work/$who/Mailbox"
done
printf 'mailbox = %s/ours/Mailbox\nfolder_dir = %s/ours/mail\nlog = %s/ours/imapd.log\nhostname = bench.example\n' "$work" "$work" "$work" >"$work/ours/unixmail.conf"
printf 'protocols = imap\nssl = no\nmail_location = mbox:~/mail:INBOX=~/Mailbox\nlog_path = %s/dovecot/dovecot.log\n' "$work" >"$work/dovecot/dovecot.conf"
chown -R "$owner" "$work/ours" "$work/dovecot"

echo "== IDLE: how soon new mail is announced ($rounds appends)"
ours=$(python3 "$top/scripts/imap-idle.py" "$work/ours/Mailbox" "$rounds" env LOGNAME="$user" "${as[@]}" "$bin/imapd" -C "$work/ours/unixmail.conf")
echo "  ours: median ${ours% *} ms, worst ${ours#* } ms"
if [ ! -x "$dovecot" ]; then
	echo "  Dovecot's imap is not installed: nothing to compare with"
	exit 0
fi
dove=$(python3 "$top/scripts/imap-idle.py" "$work/dovecot/Mailbox" "$rounds" env -i HOME="$work/dovecot" USER="$user" PATH=/usr/bin:/bin "${as[@]}" "$dovecot" -c "$work/dovecot/dovecot.conf")
echo "  Dovecot: median ${dove% *} ms, worst ${dove#* } ms"
awk -v a="${ours% *}" -v b="${dove% *}" 'BEGIN { if (b > 0) printf "  ours/Dovecot median %.2f\n", a / b }'
