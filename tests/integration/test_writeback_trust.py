#!/usr/bin/python3
"""Writeback a user can trust, against real Samba DCs:

- the answer to the modify is lost (a loopback proxy forwards the request to
  the DC, then cuts the connection before the reply): ssprd re-reads
  pwdLastSet and tells the user the truth ("saved"), and the password binds;
- the answer is lost AND the DC is killed at once: the user is told the
  outcome is unknown, never "not changed" or "saved";
- failover: the first DC is down, the second (same domain, on ::1) takes the
  write; the new password binds there;
- must_change_after_reset: pwdLastSet = 0 after the reset;
- two resets of one account at the same moment are serialised: both are
  written one after the other and the account ends with one of the two.
"""
import os
import re
import socket
import ssl
import threading
import time

import sspr_harness as h
import sspr_env as e


class CuttingProxy:
    """TCP proxy 127.0.0.1:port -> target. When armed, it forwards the first
    client chunk of at least `min_size` bytes (the modify carrying a long
    unicodePwd: searches are smaller, and the TLS ClientHello of ~373 bytes
    only starts a connection, never while a flow waits at the retype
    prompt), then drops the server's reply and closes both sides, as if the
    link died between request and reply."""

    def __init__(self, target, min_size=450):
        self.target = target
        self.min_size = min_size
        self.armed = threading.Event()
        self.cut = threading.Event()
        self.on_cut = None
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(16)
        self.stop_flag = False
        threading.Thread(target=self.accept_loop, daemon=True).start()
        h.register_cleanup(self.close)

    def accept_loop(self):
        self.sock.settimeout(0.2)
        while not self.stop_flag:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                s = socket.create_connection(self.target, timeout=5)
            except OSError:
                c.close()
                continue
            conn = {"cut": False}  # this connection's reply is lost once set
            threading.Thread(target=self.pump, args=(c, s, True, conn), daemon=True).start()
            threading.Thread(target=self.pump, args=(s, c, False, conn), daemon=True).start()

    def pump(self, src, dst, from_client, conn):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if not from_client and conn["cut"]:
                    # The DC has answered the modify (so it applied it). The
                    # answer is lost; with on_cut the DC dies before the
                    # client can reconnect and ask.
                    if self.on_cut:
                        self.on_cut()
                    break
                dst.sendall(data)
                if from_client and os.environ.get("SSPR_PROXY_DEBUG"):
                    print("proxy: client chunk %d bytes" % len(data), flush=True)
                if from_client and self.armed.is_set() and len(data) >= self.min_size:
                    self.armed.clear()
                    conn["cut"] = True
                    self.cut.set()
        except OSError:
            pass
        for x in (src, dst):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            x.close()

    def reset(self):
        self.cut.clear()
        self.armed.clear()
        self.on_cut = None

    def close(self):
        self.stop_flag = True
        self.sock.close()


class Dc6(h.Dc):
    """A second DC of the same domain on ::1 (the test certificate names
    ::1 too), so failover can be tested with Samba's fixed ports."""
    ldaps_uri = "ldaps://[::1]"

    def __init__(self, golden, work):
        super().__init__(golden, work)
        with open(self.smb_conf) as f:
            conf = f.read()
        conf = re.sub(r"(?m)^\s*interfaces = .*$", "\tinterfaces = ::1", conf)
        with open(self.smb_conf, "w") as f:
            f.write(conf)

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        ctx = ssl.create_default_context(cafile=self.ca_file)
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("samba on ::1 exited\n" + h.log_tail(self.log_path))
            try:
                with socket.create_connection(("::1", 636), timeout=1) as s:
                    with ctx.wrap_socket(s, server_hostname="::1"):
                        return
            except (OSError, ssl.SSLError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("samba on ::1 not ready\n" + h.log_tail(self.log_path))
            time.sleep(0.05)


LONG = "Long-Password-" + "x7Y" * 60  # ~200 characters: the modify is > 400 bytes, searches < 200


def reset_until_retype(env, smtp, user, pw):
    login = e.Login(env, user)
    login.expect(e.PASSWORD_PROMPT)
    login.send("")
    login.expect(e.CODE_PROMPT)
    n = len(smtp.messages_to(h.USERS[user]["other"]))
    login.send(e.code_from(smtp.wait_for(h.USERS[user]["other"], timeout=15, after=max(0, n - 1))))
    login.expect(e.NEW_PROMPT)
    login.send(pw)
    login.expect(e.RETYPE_PROMPT)
    return login


def main():
    work = h.new_work_dir("writeback_trust")
    dc = h.Dc(os.environ["SSPR_GOLDEN"], os.path.join(work, "dc"))
    dc.start()
    smtp = h.SmtpSink(os.path.join(work, "smtp")).start()
    proxy = CuttingProxy(("127.0.0.1", 636))
    ssprd = e.Ssprd(work, dc, smtp.port, uri="ldaps://127.0.0.1:%d" % proxy.port).start()
    pam, env = e.make_pam(work, dc, ssprd)

    # 1. Reply lost, DC alive: the read-back finds the write; user told "saved".
    pw1 = LONG + "1"
    login = reset_until_retype(env, smtp, "user1", pw1)
    proxy.armed.set()
    login.send(pw1)
    status, _ = login.finish()
    assert proxy.cut.is_set(), "the proxy never cut the modify"
    assert "Your new password has been saved" in login.screen(), login.screen()
    assert dc.can_bind("user1", pw1) and not dc.can_bind("user1", h.PASSWORDS["user1"])
    proxy.reset()

    # 2. Reply lost and the DC killed at once: the outcome is unknown, and
    #    the user is told exactly that.
    pw2 = LONG + "2"
    login = reset_until_retype(env, smtp, "user2", pw2)
    proxy.on_cut = dc.kill
    proxy.armed.set()
    login.send(pw2)
    status, _ = login.finish()
    screen = login.screen()
    assert proxy.cut.is_set()
    assert "could not confirm whether your new password was saved" in screen, screen
    assert "has been saved" not in screen and "was NOT changed" not in screen, screen
    assert status != 0
    proxy.reset()
    dc.start()
    assert 'result="unknown"' in ssprd.audit_text()
    assert ssprd.stop() == 0

    # 3. Failover: DC1 down, DC2 on ::1 takes the write.
    dc2 = Dc6(os.environ["SSPR_GOLDEN"], os.path.join(work, "dc2"))
    dc2.start()
    krb5 = os.path.join(work, "krb5-two.conf")
    dc.write_krb5_conf(krb5)
    with open(krb5) as f:
        conf = f.read().replace("kdc = 127.0.0.1", "kdc = 127.0.0.1\n        kdc = [::1]")
    with open(krb5, "w") as f:
        f.write(conf)
    ssprd = e.Ssprd(work, dc, smtp.port, uri="ldaps://127.0.0.1 ldaps://[::1]",
                    extra={"policy": {"must_change_after_reset": "no"}}).start()
    pam, env = e.make_pam(work, dc, ssprd)
    env["KRB5_CONFIG"] = krb5
    dc.stop()
    pw3 = "Failover-Pass-33"
    login = reset_until_retype(env, smtp, "user3", pw3)
    login.send(pw3)
    status, _ = login.finish()
    assert "Your new password has been saved" in login.screen(), login.screen()
    assert status == 0, "login via the second DC's KDC failed:\n" + login.screen()
    assert dc2.can_bind("user3", pw3), "the second DC did not get the write"
    dc.start()
    assert dc.can_bind("user3", h.PASSWORDS["user3"]), "the stopped DC changed?!"
    assert ssprd.stop() == 0
    dc2.stop()

    # 4. must_change_after_reset, and 5. two resets of one account at once.
    ssprd = e.Ssprd(work, dc, smtp.port, extra={"policy": {"must_change_after_reset": "yes"}}).start()
    pam, env = e.make_pam(work, dc, ssprd)
    pw4 = "Must-Change-Next-4"
    login = reset_until_retype(env, smtp, "user4", pw4)
    login.send(pw4)
    login.expect("Your new password has been saved")
    # The next module (pam_krb5) now sees a must-change password, as intended.
    login.expect("Password expired.  You must change it now.")
    login.child.terminate(force=True)
    assert dc.get_one("user4", "pwdLastSet") == "0", "pwdLastSet not 0 with must_change_after_reset"
    assert ssprd.stop() == 0

    ssprd = e.Ssprd(work, dc, smtp.port).start()
    pam, env = e.make_pam(work, dc, ssprd)
    a = e.Login(env, "dave")
    b = e.Login(env, "dave")
    for x in (a, b):
        x.expect(e.PASSWORD_PROMPT)
        x.send("")
        x.expect(e.CODE_PROMPT)
    smtp.wait_for("dave.alt@example.org", timeout=15, after=1)
    codes = [e.code_from(m) for m in smtp.messages_to("dave.alt@example.org")[-2:]]
    assert len(codes) == 2
    # Each session has its own code; try each code in each session.
    pws = {}
    for x, tag in ((a, "A"), (b, "B")):
        for c in codes:
            x.send(c)
            i = x.child.expect_exact([e.NEW_PROMPT, "That code is not correct"])
            if i == 0:
                break
            x.expect(e.CODE_PROMPT)
        pws[tag] = "Concurrent-%s-Pass-5" % tag
        x.send(pws[tag])
        x.expect(e.RETYPE_PROMPT)
    a.send(pws["A"])
    b.send(pws["B"])
    for x in (a, b):
        x.finish()
        assert "Your new password has been saved" in x.screen(), x.screen()
    final = [t for t, pw in pws.items() if dc.can_bind("dave", pw)]
    assert len(final) == 1, "dave's final password is not exactly one of the two: %s" % final
    assert len(re.findall(r'event=reset_written account="dave"', ssprd.audit_text())) == 2
    assert ssprd.stop() == 0
    smtp.stop()
    dc.stop()


if __name__ == "__main__":
    h.run_test(main)
