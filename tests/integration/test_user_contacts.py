#!/usr/bin/python3
"""Contacts a user adds (bob has no alternate address in AD): sspr-enroll,
run as bob's uid, adds an alternate email, proven by a code sent to it; the
new method waits out the cool-down (a reset right away sends nothing to
it), and once past it a reset by that address works. Real DC, SMTP sink,
ssprd, libpam.
"""
import os
import re

import pexpect

import sspr_harness as h
import sspr_env as e

NSS_WRAPPER_LIB = "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so"
ENROLL = os.path.join(e.BUILD, "helper", "sspr-enroll")


def main():
    work = h.new_work_dir("user_contacts")
    os.chmod(work, 0o755)
    dc = h.Dc(os.environ["SSPR_GOLDEN"], os.path.join(work, "dc"))
    dc.start()
    smtp = h.SmtpSink(os.path.join(work, "smtp")).start()
    passwd = os.path.join(work, "passwd")
    with open(passwd, "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nbob:x:20005:20005:bob:/:/bin/sh\n")
    group = os.path.join(work, "group")
    with open(group, "w") as f:
        f.write("root:x:0:\n")
    nss = dict(os.environ, LD_PRELOAD=NSS_WRAPPER_LIB, NSS_WRAPPER_PASSWD=passwd, NSS_WRAPPER_GROUP=group)
    ssprd = e.Ssprd(work, dc, smtp.port, extra={"registration": {"cooldown_hours": "24"}}).start(env=nss)

    child = pexpect.spawn(ENROLL, ["--socket", ssprd.sock], encoding="utf-8", timeout=30,
                          preexec_fn=lambda: (os.setgid(20005), os.setuid(20005)))
    child.expect_exact("Password: ")
    child.sendline(h.PASSWORDS["bob"])
    child.expect(r"(\d)\) add an alternate email address")
    pick = child.match.group(1)
    child.expect(r"Choose 1-\d: ")
    child.sendline(pick)
    child.expect_exact("Alternate email address: ")
    child.sendline("bob.new@example.org")
    child.expect_exact("Verification code (Enter to cancel): ")
    child.sendline(e.code_from(smtp.wait_for("bob.new@example.org", timeout=15)))
    child.expect_exact("b\u2022\u2022\u2022@e\u2022\u2022\u2022.org is registered for password reset.")
    child.expect(pexpect.EOF)  # nothing more to add
    child.close()
    assert child.exitstatus == 0, child.before
    assert re.search(r'event=method_registered account="bob".*method="contact_email"', ssprd.audit_text())
    note = smtp.wait_for("bob@sspr.test", timeout=10)  # the change is told to the primary address
    assert note.get("Subject") == "Your password reset methods changed"

    # Within the cool-down the new address cannot reset: nothing is sent to it.
    pam, env = e.make_pam(work, dc, ssprd)
    sent = len(smtp.messages_to("bob.new@example.org"))
    login = e.Login(env, "bob")
    login.expect(e.PASSWORD_PROMPT)
    login.send("")
    login.expect(e.CODE_PROMPT)
    login.send("")
    login.finish()
    assert len(smtp.messages_to("bob.new@example.org")) == sent, "a method in its cool-down was used"
    assert re.search(r'event=reset_ineligible account="bob".*reason="not_enrolled"', ssprd.audit_text())

    # Past the cool-down (configured to 0 here), the reset works.
    assert ssprd.stop() == 0
    ssprd = e.Ssprd(work, dc, smtp.port, extra={"registration": {"cooldown_hours": "0"}}).start(env=nss)
    pam, env = e.make_pam(work, dc, ssprd)
    login = e.Login(env, "bob")
    login.expect(e.PASSWORD_PROMPT)
    login.send("")
    login.expect("We sent a verification code to b\u2022\u2022\u2022@e\u2022\u2022\u2022.org")
    login.expect(e.CODE_PROMPT)
    login.send(e.code_from(smtp.wait_for("bob.new@example.org", timeout=15, after=sent)))
    login.expect(e.NEW_PROMPT)
    login.send("Added-Contact-Pass-5")
    login.expect(e.RETYPE_PROMPT)
    login.send("Added-Contact-Pass-5")
    status, _ = login.finish()
    assert status == 0, login.screen()
    assert dc.can_bind("bob", "Added-Contact-Pass-5")
    assert ssprd.stop() == 0
    smtp.stop()
    dc.stop()


if __name__ == "__main__":
    h.run_test(main)
