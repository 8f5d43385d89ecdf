#!/usr/bin/env bash
# Benchmark rewrites of a mailbox in place, on the 50,000-message ~1 GB
# mbox of ../shared/TARGETS.md (tools/mboxgen, seeded): set and clear \Seen
# on one message, expunge the last message, the first, and every tenth;
# time and bytes written by ours (tools/mboxrewrite: pkg/mbox.RewriteSome
# with the offsets known, as a server's index holds them) beside Dovecot's
# imap (pre-authenticated, STORE then CHECK or EXPUNGE) on its own copy of
# the same file, in the same run, as ratios ours/Dovecot. Bytes are wchar
# of /proc/PID/io (bytes handed to write calls; ours include the journal).
# Targets: expunge of the last message <= 0.05 s, one flag <= 5 ms, bytes
# written close to the bytes that change.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
work=$top/build/bench-rewrite
BIG_N=${BENCH_REWRITE_MESSAGES:-50000}
BIG_AVG=${BENCH_REWRITE_AVG:-21400}
mkdir -p "$work"
(cd "$top" && go build -o "$work/mboxgen" ./tools/mboxgen && go build -o "$work/mboxrewrite" ./tools/mboxrewrite)
big=$work/big-$BIG_N.mbox
[ -s "$big" ] || "$work/mboxgen" "$big" "$BIG_N" "$BIG_AVG" 1
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

echo "== rewrite in place: a $BIG_N-message mbox of $(($(stat -c %s "$big") / 1048576)) MiB"
declare -A ours_t ours_b dove_t dove_b
cp "$big" "$work/ours.mbox"
cat "$work/ours.mbox" >/dev/null # into the page cache
# seen1 pads the state fields (the file shifts once); the rest are the
# steady state.
for op in seen1:seen unseen:unseen seen:seen last:last first:first spread:spread; do
	r=$("$work/mboxrewrite" "$work/ours.mbox" "${op#*:}")
	read -r t c _ <<<"$r"
	ours_t[${op%%:*}]=$t ours_b[${op%%:*}]=$c
done

if [ -x /usr/lib/dovecot/imap ]; then
	dove=$(mktemp -d "${TMPDIR:-/tmp}/unixmail-bench-dovecot.XXXXXX")
	trap 'rm -rf "$dove"' EXIT
	mkdir "$dove/home"
	cp "$big" "$dove/home/Mailbox"
	printf 'protocols = imap\nssl = no\nmail_location = mbox:~/mail:INBOX=~/Mailbox\nlog_path = %s/home/dovecot.log\n' "$dove" >"$dove/dovecot.conf"
	chmod 755 "$dove" && chmod 644 "$dove/dovecot.conf"
	as=()
	if [ "$(id -u)" = 0 ]; then
		chown -R 65534:65534 "$dove/home"
		as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	fi
	cat "$dove/home/Mailbox" >/dev/null
	while read -r op t c; do
		dove_t[$op]=$t dove_b[$op]=$c
	done < <(python3 - "$dove/home" "$dove/dovecot.conf" "${as[@]}" <<'PY'
import os, subprocess, sys, time
home, conf, wrap = sys.argv[1], sys.argv[2], sys.argv[3:]
p = subprocess.Popen(wrap + ["/usr/lib/dovecot/imap", "-c", conf], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                     env={"HOME": home, "USER": "nobody" if wrap else os.environ.get("USER", "root"), "PATH": "/usr/bin:/bin"})
def wchar():
    for l in open("/proc/%d/io" % p.pid):
        if l.startswith("wchar:"): return int(l.split()[1])
exists = [0]
def cmd(tag, line):
    p.stdin.write(("%s %s\r\n" % (tag, line)).encode()); p.stdin.flush()
    while True:
        l = p.stdout.readline()
        if not l: sys.exit("dovecot imap ended at " + tag)
        if l.startswith(b"* ") and l.rstrip().endswith(b"EXISTS"): exists[0] = int(l.split()[1])
        if l.startswith((tag + " ").encode()):
            if not l.startswith((tag + " OK").encode()): sys.exit("dovecot: " + l.decode())
            return
def op(name, *lines):
    t, w = time.time(), wchar()
    for i, l in enumerate(lines): cmd("%s%d" % (name, i), l)
    print("%s %.4f %d" % (name, time.time() - t, wchar() - w), flush=True)
p.stdout.readline()  # * PREAUTH
op("select", "SELECT INBOX")
n = exists[0]; mid = n // 2
op("seen1", "STORE %d +FLAGS.SILENT (\\Seen)" % mid, "CHECK")
op("unseen", "STORE %d -FLAGS.SILENT (\\Seen)" % mid, "CHECK")
op("seen", "STORE %d +FLAGS.SILENT (\\Seen)" % mid, "CHECK")
op("last", "STORE %d +FLAGS.SILENT (\\Deleted)" % n, "EXPUNGE"); n -= 1
op("first", "STORE 1 +FLAGS.SILENT (\\Deleted)", "EXPUNGE"); n -= 1
op("spread", "STORE %s +FLAGS.SILENT (\\Deleted)" % ",".join(str(i) for i in range(10, n + 1, 10)), "EXPUNGE")
cmd("z", "LOGOUT")
PY
)
	echo "Dovecot's first SELECT (its own sync and index, not timed below): ${dove_t[select]:-?} s, ${dove_b[select]:-?} bytes written"
else
	echo "note: no /usr/lib/dovecot/imap (dovecot-imapd); ours alone"
fi
printf '%-34s %10s %14s %10s %14s %7s %7s\n' "operation" "ours s" "ours bytes" "dovecot s" "dovecot bytes" "t ratio" "B ratio"
for op in seen1 unseen seen last first spread; do
	case $op in
	seen1) what="\\Seen on one message, first time" ;; unseen) what="-\\Seen on one message" ;; seen) what="\\Seen on one message" ;;
	last) what="expunge the last message" ;; first) what="expunge the first message" ;; spread) what="expunge every 10th (10%)" ;;
	esac
	printf '%-34s %10s %14s %10s %14s %7s %7s\n' "$what" "${ours_t[$op]}" "${ours_b[$op]}" "${dove_t[$op]:--}" "${dove_b[$op]:--}" \
		"$(ratio "${ours_t[$op]}" "${dove_t[$op]:-0}")" "$(ratio "${ours_b[$op]}" "${dove_b[$op]:-0}")"
done
