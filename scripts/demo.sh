#!/bin/sh
# make demo: the main job on a sandbox under build/demo, with no root and no
# edits to any system file. alice and bob are virtual users (a user_db file)
# whose uid is yours and whose homes are in the sandbox.
set -eu
# A login shell sets MAIL=/var/mail/NAME (and may set MAILRC or MBOX): they
# would make bob's sandbox INBOX a plain folder to mail. The demo's users
# have only the sandbox, from any shell.
unset MAIL MAILRC MBOX
top=$(cd "$(dirname "$0")/.." && pwd)
bin=$top/bin
demo=$top/build/demo
rm -rf "$demo"
mkdir -p "$demo/home/alice" "$demo/home/bob" "$demo/spool"
uid=$(id -u) gid=$(id -g)
cat >"$demo/passwd" <<EOP
alice:x:$uid:$gid:Alice Example:$demo/home/alice:/bin/sh
bob:x:$uid:$gid:Bob Example:$demo/home/bob:/bin/sh
EOP
cat >"$demo/unixmail.conf" <<EOC
# The demo sandbox: every path is under build/demo.
hostname = demo.example
user_db = $demo/passwd
mailbox = ~/Mailbox
folder_dir = ~/mail
alias_maps = $demo/aliases
queue_directory = $demo/spool
log = $demo/maillog
EOC
export UNIXMAIL_CONF=$demo/unixmail.conf

step() { printf '\n== %s\n' "$*"; }

step "deliver: three messages for bob, one with a body line that starts with From"
for i in 1 2 3; do
	printf 'From: Alice Example <alice@demo.example>\nTo: bob@demo.example\nSubject: Demo message %s\nStatus: RO\n\nHello Bob, this is message %s.\nFrom here on it is only a body line.\n' "$i" "$i" |
		"$bin/deliver" -f alice@demo.example bob
done
step "bob's mailbox, $demo/home/bob/Mailbox (the forged Status header was dropped)"
cat "$demo/home/bob/Mailbox"
step "deliver to a user who does not exist"
echo "Subject: lost" | "$bin/deliver" nobody-here || echo "deliver exited $? (67 = no such user)"
# --- sendmail steps (issue 3) go here ---
step "sendmail -t: alice writes to bob; the header names the recipient"
printf 'root: bob\n' >"$demo/aliases"
printf 'To: Bob Example <bob@demo.example>\nSubject: Lunch?\n\nNoon at the usual place?\n' |
	"$bin/sendmail" -t -i
step "bob's mailbox now ends with alice's message (Date, Message-ID and From were added)"
tail -n 12 "$demo/home/bob/Mailbox"
step "mail for root goes to bob through the aliases file; mailq afterwards"
printf 'Subject: disk almost full\n\n/var is at 91%%.\n' | "$bin/sendmail" -FCronDaemon -oi root
echo "bob's mailbox holds $(grep -c '^Subject: disk almost full' "$demo/home/bob/Mailbox") message(s) about the disk"
"$bin/sendmail" -bp

# --- mail steps (issue 4) go here ---
step "mail -H: bob's header summary"
HOME=$demo/home/bob LOGNAME=bob "$bin/mail" -n -H -f "$demo/home/bob/Mailbox"
step "mail: bob reads message 1, deletes message 2 and quits (commands on stdin)"
printf 'p 1\nd 2\nq\n' | HOME=$demo/home/bob LOGNAME=bob "$bin/mail" -n -N -f "$demo/home/bob/Mailbox"
step "bob's mailbox now: read message 1 moved to ~/mbox (POSIX quit), 2 deleted, the rest marked old (Status: O)"
HOME=$demo/home/bob LOGNAME=bob "$bin/mail" -n -H -f "$demo/home/bob/Mailbox"
grep -n '^Status' "$demo/home/bob/Mailbox"

# --- imapd steps (issue 10) go here ---
step "imapd: bob reads his mail over IMAP (python3 imaplib, imapd pre-authenticated on a pipe as ssh would run it)"
LOGNAME=bob python3 - "$bin/imapd" <<'EOPY'
import imaplib, sys
M = imaplib.IMAP4_stream(sys.argv[1])
typ, data = M.select("INBOX")
print("INBOX holds", data[0].decode(), "messages; UIDVALIDITY", M.untagged_responses["UIDVALIDITY"][0].decode())
typ, data = M.fetch("1:*", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
for item in data:
    if isinstance(item, tuple):
        print(" ", item[0].decode().split(" BODY")[0] + ")", item[1].decode().strip())
M.store("1", "+FLAGS", r"(\Flagged)")
M.create("Archive")
typ, data = M.uid("MOVE", "1", "Archive")
print("moved UID 1 to Archive:", M.untagged_responses.get("COPYUID", M.untagged_responses.get("OK", [b""]))[0])
M.logout()
EOPY
# --- ipop3d steps (issue 9) ---
step "ipop3d: bob fetches his mail over POP3 (python3 poplib, ipop3d --listen on loopback)"
# bob needs a password for POP3: a SHA-512 crypt hash in the user_db.
hash=$(openssl passwd -6 -salt demodemo 'bob-demo-password')
sed "s|^bob:x:|bob:$hash:|" "$demo/passwd" >"$demo/passwd.new" && mv "$demo/passwd.new" "$demo/passwd"
"$bin/ipop3d" --listen 127.0.0.1:0 &
pop3d=$!
addr=
while [ -z "$addr" ]; do
	sleep 0.1
	addr=$(sed -n 's/.*ipop3d\[[0-9]*\]: daemon started -- listening on //p' "$demo/maillog" | tail -n 1)
done
python3 - "$addr" <<'EOPY'
import poplib, sys
host, port = sys.argv[1].rsplit(":", 1)
p = poplib.POP3(host, int(port))
print(p.getwelcome().decode())
print("CAPA:", " ".join(sorted(p.capa())))
p.user("bob")
p.pass_("bob-demo-password")
count, size = p.stat()
print("STAT:", count, "messages,", size, "octets")
for line in p.uidl()[1]:
    n, uid = line.decode().split()
    subject = next(l.decode() for l in p.top(int(n), 0)[1] if l.lower().startswith(b"subject:"))
    print("  ", n, uid, subject)
print("RETR 1:")
for line in p.retr(1)[1][-3:]:
    print("   |", line.decode())
print("DELE 1:", p.dele(1).decode())
print("QUIT:", p.quit().decode())
EOPY
kill $pop3d
wait $pop3d 2>/dev/null || true
step "bob's mailbox after QUIT: message 1 removed, the other keeps its UIDL (its X-UID)"
HOME=$demo/home/bob LOGNAME=bob "$bin/mail" -n -H -f "$demo/home/bob/Mailbox"

step "the state lives in the files, where mutt, Dovecot and mail read it (X-UID, X-IMAPbase, Status, X-Status)"
grep -n '^X-UID\|^X-IMAPbase\|^Status\|^X-Status' "$demo/home/bob/Mailbox" "$demo/home/bob/mail/Archive"

step "the log, one line per event"
cat "$demo/maillog"
