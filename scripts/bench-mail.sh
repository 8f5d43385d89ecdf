#!/usr/bin/env bash
# Benchmark mail(1): open a big mbox, list every header, quit without
# changes; time and peak RSS beside s-nail, bsd-mailx and GNU Mailutils'
# mail (when installed), in the same run, as ratios ours/peer. Two
# mailboxes: 100,000 small messages (~250 MB), and the 50,000-message ~1 GB
# mailbox of ../shared/TARGETS.md from the seeded generator (tools/mboxgen).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${UNIXMAIL_BIN:-$top/bin}
work=$top/build/bench-mail
N=${BENCH_MAIL_MESSAGES:-100000}
LINES=${BENCH_MAIL_BODY_LINES:-40} # body lines of 60 bytes: about 2.6 KB a message
BIG_N=${BENCH_MAIL_BIG_MESSAGES:-50000}
BIG_AVG=${BENCH_MAIL_BIG_AVG:-21400} # 50,000 x 21.4 KB: about 1.07 GB
mkdir -p "$work/home"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	[ -x /usr/bin/time ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null 2>&1 || true
	[ -x /usr/bin/mail.mailutils ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mailutils >/dev/null 2>&1 || true
fi
small=$work/small-$N.mbox
if [ ! -s "$small" ]; then
	python3 - "$small" "$N" "$LINES" <<'PY'
import sys
n, lines = int(sys.argv[2]), int(sys.argv[3])
with open(sys.argv[1], 'w') as f:
    for i in range(n):
        f.write(f"From user{i % 97}@example.org  Wed Nov 25 17:24:14 2026\nFrom: User {i} <user{i % 97}@example.org>\n"
                f"To: bob@example.org\nSubject: message number {i}\nDate: Wed, 25 Nov 2026 17:24:14 +0000\n"
                f"Message-ID: <{i}@example.org>\nStatus: RO\n\nHello, this is message {i}.\n" + ("Body text of the benchmark message, sixty bytes long......\n" * lines) + "\n")
PY
fi
big=$work/big-$BIG_N.mbox
if [ ! -s "$big" ]; then
	(cd "$top" && go build -o "$work/mboxgen" ./tools/mboxgen)
	"$work/mboxgen" "$big" "$BIG_N" "$BIG_AVG" 1
fi

export HOME=$work/home TERM=dumb LC_ALL=C.UTF-8
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
# measure CMD...: runs CMD with "from *" and "x" on stdin; prints
# "seconds kib": the median time of $runs runs (default 3), the largest RSS.
measure() {
	local t=() m=0 r i
	for ((i = 0; i < ${runs:-3}; i++)); do
		printf 'from *\nx\n' | /usr/bin/time -o "$work/time" -f '%e %M' "$@" >/dev/null 2>&1 || true
		r=$(tail -1 "$work/time")
		t+=("${r% *}")
		[ "${r#* }" -gt "$m" ] && m=${r#* }
	done
	echo "$(printf '%s\n' "${t[@]}" | sort -n | sed -n "$(((${#t[@]} + 1) / 2))p") $m"
}

for box in "$small" "$big"; do
	size=$(stat -c %s "$box")
	n=$(grep -c '^From ' "$box" || true)
	cat "$box" >/dev/null # into the page cache
	echo "== mail: list the headers of a $n-message mbox ($((size / 1048576)) MiB), then quit unchanged"
	sum0=$(md5sum <"$box")
	ours=$(measure "$bin/mail" -n -N -f "$box")
	ours_t=${ours% *} ours_m=${ours#* }
	echo "unixmail mail:  $ours_t s, $ours_m KiB peak RSS; RSS / file size $(ratio "$((ours_m * 1024))" "$size") (aim: < 0.10)"
	peer() { # peer LABEL PROGRAM ARGS...
		local label=$1 prog=$2
		shift 2
		if ! command -v "$prog" >/dev/null 2>&1; then
			echo "$label: not installed"
			return
		fi
		local r
		r=$(measure "$prog" "$@" "$box")
		echo "$label: ${r% *} s, ${r#* } KiB; ours/peer: time $(ratio "$ours_t" "${r% *}"), RSS $(ratio "$ours_m" "${r#* }")"
	}
	peer "s-nail        " s-nail -:/ -N -R -f
	peer "bsd-mailx     " bsd-mailx -n -N -f
	# Mailutils' mail rewrites a folder it only read (see TARGETS.md): give
	# it a copy, and call it by its full path, as bsd-mailx may own "mail".
	if [ -x /usr/bin/mail.mailutils ] && [ "${BENCH_MAIL_MAILUTILS:-1}" = 1 ]; then
		cp "$box" "$work/mailutils.mbox"
		r=$(runs=1 measure /usr/bin/mail.mailutils -n -N -f "$work/mailutils.mbox") # it is slow: once
		echo "mailutils mail: ${r% *} s, ${r#* } KiB; ours/peer: time $(ratio "$ours_t" "${r% *}"), RSS $(ratio "$ours_m" "${r#* }")"
		rm -f "$work/mailutils.mbox"
	else
		echo "mailutils mail: not installed"
	fi
	[ "$(md5sum <"$box")" = "$sum0" ] || echo "WARNING: $box was changed"
done
