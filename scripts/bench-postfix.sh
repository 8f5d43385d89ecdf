#!/bin/sh
# sendmail(8) beside a real Postfix, in the same run on the same disk, each
# delivering to the same local user's ~/Mailbox (mbox, fsync'ed):
#  1. 2,000 messages of 4 KB over 10 SMTP sessions (smtp-source), timed
#     until all are in the mailbox;
#  2. 300 `sendmail -t` runs (Postfix's sendmail -C vs ours), timed until
#     all are delivered;
#  3. SMTP in as in 1, of a DKIM-signed 4 KB message from a client outside
#     mynetworks, with our SPF, DKIM and DMARC checks on (answered by a
#     private dnsmasq), beside the same with them off and beside Postfix
#     (which checks nothing). Target: checks on >= 0.8x checks off.
# Postfix is a private instance (its own main.cf, master.cf, queue and log
# in a temporary directory); the machine's Postfix is not touched. Starting
# it and delivering as a local user need root, so without root this skips.
# Each figure is the median of BENCH_RUNS runs (3), alternating ours and
# Postfix; the ratios ours/Postfix are what count.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${UNIXMAIL_BIN:-$top/bin}
runs=${BENCH_RUNS:-3}
n_smtp=2000 n_t=300

echo "== sendmail beside a private Postfix: SMTP in and sendmail -t, until in the mailbox"
if [ "$(id -u)" != 0 ]; then
	echo "  skipped: a private Postfix and a local test user need root"
	exit 0
fi
for p in postfix smtp-source useradd python3; do
	if ! command -v $p >/dev/null 2>&1; then
		echo "  skipped: $p is not installed (Debian: postfix, passwd, python3)"
		exit 0
	fi
done
pf_sendmail=$(dirname "$(command -v postfix)")/sendmail

mkdir -p "$top/build"
work=$(mktemp -d "$top/build/bench-postfix.XXXXXX")
chmod 755 "$work"
user=umbench$$
daemon= dns=
pf=$work/postfix
cleanup() {
	[ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
	[ -n "$dns" ] && kill "$dns" 2>/dev/null && wait "$dns" 2>/dev/null
	if [ -f "$pf/etc/main.cf" ]; then
		postfix -c "$pf/etc" stop >/dev/null 2>&1 || true
		# Whatever of this instance is left: its environment names our
		# config directory.
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			left=$(grep -lzxF "MAIL_CONFIG=$pf/etc" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 || true)
			[ -z "$left" ] && break
			sleep 0.5
		done
		[ -n "$left" ] && kill -9 $left 2>/dev/null
	fi
	userdel "$user" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
count() { grep -c '^From ' "$1" 2>/dev/null || true; }
wait_count() { # wait_count MBOX N: until MBOX holds N messages
	while [ "$(count "$1")" -lt "$2" ]; do sleep 0.02; done
}
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.1f", n / (b - a) }'; }
median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# One local user for both, its uid used by both: Postfix's local(8) finds
# it in /etc/passwd, ours in its user_db.
mkdir -p "$work/pfhome" "$work/ours/home"
useradd --system --no-create-home --no-user-group --gid 65534 --home-dir "$work/pfhome" --shell /usr/sbin/nologin "$user"
uid=$(id -u "$user")
chown "$uid:65534" "$work/pfhome"
mkdir -p "$work/ours/home/$user"
chown "$uid:65534" "$work/ours/home/$user"
pf_mbox=$work/pfhome/Mailbox
our_mbox=$work/ours/home/$user/Mailbox

# Postfix: home_mailbox = Mailbox, no mailbox_command, nothing from /etc/postfix.
pf_port=$(freeport)
mkdir -p "$pf/etc" "$pf/spool"
cat >"$pf/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $pf/spool
data_directory = $pf/data
mail_owner = postfix
setgid_group = postdrop
maillog_file_prefixes = $pf
maillog_file = $pf/maillog
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = pfbench.example
mydomain = pfbench.example
myorigin = pfbench.example
mydestination = pfbench.example
mynetworks = 127.0.0.0/8
relayhost =
alias_maps =
alias_database =
home_mailbox = Mailbox
mailbox_command =
smtpd_tls_security_level = none
smtp_tls_security_level = none
smtp_dns_support_level = disabled
biff = no
EOF
cat >"$pf/etc/master.cf" <<EOF
127.0.0.1:$pf_port inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
smtp      unix  - - n -  - smtp
relay     unix  - - n -  - smtp
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
local     unix  - n n -  - local
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF
if ! postfix -c "$pf/etc" start >"$work/postfix-start" 2>&1; then
	echo "  postfix did not start:"; cat "$work/postfix-start" "$pf/maillog" 2>/dev/null
	exit 1
fi

# Ours: the same user in a user_db.
our_port=$(freeport)
printf '%s:x:%s:65534:Bench:%s:/bin/sh\n' "$user" "$uid" "$work/ours/home/$user" >"$work/ours/passwd"
cat >"$work/ours/unixmail.conf" <<EOF
hostname = bench.example
user_db = $work/ours/passwd
queue_directory = $work/ours/spool
alias_maps = $work/ours/aliases
log = $work/ours/maillog
smtp_listen = 127.0.0.1:$our_port
EOF
export UNIXMAIL_CONF=$work/ours/unixmail.conf
"$bin/sendmail" -bd -q1h &
daemon=$!
until grep -q 'listening on' "$work/ours/maillog" 2>/dev/null; do sleep 0.05; done
until printf 'QUIT\r\n' | python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); assert s.recv(3)==b"220"' "$pf_port" 2>/dev/null; do sleep 0.05; done

smtp_in() { # smtp_in PORT DOMAIN MBOX [FILE]: msg/s of n_smtp messages (FILE's, else 4 KB) until delivered
	rm -f "$3"
	what="-l 4096"
	[ -n "${4:-}" ] && what="-F $4"
	t0=$(now)
	# shellcheck disable=SC2086 # what is two words
	smtp-source -s 10 -m $n_smtp $what -f alice@example.org -t "$user@$2" "127.0.0.1:$1" >/dev/null
	wait_count "$3" $n_smtp
	t1=$(now)
	rate $n_smtp "$t0" "$t1"
}
dash_t() { # dash_t DOMAIN MBOX SENDMAIL [ARGS]: msg/s of n_t sendmail -t runs until delivered
	domain=$1 mbox=$2
	shift 2
	rm -f "$mbox"
	t0=$(now)
	i=0
	while [ $i -lt $n_t ]; do
		printf 'From: alice@example.org\nTo: %s@%s\nSubject: %s\n\nbody %s\n' "$user" "$domain" $i $i | "$@" -t -i
		i=$((i + 1))
	done
	wait_count "$mbox" $n_t
	t1=$(now)
	rate $n_t "$t0" "$t1"
}

s_ours= s_pf= t_ours= t_pf=
r=0
while [ $r -lt "$runs" ]; do
	s_ours="$s_ours $(smtp_in "$our_port" bench.example "$our_mbox")"
	s_pf="$s_pf $(smtp_in "$pf_port" pfbench.example "$pf_mbox")"
	t_ours="$t_ours $(dash_t bench.example "$our_mbox" "$bin/sendmail")"
	t_pf="$t_pf $(dash_t pfbench.example "$pf_mbox" "$pf_sendmail" -C "$pf/etc")"
	r=$((r + 1))
done
so=$(echo "$s_ours" | median) sp=$(echo "$s_pf" | median)
to=$(echo "$t_ours" | median) tp=$(echo "$t_pf" | median)
printf '  SMTP in, %d x 4 KB over 10 sessions, until in the mbox (median of %d):\n' $n_smtp "$runs"
printf '    unixmail sendmail -bd: %7s msg/s  (runs:%s)\n' "$so" "$s_ours"
printf '    Postfix 3.7 smtpd:     %7s msg/s  (runs:%s)\n' "$sp" "$s_pf"
printf '    ours/Postfix = %s (target: >= 2)\n' "$(ratio "$so" "$sp")"
printf '  %d x sendmail -t, until delivered (median of %d):\n' $n_t "$runs"
printf '    unixmail sendmail -t:  %7s msg/s  (runs:%s)\n' "$to" "$t_ours"
printf '    Postfix sendmail -t:   %7s msg/s  (runs:%s)\n' "$tp" "$t_pf"
printf '    ours/Postfix = %s (target: >= 2)\n' "$(ratio "$to" "$tp")"

# 3. The checks of mail authentication (issue 13).
if ! command -v dnsmasq >/dev/null 2>&1 || ! /usr/bin/python3 -c 'import dkim' 2>/dev/null; then
	echo "  SMTP in with SPF, DKIM and DMARC: skipped, needs dnsmasq (dnsmasq-base) and dkimpy (python3-dkim)"
	exit 0
fi
kill "$daemon"
wait "$daemon" 2>/dev/null || true
daemon=
# The sender's domain: SPF passes for 127.0.0.1, DMARC p=reject, and the
# DKIM key the message is signed with (by dkimpy).
openssl genrsa -traditional -out "$work/dkim.pem" 2048 2>/dev/null
pub=$(openssl rsa -in "$work/dkim.pem" -pubout -outform DER 2>/dev/null | base64 -w0)
dns_port=$(freeport)
{
	printf 'no-resolv\nno-hosts\nbind-interfaces\nlisten-address=127.0.0.1\nport=%s\n' "$dns_port"
	printf 'pid-file=\nuser=root\ngroup=root\nlocal=/example.org/\n'
	printf 'txt-record=example.org,"v=spf1 ip4:127.0.0.1 -all"\n'
	printf 'txt-record=_dmarc.example.org,"v=DMARC1; p=reject"\n'
	printf 'txt-record=bench._domainkey.example.org,"v=DKIM1; k=rsa; p=%s","%s"\n' \
		"$(echo "$pub" | cut -c1-200)" "$(echo "$pub" | cut -c201-)"
} >"$work/dnsmasq.conf"
dnsmasq -k --conf-file="$work/dnsmasq.conf" &
dns=$!
{
	printf 'From: Alice <alice@example.org>\nTo: bench@example.net\nSubject: signed bench\n'
	printf 'Date: Fri, 04 Dec 2026 10:00:00 +0000\nMessage-ID: <bench@example.org>\n\n'
	for i in $(seq 1 52); do printf 'line %02d of the benchmark body, padded to about seventy-eight chars....\n' "$i"; done
} >"$work/plain.eml"
/usr/bin/python3 -c '
import dkim, sys
msg = open(sys.argv[1], "rb").read()
key = open(sys.argv[2], "rb").read()
sig = dkim.sign(msg, b"bench", b"example.org", key,
                include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
sys.stdout.buffer.write(sig.replace(b"\r\n", b"\n") + msg)' "$work/plain.eml" "$work/dkim.pem" >"$work/signed.eml"

ours_checked() { # ours_checked yes|no: msg/s of SMTP in of signed.eml, the checks on or off
	port=$(freeport)
	"$bin/sendmail" -bd -q1h -o smtp_listen="127.0.0.1:$port" -o msgauth_checks="$1" \
		-o mynetworks=192.0.2.0/24 -o dns_resolver="127.0.0.1:$dns_port" &
	daemon=$!
	until grep -q "listening on 127.0.0.1:$port" "$work/ours/maillog" 2>/dev/null; do sleep 0.05; done
	smtp_in "$port" bench.example "$our_mbox" "$work/signed.eml"
	kill "$daemon"
	wait "$daemon" 2>/dev/null || true
	daemon=
}
a_off= a_on= a_pf=
r=0
while [ $r -lt "$runs" ]; do
	a_off="$a_off $(ours_checked no)"
	a_on="$a_on $(ours_checked yes)"
	a_pf="$a_pf $(smtp_in "$pf_port" pfbench.example "$pf_mbox" "$work/signed.eml")"
	r=$((r + 1))
done
if ! grep -q 'dkim=pass header.d=example.org' "$our_mbox" || ! grep -q 'dmarc=pass header.from=example.org' "$our_mbox"; then
	echo "  WARNING: the checked messages do not carry dkim and dmarc passes"
fi
ao=$(echo "$a_off" | median) an=$(echo "$a_on" | median) ap=$(echo "$a_pf" | median)
printf '  SMTP in, %d DKIM-signed 4 KB messages over 10 sessions from outside mynetworks (median of %d):\n' $n_smtp "$runs"
printf '    unixmail, checks off:           %7s msg/s  (runs:%s)\n' "$ao" "$a_off"
printf '    unixmail, SPF+DKIM+DMARC on:    %7s msg/s  (runs:%s)\n' "$an" "$a_on"
printf '    Postfix 3.7 smtpd, no checks:   %7s msg/s  (runs:%s)\n' "$ap" "$a_pf"
printf '    checks on/off = %s (target: >= 0.8); checks on/Postfix = %s\n' "$(ratio "$an" "$ao")" "$(ratio "$an" "$ap")"
