#!/usr/bin/python3
"""SMS and voice methods, the method menu, and two methods for admins, with
the real DC, SMTP sink, a Twilio-shaped gateway stub and real libpam:

- user1 (mobile in AD, national format) chooses a text: the stub receives
  the E.164 number and the code, and that code resets the password;
- user2 chooses a call to the office number, alice a call to the mobile:
  the spoken codes work;
- user3's mobile number changes in AD after the code was sent: the code is
  refused (contact data is re-read at verification);
- dave (adminCount=1, protected accounts allowed) must pass two distinct
  methods (email, then a mobile one); user4 (admin with email only) is
  verifies its one method, then is told to contact the help desk; nothing
  is written.
"""
import os
import re

import sspr_harness as h
import sspr_env as e


def start_reset(env, user):
    login = e.Login(env, user)
    login.expect(e.PASSWORD_PROMPT)
    login.send("")
    login.expect("How would you like to get a verification code?")
    return login


def choose(login, label):
    """Pick the menu entry whose text contains `label`."""
    login.expect(e.CHOOSE_PROMPT_START)
    menu = login.transcript[-1]
    for line in menu.splitlines():
        m = re.match(r"\s+(\d)\) (.*)", line)
        if m and label in m.group(2):
            login.child.expect_exact(" (Enter to cancel): ")
            login.send(m.group(1))
            return
    raise AssertionError("no %r in menu:\n%s" % (label, menu))


def finish_with(login, pw):
    login.expect(e.NEW_PROMPT)
    login.send(pw)
    login.expect(e.RETYPE_PROMPT)
    login.send(pw)
    return login.finish()


def main():
    work = h.new_work_dir("phone_methods")
    dc = h.Dc(os.environ["SSPR_GOLDEN"], os.path.join(work, "dc"))
    dc.start()
    dc.set_attr("user1", "mobile", ["07700 900123"])
    dc.set_attr("user2", "telephoneNumber", ["+44 (0)20 7946 0018"])
    dc.set_attr("user3", "mobile", ["+44 7700 900333"])
    dc.set_attr("dave", "mobile", ["+44 7700 900444"])
    dc.set_attr("dave", "adminCount", ["1"])
    dc.set_attr("user4", "adminCount", ["1"])
    smtp = h.SmtpSink(os.path.join(work, "smtp")).start()
    gw = e.GatewayStub(work).start()
    extra = gw.config()
    extra["policy"] = {"allow_protected_accounts": "yes", "history_on_reset": "proceed"}
    ssprd = e.Ssprd(work, dc, smtp.port, extra=extra).start()
    pam, env = e.make_pam(work, dc, ssprd)

    # 1. Text message.
    login = start_reset(env, "user1")
    choose(login, "by text message to +44")
    login.expect("We sent a text message with a verification code to +44")
    login.expect(e.CODE_PROMPT)
    rec = gw.wait_for("+447700900123", "message")
    assert rec["auth_user"] == gw.SID
    login.send(e.sms_code(rec))
    status, _ = finish_with(login, "Texted-Reset-Pass-1")
    assert status == 0, login.screen()
    assert dc.can_bind("user1", "Texted-Reset-Pass-1")

    # 2. Call to the office number.
    login = start_reset(env, "user2")
    choose(login, "office phone")
    login.expect("We are calling +44")
    login.expect(e.CODE_PROMPT)
    login.send(e.voice_code(gw.wait_for("+442079460018", "call")))
    status, _ = finish_with(login, "Called-Reset-Pass-2")
    assert status == 0, login.screen()
    assert dc.can_bind("user2", "Called-Reset-Pass-2")

    # 2b. Call to the mobile number.
    dc.set_attr("alice", "mobile", ["+44 7700 900555"])
    login = start_reset(env, "alice")
    choose(login, "phone call to your mobile")
    login.expect("We are calling +44")
    login.expect(e.CODE_PROMPT)
    login.send(e.voice_code(gw.wait_for("+447700900555", "call")))
    status, _ = finish_with(login, "Mobile-Call-Pass-24")
    assert status == 0, login.screen()
    assert dc.can_bind("alice", "Mobile-Call-Pass-24")

    # 3. The number changes after the code was sent: refused.
    login = start_reset(env, "user3")
    choose(login, "by text message")
    login.expect(e.CODE_PROMPT)
    code = e.sms_code(gw.wait_for("+447700900333", "message"))
    dc.set_attr("user3", "mobile", ["+44 7700 900999"])
    login.send(code)
    login.expect("That code is not correct")
    login.expect(e.CODE_PROMPT)
    login.send("")
    login.finish()
    assert dc.can_bind("user3", h.PASSWORDS["user3"])
    assert 'event=destination_changed account="user3"' in ssprd.audit_text()

    # 4. An admin needs two distinct methods.
    login = start_reset(env, "dave")
    choose(login, "by email")
    login.expect(e.CODE_PROMPT)
    login.send(e.code_from(smtp.wait_for("dave.alt@example.org", timeout=15)))
    login.expect("This account needs a second, different verification method.")
    login.expect("How would you like to get a verification code?")
    choose(login, "by text message")
    login.expect(e.CODE_PROMPT)
    login.send(e.sms_code(gw.wait_for("+447700900444", "message")))
    status, _ = finish_with(login, "Two-Methods-Pass-4")
    assert status == 0, login.screen()
    assert "by email" not in login.screen().split("second, different")[1], "email offered twice"
    assert dc.can_bind("dave", "Two-Methods-Pass-4")
    assert re.search(r'event=reset_written account="dave".*methods="email,sms"', ssprd.audit_text()), ssprd.audit_text()

    # 5. An admin with only one method proves it, then hears whom to contact;
    #    nothing is written (the same holds when [methods] required goes 1 -> 2).
    login = e.Login(env, "user4")
    login.expect(e.PASSWORD_PROMPT)
    login.send("")
    login.expect(e.CODE_PROMPT)
    login.send(e.code_from(smtp.wait_for("user4.alt@example.org", timeout=15)))
    login.expect("This account needs 2 different verification methods, but has fewer registered.")
    login.expect("If you need help, contact your IT help desk.")
    status, _ = login.finish()
    assert status != 0
    assert dc.can_bind("user4", h.PASSWORDS["user4"])
    assert re.search(r'event=reset_ended account="user4".*reason="not_enough_methods"', ssprd.audit_text())

    assert ssprd.stop() == 0
    gw.stop()
    smtp.stop()
    dc.stop()


if __name__ == "__main__":
    h.run_test(main)
