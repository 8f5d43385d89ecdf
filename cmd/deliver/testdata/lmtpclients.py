# lmtpclients.py SOCKET SESSIONS EACH: SESSIONS python smtplib LMTP clients
# at once on the unix socket, each sending EACH messages to alice, one
# transaction after another; prints the number of 250 answers.
import smtplib, sys, threading

sock, sessions, each = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ok = []

def session(s):
    c = smtplib.LMTP(sock)  # its ehlo() says LHLO
    c.ehlo("test.example")
    for i in range(each):
        msg = f"From: bob@test.example\r\nSubject: session {s} message {i}\r\n\r\nbody {s} {i}\r\n"
        refused = c.sendmail("bob@test.example", ["alice@test.example"], msg)
        if not refused:
            ok.append(1)
    c.quit()

threads = [threading.Thread(target=session, args=(s,)) for s in range(sessions)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(len(ok))
