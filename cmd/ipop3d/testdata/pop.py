#!/usr/bin/env python3
"""Drive a POP3 server with python's poplib, as a mail client would.

usage: pop.py MODE HOST PORT USER PASSWORD CAFILE ACTION...
MODE: plain, stls (plain, then STLS) or ssl (POP3_SSL, implicit TLS).
ACTION: stat, uidl, retr-all, dele-all, quit. Prints one line per fact:
"stat N SIZE", "uidl N UID", "retr N SUBJECT", "dele N", "quit +OK...".
"""
import poplib
import ssl
import sys

mode, host, port, user, password, cafile = sys.argv[1:7]
actions = sys.argv[7:]
ctx = None
if cafile != "-":
    ctx = ssl.create_default_context(cafile=cafile)
if mode == "ssl":
    p = poplib.POP3_SSL(host, int(port), context=ctx, timeout=30)
else:
    p = poplib.POP3(host, int(port), timeout=30)
    if mode == "stls":
        p.stls(context=ctx)
p.user(user)
p.pass_(password)
count, size = p.stat()
for a in actions:
    if a == "stat":
        print("stat", count, size)
    elif a == "uidl":
        for line in p.uidl()[1]:
            n, uid = line.decode().split()
            print("uidl", n, uid)
    elif a == "retr-all":
        for n in range(1, count + 1):
            lines = p.retr(n)[1]
            subject = next((l.decode() for l in lines if l.lower().startswith(b"subject:")), "")
            print("retr", n, subject)
    elif a == "dele-all":
        for n in range(1, count + 1):
            p.dele(n)
            print("dele", n)
    elif a == "quit":
        print("quit", p.quit().decode())
