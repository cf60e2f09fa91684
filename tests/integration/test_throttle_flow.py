#!/usr/bin/python3
"""Abuse limits in the real flow (SECURITY.md rule 11), with the defaults:
5 failed verifications in 24 h block SSPR for the account for 24 h.

- five wrong codes for user1; the next reset of user1 sends no mail, looks
  the same, and refuses even the right code (the last one mailed);
- the block survives a restart of ssprd;
- another account is not affected; sends are capped at 1 a minute for an
  account (the second request within a minute mails nothing).
The release after the block is tested with a test clock in
tests/unit/test_throttle.cc (the helper has no clock hook).
"""
import os
import re

import sspr_harness as h
import sspr_env as e


def wrong_codes(env, user, n):
    login = e.Login(env, user)
    login.expect(e.PASSWORD_PROMPT)
    login.send("")
    login.expect(e.CODE_PROMPT)
    for i in range(n):
        login.send("00000000")
        if i < n - 1:
            login.expect(e.CODE_PROMPT)
    login.finish()
    return login


def main():
    work = h.new_work_dir("throttle_flow")
    dc = h.Dc(os.environ["SSPR_GOLDEN"], os.path.join(work, "dc"))
    dc.start()
    smtp = h.SmtpSink(os.path.join(work, "smtp")).start()
    defaults = {"throttle": {"sends_per_minute": "1", "sends_per_day": "10", "source_failures": "20"}}
    ssprd = e.Ssprd(work, dc, smtp.port, extra=defaults).start()
    pam, env = e.make_pam(work, dc, ssprd)

    wrong_codes(env, "user1", 5)
    assert len(smtp.messages_to("user1.alt@example.org")) == 1
    audit = ssprd.audit_text()
    assert audit.count('event=code_wrong account="user1"') == 4, audit  # the 5th ends the flow

    def blocked_attempt():
        before = smtp.count()
        login = e.Login(env, "user1")
        login.expect(e.PASSWORD_PROMPT)
        login.send("")
        login.expect("We sent a verification code to u")  # the same words
        login.expect(e.CODE_PROMPT)
        right = e.code_from(smtp.messages_to("user1.alt@example.org")[-1])
        login.send(right)
        login.expect("That code is not correct.")
        login.expect(e.CODE_PROMPT)
        login.send("")
        login.finish()
        assert smtp.count() == before, "a blocked account was sent a code"
        assert dc.can_bind("user1", h.PASSWORDS["user1"])

    blocked_attempt()
    assert re.search(r'event=reset_ineligible account="user1".*reason="throttled"', ssprd.audit_text())

    # The block survives a restart.
    assert ssprd.stop() == 0
    ssprd = e.Ssprd(work, dc, smtp.port, extra=defaults).start()
    pam, env = e.make_pam(work, dc, ssprd)
    blocked_attempt()

    # Another account works; its second request within a minute sends nothing.
    login = e.Login(env, "user2")
    login.expect(e.PASSWORD_PROMPT)
    login.send("")
    login.expect(e.CODE_PROMPT)
    smtp.wait_for("user2.alt@example.org", timeout=15)
    login.send("")
    login.finish()
    login = e.Login(env, "user2")
    login.expect(e.PASSWORD_PROMPT)
    login.send("")
    login.expect(e.CODE_PROMPT)
    login.send("")
    login.finish()
    import time
    time.sleep(1)
    assert len(smtp.messages_to("user2.alt@example.org")) == 1, "the send cap did not hold"
    assert re.search(r'event=send_refused account="user2".*reason="cap"', ssprd.audit_text())
    assert ssprd.stop() == 0
    smtp.stop()
    dc.stop()


if __name__ == "__main__":
    h.run_test(main)
