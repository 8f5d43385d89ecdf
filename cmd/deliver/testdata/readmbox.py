#!/usr/bin/env python3
"""Read an mbox with Python's mailbox and email modules (a reader we did not
write) and print what it found as JSON: for each message its From_ line,
selected headers and its body with mboxrd quoting undone."""
import email.policy
import json
import mailbox
import re
import sys

out = []
for msg in mailbox.mbox(sys.argv[1], factory=None, create=False):
    raw = msg.as_bytes(policy=email.policy.compat32)
    head, _, body = raw.partition(b"\n\n")
    body = re.sub(rb"(?m)^>(>*From )", rb"\1", body)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    out.append({
        "from_": msg.get_from(),
        "subject": str(parsed.get("Subject", "")),
        "return_path": str(parsed.get("Return-Path", "")),
        "delivered_to": str(parsed.get("Delivered-To", "")),
        "status": parsed.get_all("Status", []),
        "x_uid": parsed.get_all("X-UID", []),
        "x_keywords": [str(v) for v in parsed.get_all("X-Keywords", [])],
        "body": body.decode("utf-8", "replace"),
    })
json.dump(out, sys.stdout)
