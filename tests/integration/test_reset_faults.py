#!/usr/bin/python3
"""Faults and hostile peers, with real parts. Each case must end with a true
message to the user, a PAM failure (never success by default), and nothing
half done in AD:

- helper down: Enter says reset is unavailable; a typed password still logs in;
- SMTP down: the user is told the code could not be sent; admin log says why;
- DC down at the start, and DC killed between verification and write: the
  user is told the password was not changed, and it was not;
- ssprd --check-config names file:line for a bad key and exits non-zero;
- a silent client and a garbage-sending client do not block or crash ssprd;
- a non-root caller cannot act for another account (SO_PEERCRED rule);
- a lying or broken helper (malformed, oversized frames, a "written" result
  without a new password, a socket not owned by root) never yields
  PAM_SUCCESS under required/requisite/sufficient/[success=1 default=ignore].
"""
import os
import socket
import struct
import subprocess
import threading
import time

import sspr_harness as h
import sspr_env as e

PAM_SUCCESS_LINE = "successfully authenticated"


def s16(b):
    return struct.pack(">H", len(b)) + b


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


def start_frame(account):
    return frame(bytes([1, 2, 1, 0]) + s16(account.encode()) + s16(b"raw") + s16(b"") + s16(b""))


def recv_frame(sock):
    hdr = b""
    while len(hdr) < 4:
        chunk = sock.recv(4 - len(hdr))
        if not chunk:
            return None
        hdr += chunk
    n = struct.unpack(">I", hdr)[0]
    body = b""
    while len(body) < n:
        chunk = sock.recv(n - len(body))
        if not chunk:
            return None
        body += chunk
    return body


def enter_then(env, user, expect_text):
    login = e.Login(env, user)
    login.expect(e.PASSWORD_PROMPT)
    login.send("")
    login.expect(expect_text)
    status, _ = login.finish()
    return login, status


def smtp_down(dc, smtp, ssprd, env):
    smtp.stop()
    login = e.Login(env, "user1")
    login.expect(e.PASSWORD_PROMPT)
    login.send("")
    login.expect(e.CODE_PROMPT)
    login.send("12345678")
    login.expect("We could not send a verification code right now")
    status, _ = login.finish()
    assert status != 0
    assert "Your password was NOT changed" in login.screen(), login.screen()
    assert dc.can_bind("user1", h.PASSWORDS["user1"])
    audit = ssprd.audit_text()
    assert 'reason="send_failed"' in audit and "could not send the code" in audit, audit
    smtp.start()


def dc_down_at_start(dc, env):
    dc.stop()
    login, status = enter_then(env, "user2", "Password reset is not available right now")
    assert status != 0 and PAM_SUCCESS_LINE not in login.screen()
    dc.start()
    assert dc.can_bind("user2", h.PASSWORDS["user2"])


def dc_killed_mid_flow(dc, smtp, env):
    login = e.Login(env, "user3")
    login.expect(e.PASSWORD_PROMPT)
    login.send("")
    login.expect(e.CODE_PROMPT)
    login.send(e.code_from(smtp.wait_for("user3.alt@example.org", timeout=15)))
    login.expect(e.NEW_PROMPT)
    dc.kill()  # between verification and the write
    new = "Never-Written-55"
    login.send(new)
    login.expect(e.RETYPE_PROMPT)
    login.send(new)
    status, _ = login.finish()
    screen = login.screen()
    assert status != 0 and PAM_SUCCESS_LINE not in screen, screen
    assert "Your password was not changed" in screen, screen
    assert "has been saved" not in screen, screen
    dc.start()
    assert dc.can_bind("user3", h.PASSWORDS["user3"]), "old password lost"
    assert not dc.can_bind("user3", new), "password was written after all"


def check_config(work):
    bad = os.path.join(work, "bad.conf")
    with open(bad, "w") as f:
        f.write("[directory]\nuri = ldaps://127.0.0.1\nca_file = /x\nbind_dn = a\nbase_dn = b\n"
                "[flow]\ncode_tries = 99\nbogus = 1\n")
    os.chmod(bad, 0o644)
    r = subprocess.run([e.SSPRD, "--check-config", "--config", bad], capture_output=True, text=True)
    assert r.returncode != 0
    assert "%s:7: [flow] code_tries: out of range; allowed: 1..10; given: \"99\"" % bad in r.stderr, r.stderr
    assert "%s:8: [flow] bogus: unknown key" % bad in r.stderr, r.stderr


def hostile_clients(ssprd, dc, smtp, env):
    # A silent client and a garbage client, held open while a real user resets.
    silent = socket.socket(socket.AF_UNIX)
    silent.connect(ssprd.sock)
    garbage = socket.socket(socket.AF_UNIX)
    garbage.connect(ssprd.sock)
    garbage.sendall(struct.pack(">I", 0x7FFFFFFF) + b"x" * 64)
    try:
        answered = garbage.recv(16)
    except ConnectionResetError:  # closed with our bytes unread: also a refusal
        answered = b""
    assert answered == b"", "ssprd answered a garbage frame"
    new = "Parallel-Reset-66"
    login = e.Login(env, "user4")
    login.expect(e.PASSWORD_PROMPT)
    login.send("")
    login.expect(e.CODE_PROMPT)
    login.send(e.code_from(smtp.wait_for("user4.alt@example.org", timeout=15)))
    login.expect(e.NEW_PROMPT)
    login.send(new)
    login.expect(e.RETYPE_PROMPT)
    login.send(new)
    status, _ = login.finish()
    assert status == 0, login.screen()
    assert dc.can_bind("user4", new)
    silent.close()
    garbage.close()
    assert ssprd.proc.poll() is None, "ssprd died"


def other_uid_refused(ssprd):
    # A non-root caller (uid 65534) asks to reset alice: refused, audited.
    os.chmod(os.path.dirname(ssprd.sock), 0o755)  # let uid 65534 reach the socket
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setgid(65534)
            os.setuid(65534)
            c = socket.socket(socket.AF_UNIX)
            c.connect(ssprd.sock)
            c.sendall(start_frame("alice"))
            body = recv_frame(c)
            os.write(w, body or b"EOF")
        except Exception as ex:  # report, do not hide, a failure in the child
            os.write(w, ("child: %r" % ex).encode())
        finally:
            os._exit(0)
    os.close(w)
    body = os.read(r, 4096)
    os.waitpid(pid, 0)
    assert body[:3] == bytes([1, 5, 5]), "expected a kResult/kUnavailable, got %r" % body[:80]
    assert 'event=request_refused uid="65534" account="alice"' in ssprd.audit_text()


class FakeHelper:
    """A root-owned socket served by a thread that answers every client with
    the given bytes (a lying or broken helper)."""

    def __init__(self, path, reply):
        self.path = path
        self.reply = reply
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        self.sock.listen(8)
        self.stop_flag = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        self.sock.settimeout(0.2)
        while not self.stop_flag:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                c.settimeout(5)
                recv_frame(c)
                c.sendall(self.reply)
                time.sleep(0.2)
            except OSError:
                pass
            c.close()

    def close(self):
        self.stop_flag = True
        self.thread.join()
        self.sock.close()
        os.unlink(self.path)


STACKS = {
    "required": ["auth required {m}", "auth required {permit}"],
    "requisite": ["auth requisite {m}", "auth required {permit}"],
    "sufficient": ["auth sufficient {m}", "auth required {deny}"],
    "success1": ["auth [success=1 default=ignore] {m}", "auth requisite {deny}", "auth required {permit}"],
}


def lying_helpers(work):
    # Results and frames a broken or lying helper might send.
    item_written = bytes([1, 0, 0, 40, 0])
    replies = {
        "written_without_password": frame(bytes([1, 5, 1, 1]) + item_written),
        "oversized": struct.pack(">I", 1 << 30),
        "malformed_step": frame(bytes([1, 3, 1, 9, 0, 0, 1, 0])),
        "trailing_bytes": frame(bytes([1, 5, 2, 0, 0])),
        "wrong_version": frame(bytes([7, 5, 1, 0])),
        "eof": b"",
    }
    pam = h.PamEnv(os.path.join(work, "pam-fake"))
    for name, reply in replies.items():
        path = os.path.join(work, "fake-%s.sock" % name)
        fake = FakeHelper(path, reply)
        try:
            for stack, lines in STACKS.items():
                svc = "fake-%s-%s" % (name, stack)
                m = "%s socket=%s timeout=5" % (e.PAM_SSPR, path)
                pam.add_service(svc, [ln.format(m=m, permit=e.PAM_PERMIT, deny=e.PAM_DENY) for ln in lines])
                login = e.Login(pam.env(), "alice", service=svc)
                login.expect(e.PASSWORD_PROMPT)
                login.send("")
                status, out = login.finish()
                assert status != 0 and PAM_SUCCESS_LINE not in out, \
                    "%s under %s gave success:\n%s" % (name, stack, login.screen())
        finally:
            fake.close()
    # A socket not owned by root is never spoken to.
    path = os.path.join(work, "not-root.sock")
    fake = FakeHelper(path, frame(bytes([1, 5, 1, 0])))
    os.chown(path, 65534, 65534)
    try:
        pam.add_service("fake-owner", ["auth sufficient %s socket=%s" % (e.PAM_SSPR, path),
                                       "auth required %s" % e.PAM_DENY])
        login = e.Login(pam.env(), "alice", service="fake-owner")
        login.expect(e.PASSWORD_PROMPT)
        login.send("")
        login.expect("Password reset is not available right now")
        status, _ = login.finish()
        assert status != 0
    finally:
        fake.close()


def main():
    work = h.new_work_dir("reset_faults")
    dc = h.Dc(os.environ["SSPR_GOLDEN"], os.path.join(work, "dc"))
    dc.start()
    smtp = h.SmtpSink(os.path.join(work, "smtp")).start()
    ssprd = e.Ssprd(work, dc, smtp.port).start()
    pam, env = e.make_pam(work, dc, ssprd)

    def env_for(sock):
        pam.add_service("sspr-nohelper", [
            "auth [success=ok ignore=ignore default=die] %s socket=%s" % (e.PAM_SSPR, sock),
            "auth required %s use_first_pass" % e.PAM_KRB5])
        return dict(env, PAM_WRAPPER_SERVICE_DIR=pam.dir), "sspr-nohelper"

    # pamtester's service name is fixed by Login; give it the no-helper service.
    en, svc = env_for(os.path.join(work, "nothing-here.sock"))
    login = e.Login(en, "alice", service=svc)
    login.expect(e.PASSWORD_PROMPT)
    login.send("")
    login.expect("Password reset is not available right now")
    status, _ = login.finish()
    assert status != 0 and PAM_SUCCESS_LINE not in login.screen()
    login = e.Login(en, "alice", service=svc)
    login.expect(e.PASSWORD_PROMPT)
    login.send(h.PASSWORDS["alice"])
    status, out = login.finish()
    assert status == 0 and PAM_SUCCESS_LINE in out, login.screen()

    check_config(work)
    other_uid_refused(ssprd)
    hostile_clients(ssprd, dc, smtp, env)
    smtp_down(dc, smtp, ssprd, env)
    dc_down_at_start(dc, env)
    dc_killed_mid_flow(dc, smtp, env)
    lying_helpers(work)

    assert ssprd.stop() == 0, "ssprd did not exit cleanly on SIGTERM"
    smtp.stop()
    dc.stop()


if __name__ == "__main__":
    h.run_test(main)
