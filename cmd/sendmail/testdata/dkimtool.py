"""dkimpy and smtplib for the mail authentication tests.

dkimtool.py verify DNS            message on stdin; prints pass or fail
dkimtool.py sign SELECTOR DOMAIN KEYFILE   message on stdin, signed on stdout
dkimtool.py send ADDR HELO MAILFROM RCPT   message on stdin; prints the reply

DNS is ADDRESS:PORT of the test DNS server, which dkimpy asks through
dnspython instead of the system's resolver.
"""
import smtplib
import sys

import dkim
import dns.resolver


def dnsfunc_for(server):
    host, port = server.rsplit(":", 1)
    r = dns.resolver.Resolver(configure=False)
    r.nameservers = [host]
    r.port = int(port)

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        try:
            ans = r.resolve(name, "TXT", lifetime=timeout)
        except Exception:
            return None
        for rr in ans:
            return b"".join(rr.strings)
        return None

    return dnsfunc


def main():
    mode = sys.argv[1]
    msg = sys.stdin.buffer.read()
    if mode == "verify":
        try:
            ok = dkim.DKIM(msg).verify(dnsfunc=dnsfunc_for(sys.argv[2]))
        except dkim.DKIMException as e:
            print("fail:", e)
            return 1
        print("pass" if ok else "fail")
        return 0 if ok else 1
    if mode == "sign":
        selector, domain, keyfile = sys.argv[2:5]
        key = open(keyfile, "rb").read()
        sig = dkim.sign(msg, selector.encode(), domain.encode(), key,
                        include_headers=[b"from", b"to", b"subject", b"date"])
        sys.stdout.buffer.write(sig + msg)
        return 0
    if mode == "send":
        addr, helo, mailfrom, rcpt = sys.argv[2:6]
        host, port = addr.rsplit(":", 1)
        s = smtplib.SMTP(host, int(port), local_hostname=helo)
        try:
            s.sendmail(mailfrom, [rcpt], msg)
            print("250 accepted")
        except smtplib.SMTPDataError as e:
            print(e.smtp_code, e.smtp_error.decode())
        s.quit()
        return 0
    print("unknown mode", mode, file=sys.stderr)
    return 64


sys.exit(main())
