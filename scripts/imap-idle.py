#!/usr/bin/env python3
"""Time how soon an idling IMAP session hears of new mail, for
bench-imap-idle.sh.

usage: imap-idle.py MAILBOX ROUNDS SERVER-ARGV...

The server (pre-authenticated over a pipe) selects INBOX and idles; each
round appends one message to MAILBOX under a dot-lock and an fcntl lock,
as deliver does, and times the wait for its EXISTS. Prints the median and
the largest wait in milliseconds.
"""
import fcntl
import os
import subprocess
import sys
import time

mailbox, rounds, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
server = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def send(s):
    server.stdin.write(s.encode())
    server.stdin.flush()


def until(pred):
    while True:
        line = server.stdout.readline().decode(errors="replace")
        if not line:
            sys.exit("the server hung up")
        if pred(line):
            return line


def append(n):
    lock = mailbox + ".lock"
    while True:
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            break
        except FileExistsError:
            time.sleep(0.01)
    try:
        with open(mailbox, "ab") as f:
            fcntl.lockf(f, fcntl.LOCK_EX)
            f.write(b"From bench@example.org Mon May  6 07:08:09 2024\n"
                    b"From: bench@example.org\nSubject: idle %d\n\nnew mail\n\n" % n)
            f.flush()
            fcntl.lockf(f, fcntl.LOCK_UN)
    finally:
        os.unlink(lock)


until(lambda l: l.startswith("* "))  # greeting
send("a SELECT INBOX\r\n")
exists = int(next(l.split()[1] for l in iter(lambda: until(lambda l: " EXISTS" in l or l.startswith("a ")), None)
                 if " EXISTS" in l))
until(lambda l: l.startswith("a "))
send("b IDLE\r\n")
until(lambda l: l.startswith("+"))
time.sleep(0.5)
waits = []
for r in range(rounds):
    t0 = time.monotonic()
    append(r)
    exists += 1
    want = "* %d EXISTS" % exists
    until(lambda l: l.startswith(want))
    waits.append((time.monotonic() - t0) * 1000)
    time.sleep(0.2)
send("DONE\r\n")
until(lambda l: l.startswith("b "))
send("z LOGOUT\r\n")
server.stdin.close()
server.wait()
waits.sort()
print("%.0f %.0f" % (waits[len(waits) // 2], waits[-1]))
