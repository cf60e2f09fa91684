#!/usr/bin/python3
"""A real PAM program: util-linux `su -l` (run as root, so it honours the
pam_wrapper preload; -l so the user's shell starts with a clean environment,
without the preload) with a `su-l` service of pam_sspr.so + pam_krb5, and
nss_wrapper giving the domain user a passwd entry. The user forgets the
password, resets it with the emailed code inside su's own conversation, and
su then runs a command as that user with the new password. The test also
checks the new password binds over LDAPS and the old one does not.
"""
import os

import pexpect

import sspr_harness as h
import sspr_env as e

NSS_WRAPPER_LIB = "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so"


def main():
    work = h.new_work_dir("su_real")
    dc = h.Dc(os.environ["SSPR_GOLDEN"], os.path.join(work, "dc"))
    dc.start()
    smtp = h.SmtpSink(os.path.join(work, "smtp")).start()
    ssprd = e.Ssprd(work, dc, smtp.port).start()
    pam, env = e.make_pam(work, dc, ssprd, service="su-l")
    passwd = os.path.join(work, "passwd")
    group = os.path.join(work, "group")
    with open(passwd, "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
        f.write("dave:x:20001:20001:Dave Davis:/:/bin/sh\n")
    with open(group, "w") as f:
        f.write("root:x:0:\ndave:x:20001:\n")
    env = dict(env)
    env["LD_PRELOAD"] = "%s %s" % (h.PAM_WRAPPER_LIB, NSS_WRAPPER_LIB)
    env["NSS_WRAPPER_PASSWD"] = passwd
    env["NSS_WRAPPER_GROUP"] = group
    assert os.path.exists(NSS_WRAPPER_LIB), "libnss-wrapper is not installed"

    new = "Su-Reset-Pass-8"
    child = pexpect.spawn("/bin/su", ["-l", "dave", "-c", "echo SSPR-SU-OK as uid $(id -u)"], env=env,
                          encoding="utf-8", timeout=30)
    transcript = []

    def expect(text):
        try:
            child.expect_exact(text)
        except (pexpect.TIMEOUT, pexpect.EOF):
            raise AssertionError("su: expected %r; screen:\n%s%s" % (text, "".join(transcript), child.before))
        transcript.append(child.before + text)

    expect(e.PASSWORD_PROMPT)
    child.sendline("")
    expect("Can't access your account?")
    expect(e.CODE_PROMPT)
    child.sendline(e.code_from(smtp.wait_for("dave.alt@example.org", timeout=15)))
    expect(e.NEW_PROMPT)
    child.sendline(new)
    expect(e.RETYPE_PROMPT)
    child.sendline(new)
    expect("Your new password has been saved")
    expect("SSPR-SU-OK as uid 20001")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, "su failed:\n" + "".join(transcript)
    assert dc.can_bind("dave", new), "new password does not bind"
    assert not dc.can_bind("dave", h.PASSWORDS["dave"]), "old password still binds"

    # And a plain su with the new password works too, with the helper stopped.
    assert ssprd.stop() == 0
    child = pexpect.spawn("/bin/su", ["-l", "dave", "-c", "echo SSPR-SU-AGAIN"], env=env,
                          encoding="utf-8", timeout=30)
    child.expect_exact(e.PASSWORD_PROMPT)
    child.sendline(new)
    child.expect_exact("SSPR-SU-AGAIN")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    smtp.stop()
    dc.stop()


if __name__ == "__main__":
    h.run_test(main)
