#!/usr/bin/env bash
# Benchmark ipop3d beside Dovecot's pop3 on the same 5,000-message (~108 MB)
# mbox, in the same run: STAT (no index yet, then with one), UIDL, RETR of
# every message, DELE of every message and QUIT. Dovecot runs
# pre-authenticated on stdin/stdout as ../shared/TARGETS.md describes; ours
# logs in with USER/PASS on stdin/stdout (a SHA-512 hash: a few ms). Both
# run as the same user (nobody, when we are root). Prints the median of 3
# runs, the peak RSS, and ours/peer ratios.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${UNIXMAIL_BIN:-$top/bin}
work=$top/build/bench-pop3
N=${BENCH_POP3_MESSAGES:-5000}
AVG=${BENCH_POP3_AVG:-21600}
dovecot=/usr/lib/dovecot/pop3
mkdir -p "$work"
box=$work/box-$N.mbox
if [ ! -s "$box" ]; then
	(cd "$top" && go build -o "$work/mboxgen" ./tools/mboxgen)
	"$work/mboxgen" "$box" "$N" "$AVG" 2
fi
cat "$box" >/dev/null # into the page cache

as=()
uid=$(id -u) gid=$(id -g)
if [ "$uid" = 0 ]; then
	as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	uid=65534 gid=65534
fi
for who in ours dovecot; do
	rm -rf "${work:?}/$who"
	mkdir -p "$work/$who/home"
done
hash=$(openssl passwd -6 -salt benchpop 'bench-password')
echo "bob:$hash:$uid:$gid:Bob:$work/ours/home:/bin/sh" >"$work/passwd"
cat >"$work/unixmail.conf" <<EOC
user_db = $work/passwd
mailbox = ~/Mailbox
log = $work/ours/maillog
client_auth_failure_delay = 0
EOC
cat >"$work/dovecot.conf" <<EOC
protocols = pop3
ssl = no
mail_location = mbox:~/mail:INBOX=~/Mailbox
log_path = $work/dovecot/dovecot.log
pop3_uidl_format = %08Xv%08Xu
EOC
chmod 755 "$work"
chown -R "$uid:$gid" "$work/ours" "$work/dovecot" 2>/dev/null || true
chmod 644 "$work/passwd" "$work/unixmail.conf" "$work/dovecot.conf"

# fresh WHO: a new copy of the mailbox, no index.
fresh() {
	rm -rf "$work/$1/home/Mailbox" "$work/$1/home/.Mailbox.index" "$work/$1/home/mail"
	cp "$box" "$work/$1/home/Mailbox"
	chown "$uid:$gid" "$work/$1/home/Mailbox" 2>/dev/null || true
}
# session WHO COMMANDS-FILE: one POP3 session, its output thrown away
# through a pipe (Dovecot cannot poll a file or /dev/null).
session() {
	if [ "$1" = ours ]; then
		{ printf 'USER bob\r\nPASS bench-password\r\n'; cat "$2"; } |
			env UNIXMAIL_CONF="$work/unixmail.conf" "${as[@]}" "$bin/ipop3d" | cat >/dev/null
	else
		cat "$2" | env -i HOME="$work/dovecot/home" USER=nobody PATH=/usr/bin:/bin "${as[@]}" "$dovecot" -c "$work/dovecot.conf" 2>>"$work/dovecot/stderr" | cat >/dev/null
	fi
}
# measure WHO PREP COMMANDS-FILE: "seconds kib", the median of 3 runs and
# the largest RSS; PREP (a shell command) runs untimed before each.
measure() {
	local t=() m=0 r i
	for i in 1 2 3; do
		eval "$2"
		/usr/bin/time -o "$work/time" -f '%e %M' bash -c "$(declare -f session); work=$work bin=$bin dovecot=$dovecot as=(${as[*]}); session $1 $3" || true
		r=$(tail -1 "$work/time")
		t+=("${r% *}")
		[ "${r#* }" -gt "$m" ] && m=${r#* }
	done
	echo "$(printf '%s\n' "${t[@]}" | sort -n | sed -n 2p) $m"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

printf 'STAT\r\nQUIT\r\n' >"$work/stat"
printf 'UIDL\r\nQUIT\r\n' >"$work/uidl"
{ for ((i = 1; i <= N; i++)); do printf 'RETR %d\r\n' "$i"; done; printf 'QUIT\r\n'; } >"$work/retr"
{ for ((i = 1; i <= N; i++)); do printf 'DELE %d\r\n' "$i"; done; printf 'QUIT\r\n'; } >"$work/dele"

echo "== POP3 on a $N-message mbox ($(($(stat -c %s "$box") / 1048576)) MiB): ipop3d beside Dovecot pop3 (median of 3; peak RSS)"
if [ ! -x "$dovecot" ]; then
	echo "  Dovecot pop3 is not installed (dovecot-pop3d): ours alone"
fi
printf '  %-34s %16s %16s %12s\n' "work (target)" "ipop3d" "dovecot" "ours/peer"
row() { # row LABEL PREP COMMANDS
	local o d=""
	o=$(measure ours "$2" "$3")
	[ -x "$dovecot" ] && d=$(measure dovecot "$(echo "$2" | sed 's/fresh ours/fresh dovecot/g; s/session ours/session dovecot/g')" "$3")
	printf '  %-34s %7ss %6sK' "$1" "${o% *}" "${o#* }"
	if [ -n "$d" ]; then
		printf ' %7ss %6sK   time %s RSS %s\n' "${d% *}" "${d#* }" "$(ratio "${o% *}" "${d% *}")" "$(ratio "${o#* }" "${d#* }")"
	else
		echo
	fi
}
row "STAT, no index yet (<= 0.1 s)" "fresh ours" "$work/stat"
row "STAT again" "" "$work/stat"
row "UIDL (ours numbers on first use)" "fresh ours; session ours $work/stat" "$work/uidl"
row "UIDL again" "" "$work/uidl"
row "RETR all (<= 0.5 s)" "" "$work/retr"
row "DELE all + QUIT (<= 0.2 s)" "fresh ours; session ours $work/uidl" "$work/dele"
