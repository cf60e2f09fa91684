#!/usr/bin/python3
"""Admin operations through ssprd, the enrolment code, reconfirmation and
the directory store backend, with the real DC (schema extended as the
shipped LDIF says), SMTP sink and libpam:

- [store] backend = directory: registrations live in the confidential
  ssprEnrolment attribute, so a second ssprd (another "host", with an
  empty state directory) sees what the first one stored;
- [registration] services = login only: sspr-enroll (service sspr-enroll)
  needs an admin-issued one-time code for a first registration; a wrong
  code is refused, the issued one works once;
- a reset with the authenticator app alone; reconfirmation at login once
  the registration is older than reconfirm_days;
- sspr-admin status shows what is registered without secrets; clear removes
  it and mails the user; unblock lifts a throttle block;
"""
import os
import re
import subprocess
import time

import pexpect

import sspr_harness as h
import sspr_env as e
from test_enrolment_ad import ATTR_GUID, USER_CLASS_GUID, LDIF

NSS_WRAPPER_LIB = "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so"
ADMIN = os.path.join(e.BUILD, "helper", "sspr-admin")
ENROLL = os.path.join(e.BUILD, "helper", "sspr-enroll")


def admin(sock, *args):
    r = subprocess.run([ADMIN] + list(args) + ["--socket", sock], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def main():
    work = h.new_work_dir("admin_enrolment")
    os.chmod(work, 0o755)
    dc = h.Dc(os.environ["SSPR_GOLDEN"], os.path.join(work, "dc"))
    with open(dc.smb_conf) as f:
        conf = f.read()
    conf = re.sub(r"^\[global\]\n", "[global]\n\tdsdb:schema update allowed = true\n", conf, count=1, flags=re.M)
    with open(dc.smb_conf, "w") as f:
        f.write(conf)
    dc.start()
    with open(LDIF) as f:
        assert dc.ldapmodify(f.read().replace("@FOREST_DN@", dc.base_dn)).ok
    sid = re.search(r"^objectSid: (S-1-5-[0-9-]+)$",
                    dc.samba_tool("user", "show", "svc-sspr", "--attributes=objectSid"), flags=re.M).group(1)
    dc.samba_tool("dsacl", "set", "--objectdn=" + dc.people_dn,
                  "--sddl=(OA;CIIO;RPWPCR;%s;%s;%s)" % (ATTR_GUID, USER_CLASS_GUID, sid))
    smtp = h.SmtpSink(os.path.join(work, "smtp")).start()
    passwd = os.path.join(work, "passwd")
    with open(passwd, "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nuser3:x:20003:20003:user3:/:/bin/sh\n")
    group = os.path.join(work, "group")
    with open(group, "w") as f:
        f.write("root:x:0:\n")
    nss = dict(os.environ, LD_PRELOAD=NSS_WRAPPER_LIB, NSS_WRAPPER_PASSWD=passwd, NSS_WRAPPER_GROUP=group)
    extra = {"store": {"backend": "directory"},
             "registration": {"services": "login", "cooldown_hours": "0", "reconfirm_days": "1"},
             "totp": {"enabled": "yes"}}
    host1 = os.path.join(work, "host1")
    os.makedirs(host1)
    os.chmod(host1, 0o755)
    ssprd = e.Ssprd(host1, dc, smtp.port, extra=extra).start(env=nss)

    current = {"user3": h.PASSWORDS["user3"]}

    def enroll(code=None):
        child = pexpect.spawn(ENROLL, ["--socket", ssprd.sock], encoding="utf-8", timeout=30,
                              preexec_fn=lambda: (os.setgid(20003), os.setuid(20003)))
        child.expect_exact("Password: ")
        child.sendline(current["user3"])
        child.expect_exact("Enrolment code from your help desk: ")
        child.sendline(code or "0000000000")
        return child

    # A first registration from sspr-enroll needs a code: a wrong one fails.
    child = enroll()
    child.expect_exact("That enrolment code is not valid. Nothing was registered.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus != 0

    rc, out = admin(ssprd.sock, "code", "user3")
    assert rc == 0, out
    code = re.search(r"One-time enrolment code: (\d{10})", out).group(1)
    assert code not in ssprd.audit_text() and code not in ssprd.log_tail()
    child = enroll(code)
    child.expect_exact("set up an authenticator app")
    child.expect_exact("Choose 1-2: ")
    child.sendline("1")
    child.expect(r"enter this: (otpauth://\S+)")
    secret = re.search(r"secret=([A-Z2-7]+)", child.match.group(1)).group(1)
    child.expect_exact("Code shown by the app: ")
    child.sendline(e.totp(secret))
    child.expect_exact("Your authenticator app is registered.")
    child.expect(r"Choose 1-\d: ")
    child.sendline(re.search(r"(\d)\) done", child.before).group(1))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before

    # The record is in AD: a second host with an empty state dir sees it.
    assert dc.get_attr("user3", "ssprEnrolment"), "no ssprEnrolment in AD"
    host2 = os.path.join(work, "host2")
    os.makedirs(host2)
    ssprd2 = e.Ssprd(host2, dc, smtp.port, extra=extra).start(env=nss)
    rc, out = admin(ssprd2.sock, "status", "user3")
    assert rc == 0, out
    assert re.search(r"authenticator app: registered \d{4}-", out), out
    assert secret not in out and "otpauth" not in out, "status shows a secret"
    assert ssprd2.stop() == 0

    # A reset with the authenticator app alone ([methods] required = 1).
    pam, env = e.make_pam(host1, dc, ssprd)
    sspr = "%s socket=%s timeout=30" % (e.PAM_SSPR, ssprd.sock)
    pam.add_service("login", [
        "auth [success=ok ignore=ignore default=die] %s" % sspr,
        "auth required %s use_first_pass" % e.PAM_KRB5,
        "account [success=ok ignore=ignore default=die] %s" % sspr,
        "account required %s" % e.PAM_PERMIT])
    login = e.Login(env, "user3", service="login")
    login.expect(e.PASSWORD_PROMPT)
    login.send("")
    login.expect(e.CHOOSE_PROMPT_START)
    n = re.search(r"(\d)\) with a code from your authenticator app", login.transcript[-1]).group(1)
    login.send(n)
    login.expect("Code from your authenticator app (Enter to cancel): ")
    login.send(e.totp(secret, time.time() + 30))  # the enrolment spent this step
    login.expect(e.NEW_PROMPT)
    login.send("App-Alone-Reset-3")
    login.expect(e.RETYPE_PROMPT)
    login.send("App-Alone-Reset-3")
    status, _ = login.finish()
    assert status == 0 and dc.can_bind("user3", "App-Alone-Reset-3"), login.screen()
    current["user3"] = "App-Alone-Reset-3"

    # Reconfirmation: make the registration three days old (the record's
    # header: magic, version, flags, registered_at, reconfirmed_at, BE i64),
    # then sign in: the account phase asks to reconfirm; "yes" records it.
    import struct
    raw = bytearray(dc.get_attr("user3", "ssprEnrolment")[0])
    assert raw[:4] == b"SSPE", raw[:8]
    old = int(time.time()) - 3 * 86400
    raw[6:22] = struct.pack(">qq", old, old)
    dc.set_attr("user3", "ssprEnrolment", bytes(raw))
    child = pexpect.spawn("pamtester", ["-v", "login", "user3", "authenticate", "acct_mgmt"],
                          env=env, encoding="utf-8", timeout=30)
    child.expect_exact(e.PASSWORD_PROMPT)
    child.sendline("App-Alone-Reset-3")
    child.expect_exact("Please confirm that your verification methods are still yours:")
    child.expect_exact("authenticator app")
    child.expect_exact("Are these still correct? (yes/no): ")
    child.sendline("yes")
    child.expect_exact("Thank you, your methods are confirmed.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    raw = dc.get_attr("user3", "ssprEnrolment")[0]
    reconfirmed = struct.unpack(">q", raw[14:22])[0]
    assert reconfirmed > time.time() - 60, "reconfirmation not recorded"

    # Changing a method needs an existing one: a wrong app code changes nothing.
    rc, before = admin(ssprd.sock, "status", "user3")
    child = pexpect.spawn(ENROLL, ["--socket", ssprd.sock], encoding="utf-8", timeout=30,
                          preexec_fn=lambda: (os.setgid(20003), os.setuid(20003)))
    child.expect_exact("Password: ")
    child.sendline(current["user3"])
    child.expect(r"(\d)\) replace your authenticator app")
    choice = child.match.group(1)
    child.expect(r"Choose 1-\d: ")
    child.sendline(choice)
    child.expect_exact("Code from your authenticator app (Enter to cancel): ")
    child.sendline("000000")
    child.expect_exact("That could not be verified with a method you already have. Nothing was changed")
    child.expect(pexpect.EOF)
    child.close()
    rc, after = admin(ssprd.sock, "status", "user3")
    assert re.search(r"authenticator app: .*", before).group(0) == re.search(r"authenticator app: .*", after).group(0)
    assert 'event=registration_change_refused account="user3"' in ssprd.audit_text()

    # Unblock: five wrong codes block user4; the admin lifts it.
    login = e.Login(e.make_pam(host1, dc, ssprd)[1], "user4")
    login.expect(e.PASSWORD_PROMPT)
    login.send("")
    login.expect(e.CODE_PROMPT)
    for i in range(5):
        login.send("00000000")
        if i < 4:
            login.expect(e.CODE_PROMPT)
    login.finish()
    rc, out = admin(ssprd.sock, "status", "user4")
    assert "reset blocked: yes" in out, out
    rc, out = admin(ssprd.sock, "unblock", "user4")
    assert rc == 0 and "no longer blocked" in out, out
    rc, out = admin(ssprd.sock, "status", "user4")
    assert "reset blocked: no" in out, out

    # Clear, as an admin would, and check the user is told.
    mails = len(smtp.messages_to("user3.alt@example.org"))
    rc, out = admin(ssprd.sock, "clear", "user3")
    assert rc == 0 and "was cleared" in out, out
    note = smtp.wait_for("user3.alt@example.org", timeout=10, after=mails)
    assert note.get("Subject") == "Your password reset methods changed"
    assert not dc.get_attr("user3", "ssprEnrolment"), "registration not removed from AD"
    # The used code does not work again, now that a first registration
    # would need one once more.
    child = enroll(code)
    child.expect_exact("That enrolment code is not valid.")
    child.expect(pexpect.EOF)
    child.close()
    audit = ssprd.audit_text()
    for ev in ("admin_enrolment_code_issued", "enrolment_code_used", "admin_registration_cleared",
               "admin_unblocked"):
        assert "event=" + ev in audit, ev

    # A non-root caller may not use admin operations.
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.setgid(20003)
        os.setuid(20003)
        rc, out = admin(ssprd.sock, "clear", "user1")
        os.write(w, ("%d" % rc).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(r, 16) != b"0", "a non-root caller cleared a registration"
    assert 'event=request_refused uid="20003"' in ssprd.audit_text()
    assert ssprd.stop() == 0
    smtp.stop()
    dc.stop()


if __name__ == "__main__":
    h.run_test(main)
