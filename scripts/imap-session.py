#!/usr/bin/env python3
"""Drive one pre-authenticated IMAP server over a pipe for bench-imap.sh.

usage: imap-session.py COMMANDS-FILE OUTPUT-FILE SERVER-ARGV...

It writes to OUTPUT-FILE.t the seconds from the greeting to the tagged
reply of the last command before LOGOUT: the session's work without the
server's start and exit, as a client that keeps its connection sees it
(TARGETS.md's figures for a warm SELECT and BODY[] are of that kind).

Every command but the last (LOGOUT) is sent at once, as a client that
pipelines would; LOGOUT is sent only when the command before it has had its
tagged reply. Dovecot ends a session at end of input even while a command
is still running, so feeding it the whole file and closing would time
nothing.
"""
import re
import subprocess
import sys
import threading
import time

cmds_file, out_file, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
data = open(cmds_file, "rb").read()
cut = data.rstrip(b"\r\n").rfind(b"\r\n") + 2
body, logout = data[:cut], data[cut:]
# The tag to wait for: that of the last command line (a literal's data
# lines never look like "TAG COMMAND").
tags = [m.group(1) for m in re.finditer(rb"(?m)^([A-Za-z0-9]+) [A-Z]+(?: |\r$)", body)]
waitfor = tags[-1] + b" "

# What a write to an empty pipe takes without waiting for the reader.
PIPE_ROOM = 4096

with open(out_file, "wb") as out:
    server = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=out)
    # Commands that fit in the empty pipe are written at once; more are
    # written from a thread (the replies may fill the other pipe before
    # they are all sent), started before the greeting and only let go
    # after it: starting a thread takes the client half a millisecond,
    # which is not the server's time.
    go = threading.Event()

    def feed():
        if len(body) > PIPE_ROOM:
            go.wait()
            server.stdin.write(body)
            server.stdin.flush()

    feeder = threading.Thread(target=feed)
    feeder.start()
    greeting = server.stdout.readline()
    out.write(greeting)
    start = time.monotonic()
    if len(body) <= PIPE_ROOM:
        server.stdin.write(body)
        server.stdin.flush()
    go.set()
    # Read in chunks, not lines: a client's per-line work would be timed
    # too (2 MB of BODY[] is 40,000 lines).
    mark, tail = b"\n" + waitfor, b"\n"
    while True:
        chunk = server.stdout.read1(1 << 20)
        if not chunk:
            break
        out.write(chunk)
        if mark in tail + chunk:
            break
        tail = (tail + chunk)[-len(mark):]
    with open(out_file + ".t", "w") as t:
        print("%.4f" % (time.monotonic() - start), file=t)
    feeder.join()
    server.stdin.write(logout)
    server.stdin.close()
    for line in server.stdout:
        out.write(line)
    sys.exit(server.wait())
