#!/usr/bin/python3
"""DCs found through DNS SRV records, with failover and the health check.

A DNS stub on 127.0.0.1:53 (in the test's network namespace; a private
mount namespace points /etc/resolv.conf at it) answers
_ldap._tcp.dc._msdcs.sspr.test with two records: priority 0 -> a port where
nothing listens, priority 10 -> the real DC (dc1.sspr.test:389, StartTLS, the
certificate names it). ssprd is configured with srv_domain only.
A reset must skip the dead DC, write to the live one, and `sspr-admin check`
must report both, the dead one as FAIL.
"""
import ctypes
import os
import socket
import struct
import subprocess
import threading

import sspr_harness as h
import sspr_env as e

CLONE_NEWNS = 0x00020000
MS_REC, MS_PRIVATE, MS_BIND = 0x4000, 0x40000, 0x1000
QNAME = "_ldap._tcp.dc._msdcs.sspr.test"


def private_resolver(resolv, hosts):
    """A private mount namespace where /etc/resolv.conf and /etc/hosts are
    the test's own (DC name dc1.sspr.test -> 127.0.0.1; the test certificate
    names it. libldap treats "localhost" specially, so a real name is used)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise OSError(ctypes.get_errno(), "make / private")
    for src, dst in ((resolv, "/etc/resolv.conf"), (hosts, "/etc/hosts")):
        target = os.path.realpath(dst).encode()
        if libc.mount(src.encode(), target, None, MS_BIND, None) != 0:
            raise OSError(ctypes.get_errno(), "bind-mount " + dst)


def encode_name(name):
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


class DnsStub(threading.Thread):
    def __init__(self, records):
        super().__init__(daemon=True)
        self.records = records  # [(prio, weight, port, target)]
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 53))
        self.queries = []

    def run(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(512)
            except OSError:
                return
            qid = data[:2]
            i, labels = 12, []
            while data[i] != 0:
                labels.append(data[i + 1:i + 1 + data[i]].decode())
                i += 1 + data[i]
            qname = ".".join(labels)
            qtype = struct.unpack(">H", data[i + 1:i + 3])[0]
            question = data[12:i + 5]
            self.queries.append((qname, qtype))
            answers = b""
            count = 0
            if qname.lower() == QNAME and qtype == 33:
                for prio, weight, port, target in self.records:
                    rdata = struct.pack(">HHH", prio, weight, port) + encode_name(target)
                    answers += b"\xc0\x0c" + struct.pack(">HHIH", 33, 1, 60, len(rdata)) + rdata
                    count += 1
            flags = 0x8180 if count else 0x8183  # NXDOMAIN when nothing matches
            header = qid + struct.pack(">HHHHH", flags, 1, count, 0, 0)
            self.sock.sendto(header + question + answers, peer)

    def close(self):
        self.sock.close()


def main():
    work = h.new_work_dir("dc_discovery")
    resolv = os.path.join(work, "resolv.conf")
    with open(resolv, "w") as f:
        f.write("nameserver 127.0.0.1\noptions timeout:2 attempts:1\n")
    hosts = os.path.join(work, "hosts")
    with open(hosts, "w") as f:
        f.write("127.0.0.1 localhost dc1.sspr.test dc2.sspr.test\n")
    private_resolver(resolv, hosts)
    dns = DnsStub([(0, 100, 3899, "dc2.sspr.test"), (10, 100, 389, "dc1.sspr.test")])
    dns.start()
    h.register_cleanup(dns.close)

    dc = h.Dc(os.environ["SSPR_GOLDEN"], os.path.join(work, "dc"))
    dc.start()
    smtp = h.SmtpSink(os.path.join(work, "smtp")).start()
    ssprd = e.Ssprd(work, dc, smtp.port)
    with open(ssprd.conf) as f:
        conf = f.read().replace("uri = ldaps://127.0.0.1\n", "srv_domain = sspr.test\n")
    with open(ssprd.conf, "w") as f:
        f.write(conf)
    ssprd.start()
    pam, env = e.make_pam(work, dc, ssprd)

    new = "Found-By-Srv-Pass-1"
    login = e.Login(env, "user1")
    login.expect(e.PASSWORD_PROMPT)
    login.send("")
    login.expect(e.CODE_PROMPT)
    login.send(e.code_from(smtp.wait_for("user1.alt@example.org", timeout=15)))
    login.expect(e.NEW_PROMPT)
    login.send(new)
    login.expect(e.RETYPE_PROMPT)
    login.send(new)
    status, _ = login.finish()
    assert status == 0 and "has been saved" in login.screen(), login.screen()
    assert dc.can_bind("user1", new)
    assert (QNAME, 33) in dns.queries, dns.queries

    r = subprocess.run([os.path.join(e.BUILD, "helper", "sspr-admin"), "check", "--config", ssprd.conf],
                       capture_output=True, text=True, timeout=120)
    out = r.stdout
    assert "[FAIL] DC ldap://dc2.sspr.test:3899: dir_unavailable" in out, out
    assert "[ OK ] DC ldap://dc1.sspr.test:389: TLS verified" in out, out
    assert ssprd.stop() == 0
    smtp.stop()
    dc.stop()


if __name__ == "__main__":
    h.run_test(main)
