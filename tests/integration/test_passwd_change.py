#!/usr/bin/python3
"""`passwd` and expired passwords with real PAM programs (run as root under
pam_wrapper, with nss_wrapper giving the domain users passwd entries):

- `passwd user1`: current + new password, written as a user change (AD
  checks the old one); the new one binds, the old one does not;
- a wrong current password is refused and nothing changes;
- Enter at "Current password" switches to verification + reset by email code;
- a local account the directory does not know is left to the next module;
- `su -l user4` with an expired password (pwdLastSet = 0): pam_krb5
  (defer_pwchange) accepts the old password, account management says it
  must change, and su's chauthtok(PAM_CHANGE_EXPIRED_AUTHTOK) runs sspr's
  change inside the same login; su then runs the command.
"""
import os

import pexpect

import sspr_harness as h
import sspr_env as e

NSS_WRAPPER_LIB = "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so"
PAM_EXEC = "/usr/lib/x86_64-linux-gnu/security/pam_exec.so"  # runs only in the update pass


class Program:
    def __init__(self, argv, env):
        self.transcript = []
        self.child = pexpect.spawn(argv[0], argv[1:], env=env, encoding="utf-8", timeout=30)

    def expect(self, text):
        try:
            self.child.expect_exact(text)
        except (pexpect.TIMEOUT, pexpect.EOF):
            try:
                self.child.expect(pexpect.EOF, timeout=2)
            except (pexpect.TIMEOUT, pexpect.EOF):
                pass
            raise AssertionError("expected %r; screen:\n%s%s" % (text, "".join(self.transcript), self.child.before))
        self.transcript.append(self.child.before + text)

    def send(self, line):
        self.child.sendline(line)

    def finish(self):
        self.child.expect(pexpect.EOF)
        self.transcript.append(self.child.before)
        self.child.close()
        return self.child.exitstatus

    def screen(self):
        return "".join(self.transcript)


def main():
    work = h.new_work_dir("passwd_change")
    dc = h.Dc(os.environ["SSPR_GOLDEN"], os.path.join(work, "dc"))
    dc.start()
    smtp = h.SmtpSink(os.path.join(work, "smtp")).start()
    ssprd = e.Ssprd(work, dc, smtp.port).start()
    pam, env = e.make_pam(work, dc, ssprd)
    sspr = "%s socket=%s timeout=30" % (e.PAM_SSPR, ssprd.sock)
    krb5 = e.PAM_KRB5
    pam.add_service("passwd", [
        "password [success=done ignore=ignore default=die] %s" % sspr,
        "password optional %s stdout /bin/echo LOCAL-MODULE-RAN" % PAM_EXEC,
        "password required %s" % e.PAM_PERMIT,
    ])
    pam.add_service("su-l", [
        "auth [success=ok ignore=ignore default=die] %s" % sspr,
        # defer_pwchange: pam_krb5 accepts an expired password and lets account
        # management ask for a change. After sspr's change pam_krb5 holds no
        # TGT to store, so this stack runs it with no_ccache.
        "auth required %s use_first_pass defer_pwchange no_ccache" % krb5,
        "account required %s" % krb5,
        "password [success=done ignore=ignore default=die] %s" % sspr,
        "password required %s" % e.PAM_PERMIT,  # stands in for pam_unix's prelim pass
        "session required %s" % e.PAM_PERMIT,
    ])
    passwd_file = os.path.join(work, "passwd")
    with open(passwd_file, "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
        for i, u in enumerate(("user1", "user2", "user3", "user4", "localonly")):
            f.write("%s:x:%d:%d:%s:/:/bin/sh\n" % (u, 20001 + i, 20001 + i, u))
    group_file = os.path.join(work, "group")
    with open(group_file, "w") as f:
        f.write("root:x:0:\n")
    env = dict(env, LD_PRELOAD="%s %s" % (h.PAM_WRAPPER_LIB, NSS_WRAPPER_LIB),
               NSS_WRAPPER_PASSWD=passwd_file, NSS_WRAPPER_GROUP=group_file)

    # 1. passwd: a user change with the current password.
    new1 = "Changed-By-Passwd-1"
    p = Program(["/usr/bin/passwd", "user1"], env)
    p.expect("Changing the directory password of user1.")
    p.expect(e.OLD_PROMPT)
    p.send(h.PASSWORDS["user1"])
    p.expect(e.NEW_PROMPT)
    p.send(new1)
    p.expect(e.RETYPE_PROMPT)
    p.send(new1)
    p.expect("Your new password has been saved")
    assert p.finish() == 0, p.screen()
    assert "LOCAL-MODULE-RAN" not in p.screen(), "the local module ran for a domain user"
    assert dc.can_bind("user1", new1) and not dc.can_bind("user1", h.PASSWORDS["user1"])
    assert 'event=change_written account="user1"' in ssprd.audit_text()

    # 2. Wrong current password: refused by AD, nothing changes.
    p = Program(["/usr/bin/passwd", "user2"], env)
    p.expect(e.OLD_PROMPT)
    p.send("Not-The-Current-9")
    p.expect(e.NEW_PROMPT)
    p.send("Would-Be-New-Pass-2")
    p.expect(e.RETYPE_PROMPT)
    p.send("Would-Be-New-Pass-2")
    p.expect("The current password is not correct")
    assert p.finish() != 0
    assert dc.can_bind("user2", h.PASSWORDS["user2"])

    # 3. Forgot the current password: Enter -> email code -> reset.
    new3 = "Forgot-Current-Pass-3"
    p = Program(["/usr/bin/passwd", "user3"], env)
    p.expect(e.OLD_PROMPT)
    p.send("")
    p.expect("Can't access your account?")
    p.expect(e.CODE_PROMPT)
    p.send(e.code_from(smtp.wait_for("user3.alt@example.org", timeout=15)))
    p.expect(e.NEW_PROMPT)
    p.send(new3)
    p.expect(e.RETYPE_PROMPT)
    p.send(new3)
    p.expect("Your new password has been saved")
    assert p.finish() == 0, p.screen()
    assert dc.can_bind("user3", new3) and not dc.can_bind("user3", h.PASSWORDS["user3"])

    # 4. A local account: sspr steps aside, the next module runs.
    p = Program(["/usr/bin/passwd", "localonly"], env)
    p.expect("LOCAL-MODULE-RAN")
    assert p.finish() == 0, p.screen()
    assert "Changing the directory password" not in p.screen()

    # 5. Expired password found at login, changed inside the same su. First,
    #    that stack still refuses a wrong password.
    dc.set_attr("user4", "pwdLastSet", ["0"])
    p = Program(["/bin/su", "-l", "user4", "-c", "echo MUST-NOT-RUN"], env)
    p.expect(e.PASSWORD_PROMPT)
    p.send("Wrong-Password-44")
    assert p.finish() != 0 and "MUST-NOT-RUN" not in p.screen(), p.screen()
    new5 = "After-Expiry-Pass-5"
    p = Program(["/bin/su", "-l", "user4", "-c", "echo EXPIRED-LOGIN-OK"], env)
    p.expect(e.PASSWORD_PROMPT)
    p.send(h.PASSWORDS["user4"])
    p.expect("has expired or must be changed now")
    p.expect(e.OLD_PROMPT)
    p.send(h.PASSWORDS["user4"])
    p.expect(e.NEW_PROMPT)
    p.send(new5)
    p.expect(e.RETYPE_PROMPT)
    p.send(new5)
    p.expect("Your new password has been saved")
    status = p.finish()
    assert "EXPIRED-LOGIN-OK" in p.screen() and status == 0, "su status %s:\n%s" % (status, p.screen())
    assert dc.can_bind("user4", new5), "new password does not bind after the expired change"
    assert int(dc.get_one("user4", "pwdLastSet")) > 0

    assert ssprd.stop() == 0
    smtp.stop()
    dc.stop()


if __name__ == "__main__":
    h.run_test(main)
