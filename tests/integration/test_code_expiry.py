#!/usr/bin/python3
"""An expired code is refused and nothing is written. The shortest code
lifetime ssprd accepts is 60 s, so this test waits it out on the real clock
(no test hook in the shipped binary)."""
import os
import time

import sspr_harness as h
import sspr_env as e


def main():
    work = h.new_work_dir("code_expiry")
    dc = h.Dc(os.environ["SSPR_GOLDEN"], os.path.join(work, "dc"))
    dc.start()
    smtp = h.SmtpSink(os.path.join(work, "smtp")).start()
    ssprd = e.Ssprd(work, dc, smtp.port, flow={"code_lifetime": "60"}).start()
    pam, env = e.make_pam(work, dc, ssprd)

    login = e.Login(env, "user1", timeout=120)
    login.expect(e.PASSWORD_PROMPT)
    login.send("")
    login.expect("It is valid for 1 minutes.")
    login.expect(e.CODE_PROMPT)
    code = e.code_from(smtp.wait_for("user1.alt@example.org", timeout=15))
    time.sleep(61)
    login.send(code)  # the right code, too late
    login.expect("That code has expired")
    status, _ = login.finish()
    assert status != 0, login.screen()
    assert "has been saved" not in login.screen()
    assert dc.can_bind("user1", h.PASSWORDS["user1"]), "password changed with an expired code"
    assert 'reason="code_expired"' in ssprd.audit_text()
    assert ssprd.stop() == 0
    smtp.stop()
    dc.stop()


if __name__ == "__main__":
    h.run_test(main)
