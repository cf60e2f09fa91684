#!/usr/bin/python3
"""64 parallel guessers against one account (SECURITY.md rule 11 and its
test-matrix row): 64 clients speak the wire protocol to ssprd at once (as
root, acting for user1), each answers its code prompt with a wrong code.
Failures are counted before answers are checked, so at most 5 answers are
ever checked and the rest are refused by the throttle; afterwards even the
right code is refused. Nothing is written to AD.
"""
import os
import re
import socket
import struct
import threading

import sspr_harness as h
import sspr_env as e

CODE_PROMPT_ID = 21


def s16(b):
    return struct.pack(">H", len(b)) + b


def send(sock, payload):
    sock.sendall(struct.pack(">I", len(payload)) + payload)


def recv(sock):
    def exact(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf
    n = struct.unpack(">I", exact(4))[0]
    return exact(n)


def items(payload):
    """(type, [msg ids]) of a kStep/kResult payload."""
    t = payload[1]
    p = 2 if t == 3 else 3
    count = payload[p]
    p += 1
    ids = []
    for _ in range(count):
        style, flags, msg, nparams = payload[p], payload[p + 1], struct.unpack(">H", payload[p + 2:p + 4])[0], payload[p + 4]
        p += 5
        for _ in range(nparams):
            ln = struct.unpack(">H", payload[p:p + 2])[0]
            p += 2 + ln
        ids.append(msg)
    return t, ids


def guesser(path, answer, results, i):
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(60)
        s.connect(path)
        send(s, bytes([1, 2, 1, 0]) + s16(b"user1") + s16(b"guess") + s16(b"") + s16(("10.0.0.%d" % i).encode()))
        while True:
            t, ids = items(recv(s))
            if t == 5:
                results.append("ended-early")
                return
            if ids[-1] == CODE_PROMPT_ID:
                break
            send(s, bytes([1, 4, 1]) + s16(b""))
        send(s, bytes([1, 4, 0]) + s16(answer.encode()))
        t, ids = items(recv(s))
        results.append("next-prompt" if t == 3 else "result")
        if t == 3:
            send(s, bytes([1, 4, 0]) + s16(b""))  # cancel
            recv(s)
        s.close()
    except Exception as ex:  # noqa: BLE001 - reported below
        results.append("error: %r" % ex)


def main():
    work = h.new_work_dir("parallel_guessers")
    dc = h.Dc(os.environ["SSPR_GOLDEN"], os.path.join(work, "dc"))
    dc.start()
    smtp = h.SmtpSink(os.path.join(work, "smtp")).start()
    ssprd = e.Ssprd(work, dc, smtp.port, extra={"throttle": {
        "failures": "5", "source_failures": "20", "sends_per_minute": "10", "sends_per_day": "1000"},
        "helper": {"max_clients": "128"}}).start()

    results = []
    threads = [threading.Thread(target=guesser, args=(ssprd.sock, "00000000", results, i)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    errors = [r for r in results if r.startswith("error")]
    assert not errors and len(results) == 64, results[:5]
    audit = ssprd.audit_text()
    checked = len(re.findall(r'event=code_wrong account="user1"', audit))
    blocked = len(re.findall(r'event=verification_blocked account="user1"', audit))
    refused_at_start = len(re.findall(r'event=reset_ineligible account="user1".*reason="throttled"', audit))
    # Every answer either was checked (one of at most 5) or refused unchecked.
    assert checked - blocked <= 5, "more than 5 answers were checked: %d checked, %d blocked" % (checked, blocked)
    assert blocked + refused_at_start >= 59, (checked, blocked, refused_at_start)
    # Now even the right code is refused.
    before = len(smtp.messages_to("user1.alt@example.org"))
    results = []
    pam, env = e.make_pam(work, dc, ssprd)
    login = e.Login(env, "user1")
    login.expect(e.PASSWORD_PROMPT)
    login.send("")
    login.expect(e.CODE_PROMPT)
    assert len(smtp.messages_to("user1.alt@example.org")) == before, "a blocked account got a code"
    login.send(e.code_from(smtp.messages_to("user1.alt@example.org")[-1]))
    login.expect("That code is not correct.")
    login.child.sendline("")
    login.finish()
    assert dc.can_bind("user1", h.PASSWORDS["user1"])
    print("64 guessers: %d answers checked, %d refused by the throttle, %d blocked at start"
          % (checked - blocked, blocked, refused_at_start), flush=True)
    assert ssprd.stop() == 0
    smtp.stop()
    dc.stop()


if __name__ == "__main__":
    h.run_test(main)
