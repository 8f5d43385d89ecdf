#!/bin/sh
# Benchmarks of sendmail(8) (issue 3), on a throw-away sandbox:
#  1. 2,000 messages of 4 KB over 10 SMTP sessions (Postfix's smtp-source)
#     to `sendmail -bd`, timed until all are in the mailbox, fsync'ed;
#  2. 300 `sendmail -t` runs for a local user, until delivered.
# A private Postfix instance beside it is not started here (it needs root
# and a master.cf of its own); the ratios printed are against the
# reference figures of TARGETS.md (Postfix 3.7 on the same kind of machine).
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
ratio() { python3 -c "import sys; a=float(sys.argv[1]); b=float(sys.argv[2]); print(f'{a:.0f} msg/s, {a/b:.2f}x Postfix ({b:.0f} msg/s)')" "$@"; }

"$bin/sendmail" -bd -q1h &
daemon=$!
until grep -q 'listening on' "$dir/maillog" 2>/dev/null; do sleep 0.05; done
n=2000
t0=$(now)
smtp-source -s 10 -m $n -l 4096 -f alice@bench.example -t bob@bench.example 127.0.0.1:$port
until [ "$(count "$dir/home/bob/Mailbox")" -ge $n ]; do sleep 0.05; done
t1=$(now)
rate=$(python3 -c "print($n/($t1-$t0))")
echo "SMTP in, $n x 4 KB over 10 sessions until in the mbox: $(ratio "$rate" 527)"
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
rate=$(python3 -c "print($n/($t1-$t0))")
echo "$n x sendmail -t until delivered: $(ratio "$rate" 118)"
