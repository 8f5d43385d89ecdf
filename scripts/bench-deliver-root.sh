#!/bin/sh
# deliver(8) beside procmail in the MTA's case: root starts one delivery
# agent per message for a real user (made with useradd), 1,000 messages of
# 4 KB, each fsync'ed into the user's ~/Mailbox. One Python loop drives both
# the way an MTA does: procmail is forked, set to the user and executed
# (as Postfix's local does with mailbox_command); ours is executed as root
# and becomes the user itself. Both mailboxes exist (empty, the user's)
# before the clock starts, which spares procmail its one-second sleep on a
# new mailbox. Median of BENCH_RUNS runs (3), alternating; ours/procmail
# is what counts (above 1: ours is faster).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${UNIXMAIL_BIN:-$top/bin}
runs=${BENCH_RUNS:-3}
n=${BENCH_ROOT_DELIVERIES:-1000}

echo "== deliver as root for a real user, $n x 4 KB, one process each, fsync each, beside procmail"
. "$top/scripts/benchlib.sh"
need_root "a real user, and root starting the delivery" "procmail, passwd, python3" procmail useradd python3
mkdir -p "$top/build"
work=$(mktemp -d "$top/build/bench-deliver-root.XXXXXX")
chmod 755 "$work"
user=u12bench$$
cleanup() {
	userdel "$user" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
bench_user "$user" "$work/home"
{
	printf 'From: Alice <alice@example.org>\nTo: %s@bench.example\nSubject: bench\nMessage-ID: <bench@example.org>\n\n' "$user"
	i=1
	while [ $i -le 52 ]; do printf 'line %02d of the benchmark body, padded to about seventy-eight chars....\n' $i; i=$((i + 1)); done
} >"$work/msg"
printf 'hostname = bench.example\nmailbox = ~/%%s\nlog = %s/maillog\n' "$work" >"$work/unixmail.conf"
# deliver as make install leaves it: setgid to the spool's group (mail),
# as Debian's procmail is installed setgid mail too.
deliver=$bin/deliver
if getent group mail >/dev/null; then
	deliver=$work/deliver
	cp "$bin/deliver" "$deliver"
	chgrp mail "$deliver" && chmod 2755 "$deliver"
fi

python3 - "$deliver" "$work" "$user" "$n" "$runs" <<'PY'
import os, pwd, statistics, subprocess, sys, time
deliver, work, user, n, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
pw = pwd.getpwnam(user)
msg = open(os.path.join(work, "msg"), "rb").read()
home = pw.pw_dir

def fresh(name):
    path = os.path.join(home, name)
    fd = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    os.fchown(fd, pw.pw_uid, pw.pw_gid)
    os.close(fd)
    return path

def ours():
    mbox = fresh("Ours")
    env = {"PATH": "/usr/bin:/bin", "UNIXMAIL_CONF": os.path.join(work, "unixmail.conf")}
    t0 = time.monotonic()
    for _ in range(n):
        subprocess.run([deliver, "-f", "alice@example.org", "-m", mbox, user], input=msg, env=env, check=True)
    return n / (time.monotonic() - t0), mbox

def procmail():
    mbox = fresh("Procmail")
    env = {"PATH": "/usr/bin:/bin", "HOME": home, "USER": user, "LOGNAME": user}
    t0 = time.monotonic()
    for _ in range(n):
        subprocess.run(["procmail", "-f", "alice@example.org", "DEFAULT=" + mbox], input=msg, env=env,
                       user=pw.pw_uid, group=pw.pw_gid, extra_groups=[], cwd=home, check=True)
    return n / (time.monotonic() - t0), mbox

def count(path):
    with open(path, "rb") as f:
        return sum(1 for line in f if line.startswith(b"From "))

res = {"ours": [], "procmail": []}
for _ in range(runs):
    for name, fn in (("ours", ours), ("procmail", procmail)):
        rate, mbox = fn()
        if count(mbox) != n or os.stat(mbox).st_uid != pw.pw_uid:
            sys.exit(f"  {name}: {count(mbox)} messages of {n}, owner {os.stat(mbox).st_uid}")
        res[name].append(rate)
o, p = statistics.median(res["ours"]), statistics.median(res["procmail"])
fmt = lambda rs: " ".join(f"{r:.0f}" for r in rs)
print(f"  unixmail deliver (root, becomes the user): {o:6.0f} msg/s  (runs: {fmt(res['ours'])})")
print(f"  procmail (forked and set to the user):     {p:6.0f} msg/s  (runs: {fmt(res['procmail'])})")
print(f"  ours/procmail = {o / p:.2f} (target: > 1)")
PY
