#!/usr/bin/env bash
# Benchmark mail(1): open a 100,000-message mbox, print the header summary,
# quit without changes; time and peak RSS beside s-nail, bsd-mailx and GNU
# Mailutils' mail (when installed), in the same run, as ratios ours/peer.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${UNIXMAIL_BIN:-$top/bin}
work=$top/build/bench-mail
N=${BENCH_MAIL_MESSAGES:-100000}
LINES=${BENCH_MAIL_BODY_LINES:-40} # body lines of 60 bytes: about 2.6 KB a message
mkdir -p "$work/home"
if [ ! -x /usr/bin/time ] && [ "$(id -u)" = 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null 2>&1 || true
fi
box=$work/big.mbox
if [ ! -s "$box" ]; then
	python3 - "$box" "$N" "$LINES" <<'PY'
import sys
n, lines = int(sys.argv[2]), int(sys.argv[3])
with open(sys.argv[1], 'w') as f:
    for i in range(n):
        f.write(f"From user{i % 97}@example.org  Wed Nov 25 17:24:14 2026\nFrom: User {i} <user{i % 97}@example.org>\n"
                f"To: bob@example.org\nSubject: message number {i}\nDate: Wed, 25 Nov 2026 17:24:14 +0000\n"
                f"Message-ID: <{i}@example.org>\nStatus: RO\n\nHello, this is message {i}.\n" + ("Body text of the benchmark message, sixty bytes long......\n" * lines) + "\n")
PY
fi
size=$(stat -c %s "$box")
echo "== mail: header summary of a $N-message mbox ($((size / 1048576)) MiB), then quit unchanged"

# measure NAME CMD...: runs CMD with commands "h *"-like listing on stdin
# and prints "seconds kib".
measure() {
	/usr/bin/time -o "$work/time" -f '%e %M' "$@" >/dev/null 2>&1 || true
	tail -1 "$work/time"
}
export HOME=$work/home TERM=dumb LC_ALL=C.UTF-8
ours=$(measure sh -c "printf 'from *\nx\n' | '$bin/mail' -n -N -f '$box'")
echo "unixmail mail: ${ours% *} s, ${ours#* } KiB peak RSS"
ours_t=${ours% *} ours_m=${ours#* }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
peer() { # peer LABEL PROGRAM ARGS...
	local label=$1 prog=$2
	shift 2
	if ! command -v "$prog" >/dev/null 2>&1; then
		echo "$label: not installed"
		return
	fi
	local r
	r=$(measure sh -c "printf 'from *\nx\n' | $prog $* '$box'")
	echo "$label: ${r% *} s, ${r#* } KiB; ratio ours/peer time $(ratio "$ours_t" "${r% *}"), RSS $(ratio "$ours_m" "${r#* }")"
}
peer "s-nail" s-nail "-:/ -N -f"
peer "bsd-mailx" bsd-mailx "-n -N -f"
if [ -x /usr/bin/mail.mailutils ]; then
	peer "mailutils mail" /usr/bin/mail.mailutils "-n -N -f"
else
	echo "mailutils mail: not installed"
fi
echo "RSS / file size: $(ratio "$((ours_m * 1024))" "$size") (aim: < 0.10)"
