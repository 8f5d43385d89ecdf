#!/bin/sh
# The hand-over of README's "Past one machine", across two network
# namespaces on this machine: a front host running sendmail -bd with
# mailbox_transport = lmtp:10.212.0.2:2400, and a store host running one
# deliver -l from systemd-socket-activate as the owner of the mailbox (the
# virtual-mailbox layout). 2,000 messages of 4 KB over 10 SMTP sessions
# (smtp-source, inside the front), timed until all are in the store's
# mailbox, each fsync'ed there before the front's 250. Median of
# BENCH_RUNS runs (3). No peer runs this way here: the figure is ours alone.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${UNIXMAIL_BIN:-$top/bin}
runs=${BENCH_RUNS:-3}
n=${BENCH_LMTP_MESSAGES:-2000}

echo "== LMTP front to store across two network namespaces, $n x 4 KB over 10 SMTP sessions, until in the store's mbox"
. "$top/scripts/benchlib.sh"
need_root "network namespaces and a real user" "iproute2, postfix, systemd, util-linux, passwd" ip smtp-source systemd-socket-activate setpriv useradd
mkdir -p "$top/build"
work=$(mktemp -d "$top/build/bench-lmtp-netns.XXXXXX")
chmod 755 "$work"
tag=$$
front=u12-$tag-front store=u12-$tag-store
user=u12store$tag
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	ip netns delete "$front" 2>/dev/null
	ip netns delete "$store" 2>/dev/null
	userdel "$user" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$front"
ip netns add "$store"
ip link add "u12a$tag" netns "$front" type veth peer name "u12b$tag" netns "$store"
ip -n "$front" link set lo up
ip -n "$store" link set lo up
ip -n "$front" addr add 10.212.0.1/24 dev "u12a$tag"
ip -n "$store" addr add 10.212.0.2/24 dev "u12b$tag"
ip -n "$front" link set "u12a$tag" up
ip -n "$store" link set "u12b$tag" up

bench_user "$user" "$work/home"
uid=$(id -u "$user")
mkdir -p "$work/front"
mbox=$work/home/Mailbox
printf 'hostname = store.example\nmailbox = ~/Mailbox\n' >"$work/store.conf"
printf '%s:x:%s:65534::/nonexistent:/bin/sh\n' "$user" "$uid" >"$work/front/passwd"
cat >"$work/front/unixmail.conf" <<EOF2
hostname = front.example
mydestination = front.example
user_db = $work/front/passwd
queue_directory = $work/front/spool
log = $work/front/maillog
smtp_listen = 127.0.0.1:25
mailbox_transport = lmtp:10.212.0.2:2400
EOF2

ip netns exec "$store" systemd-socket-activate -l 10.212.0.2:2400 -E UNIXMAIL_CONF="$work/store.conf" \
	setpriv --reuid="$uid" --regid=65534 --clear-groups "$bin/deliver" -l 2>"$work/store.err" &
pids="$pids $!"
ip netns exec "$front" env UNIXMAIL_CONF="$work/front/unixmail.conf" "$bin/sendmail" -bd &
pids="$pids $!"
until grep -q 'listening on' "$work/front/maillog" 2>/dev/null; do sleep 0.05; done
until grep -q 'Listening on' "$work/store.err" 2>/dev/null; do sleep 0.05; done

count() { grep -c '^From ' "$1" 2>/dev/null || true; }
now() { date +%s.%N; }
rates=
r=0
while [ $r -lt "$runs" ]; do
	rm -f "$mbox"
	t0=$(now)
	ip netns exec "$front" smtp-source -s 10 -m "$n" -l 4096 -f alice@example.org -t "$user@front.example" 127.0.0.1:25 >/dev/null
	while [ "$(count "$mbox")" -lt "$n" ]; do sleep 0.02; done
	t1=$(now)
	rates="$rates $(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) }')"
	r=$((r + 1))
done
med=$(echo "$rates" | tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
printf '  sendmail -bd -> LMTP -> deliver -l: %7s msg/s  (runs:%s)\n' "$med" "$rates"
if grep -q 'status=deferred' "$work/front/maillog"; then
	echo "  note: the front deferred some messages (see its log); they were retried"
fi
