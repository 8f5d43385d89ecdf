#!/bin/sh
# Benchmarks of sendmail(8) (issue 3), on a throw-away sandbox:
#  1. 2,000 messages of 4 KB over 10 SMTP sessions (Postfix's smtp-source)
#     to `sendmail -bd`, timed until all are in the mailbox, fsync'ed;
#  2. 300 `sendmail -t` runs for a local user, until delivered.
# A private Postfix instance beside it is not started here (it needs root
# and a master.cf of its own); the ratios printed are against the
# reference figures of TARGETS.md (Postfix 3.7 on the same kind of machine:
# 527 msg/s and 2.54 s), or against POSTFIX_SMTP_RATE (msg/s) and
# POSTFIX_T_SECONDS when a side-by-side run measured them. Targets: SMTP in
# at least 2x Postfix (1,000 msg/s), 300 x sendmail -t in at most 1.25 s.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${UNIXMAIL_BIN:-$top/bin}
dir=$(mktemp -d)
trap 'kill $daemon 2>/dev/null || true; rm -rf "$dir"' EXIT
mkdir -p "$dir/home/bob" "$dir/home/alice"
uid=$(id -u) gid=$(id -g)
printf 'alice:x:%s:%s:Alice:%s/home/alice:/bin/sh\nbob:x:%s:%s:Bob:%s/home/bob:/bin/sh\n' \
	"$uid" "$gid" "$dir" "$uid" "$gid" "$dir" >"$dir/passwd"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$dir/unixmail.conf" <<EOC
hostname = bench.example
user_db = $dir/passwd
queue_directory = $dir/spool
alias_maps = $dir/aliases
log = $dir/maillog
smtp_listen = 127.0.0.1:$port
EOC
export UNIXMAIL_CONF=$dir/unixmail.conf
now() { date +%s.%N; }
count() { grep -c '^From ' "$1" 2>/dev/null || echo 0; }
pf_rate=${POSTFIX_SMTP_RATE:-527}
pf_t=${POSTFIX_T_SECONDS:-2.54}
ratio() { python3 -c "import sys; a=float(sys.argv[1]); b=float(sys.argv[2]); print(f'{a:.0f} msg/s, ours/Postfix {a/b:.2f}x ({b:.0f} msg/s); target >= 2x: {\"met\" if a >= 2*b else \"MISSED\"}')" "$@"; }

"$bin/sendmail" -bd -q1h &
daemon=$!
until grep -q 'listening on' "$dir/maillog" 2>/dev/null; do sleep 0.05; done
n=2000
t0=$(now)
smtp-source -s 10 -m $n -l 4096 -f alice@bench.example -t bob@bench.example 127.0.0.1:$port
until [ "$(count "$dir/home/bob/Mailbox")" -ge $n ]; do sleep 0.05; done
t1=$(now)
rate=$(python3 -c "print($n/($t1-$t0))")
echo "SMTP in, $n x 4 KB over 10 sessions until in the mbox: $(ratio "$rate" "$pf_rate")"
kill $daemon; wait $daemon 2>/dev/null || true

rm -f "$dir/home/bob/Mailbox"
n=300
t0=$(now)
i=0
while [ $i -lt $n ]; do
	printf 'To: bob@bench.example\nSubject: %s\n\nbody\n' $i | "$bin/sendmail" -t -i
	i=$((i + 1))
done
until [ "$(count "$dir/home/bob/Mailbox")" -ge $n ]; do sleep 0.05; done
t1=$(now)
python3 -c "import sys; t=float(sys.argv[1]); p=float(sys.argv[2]); print(f'$n x sendmail -t until delivered: {t:.2f} s ({$n/t:.0f} msg/s), ours/Postfix {p/t:.2f}x faster (Postfix {p:.2f} s); target <= 1.25 s: {\"met\" if t <= 1.25 else \"MISSED\"}')" "$(python3 -c "print($t1-$t0)")" "$pf_t"
