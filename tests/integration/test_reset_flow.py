#!/usr/bin/python3
"""The walking skeleton end to end, with real parts: a Samba AD DC, an SMTP
sink, ssprd, and pam_sspr.so loaded by real libpam (pamtester under
pam_wrapper) in front of pam_krb5, which proves passwords against the DC's
KDC.

Covers: a typed password is handed on untouched; Enter -> emailed code -> new
password written to AD, login completes with it, old one no longer binds; a
policy refusal names the rule and a second choice succeeds; five wrong codes
end the flow with no write; unknown, not-enrolled and disabled accounts see a
byte-identical conversation and get no mail, while the audit log says why;
no secret reaches the logs.
"""
import os
import re

import sspr_harness as h
import sspr_env as e

MASK = re.compile(r"\w\u2022\u2022\u2022@\w\u2022\u2022\u2022\.\w+")


def conversation(text):
    """The user-visible conversation, without pamtester's own lines (which
    name the account) and with the masked address normalised."""
    lines = [ln.rstrip() for ln in text.replace("\r", "").split("\n")]
    lines = [ln for ln in lines if ln and not ln.startswith("pamtester:")]
    return MASK.sub("<masked>", "\n".join(lines))


def reset(env, smtp, user, new_passwords, code_override=None):
    """Drive a reset through the PAM conversation; return (Login, exit)."""
    before = len(smtp.messages_to(h.USERS[user]["other"])) if user in h.USERS and h.USERS[user].get("other") else 0
    login = e.Login(env, user)
    login.expect(e.PASSWORD_PROMPT)
    login.send("")
    login.expect("We sent a verification code to ")
    login.expect(e.CODE_PROMPT)
    msg = smtp.wait_for(h.USERS[user]["other"], timeout=15, after=before)
    code = code_override or e.code_from(msg)
    login.send(code)
    for pw in new_passwords:
        login.expect(e.NEW_PROMPT)
        login.send(pw)
        login.expect(e.RETYPE_PROMPT)
        login.send(pw)
    status, _ = login.finish()
    return login, status


def main():
    work = h.new_work_dir("reset_flow")
    dc = h.Dc(os.environ["SSPR_GOLDEN"], os.path.join(work, "dc"))
    dc.start()
    smtp = h.SmtpSink(os.path.join(work, "smtp")).start()
    ssprd = e.Ssprd(work, dc, smtp.port).start()
    pam, env = e.make_pam(work, dc, ssprd)
    secrets_seen = []

    # 1. A typed password is handed to pam_krb5 as PAM_AUTHTOK; sspr decides nothing.
    login = e.Login(env, "alice")
    login.expect(e.PASSWORD_PROMPT)
    login.send(h.PASSWORDS["alice"])
    status, out = login.finish()
    assert status == 0 and "successfully authenticated" in out, login.screen()
    login = e.Login(env, "alice")
    login.expect(e.PASSWORD_PROMPT)
    login.send("Not-Alices-Password-9")
    status, out = login.finish()
    assert status != 0 and "successfully authenticated" not in out, login.screen()
    assert smtp.count() == 0, "a typed password must not send mail"

    # 2. Forgot password: Enter, code by mail, new password written to AD; the
    #    same login then completes through pam_krb5 with the new password.
    new = "Reset-Flow-Pass-7"
    login, status = reset(env, smtp, "user1", [new])
    secrets_seen.append(new)
    assert "Can't access your account?" in login.text(), login.screen()
    assert "Your new password has been saved" in login.screen(), login.screen()
    assert status == 0, "login with the reset password failed:\n" + login.screen()
    assert dc.can_bind("user1", new), "new password does not bind"
    assert not dc.can_bind("user1", h.PASSWORDS["user1"]), "old password still binds"
    msg = smtp.messages_to("user1.alt@example.org")[0]  # the code; the notification follows
    secrets_seen.append(e.code_from(msg))
    assert "u\u2022\u2022\u2022@e\u2022\u2022\u2022.org" in login.screen(), "masked address not shown"
    # The code went only to the alternate address; afterwards both addresses
    # are told of the reset, without any secret.
    codes_sent = [m for m in smtp.messages() if "verification code is" in m.get_payload(decode=True).decode()]
    assert all(m.get("To") == "user1.alt@example.org" for m in codes_sent if "user1" in m.get("To")), \
        "code went to the primary mail, not otherMailbox"
    for addr in ("user1.alt@example.org", "user1@sspr.test"):
        note = smtp.wait_for(addr, timeout=10, after=1 if addr.startswith("user1.alt") else 0)
        assert note.get("Subject") == "Your password was reset", note.get("Subject")
        body = note.get_payload(decode=True).decode()
        assert "user1" in body and "was reset" in body, body
        assert new not in body and e.code_from(msg) not in body, "a secret in the notification"

    # 3. Policy: a too-short and a too-simple password are explained by rule
    #    with the limit in force; a second choice in the same flow succeeds.
    good = "Second-Choice-42"
    login, status = reset(env, smtp, "user2", ["Ab1!x", "alllowercaseletters", good])
    screen = login.screen()
    assert "must have at least 7 characters" in screen, screen
    assert "not complex enough" in screen, screen
    assert status == 0, screen
    assert dc.can_bind("user2", good) and not dc.can_bind("user2", h.PASSWORDS["user2"])
    secrets_seen += [good, e.code_from(smtp.messages_to("user2.alt@example.org")[0])]

    # 4. Five wrong codes end the flow; nothing is written.
    login = e.Login(env, "user3")
    login.expect(e.PASSWORD_PROMPT)
    login.send("")
    login.expect(e.CODE_PROMPT)
    real = e.code_from(smtp.wait_for("user3.alt@example.org", timeout=15))
    wrong = "00000000" if real != "00000000" else "11111111"
    for i in range(5):
        login.send(wrong)
        if i < 4:
            login.expect("Tries left: %d." % (4 - i))
            login.expect(e.CODE_PROMPT)
    status, _ = login.finish()
    assert "Too many wrong codes" in login.screen(), login.screen()
    assert status != 0
    assert dc.can_bind("user3", h.PASSWORDS["user3"]), "password changed after wrong codes"
    assert len(smtp.messages_to("user3.alt@example.org")) == 1

    # 5. Same face: real (dave), unknown, not enrolled (bob) and disabled
    #    (carol) accounts see the same conversation; only dave gets mail.
    faces = {}
    mails_before = smtp.count()
    for user in ("dave", "nosuchuser", "bob", "carol"):
        login = e.Login(env, user)
        login.expect(e.PASSWORD_PROMPT)
        login.send("")
        login.expect(e.CODE_PROMPT)
        for i in range(5):
            login.send("12345678")
            if i < 4:
                login.expect(e.CODE_PROMPT)
        status, _ = login.finish()
        assert status != 0, login.screen()
        faces[user] = conversation(login.screen())
    for user in ("nosuchuser", "bob", "carol"):
        assert faces[user] == faces["dave"], "%s sees a different conversation:\n%s\n---\n%s" % (
            user, faces[user], faces["dave"])
    assert smtp.count() == mails_before + 1, "mail sent for an ineligible account"
    assert smtp.messages_to("dave.alt@example.org"), "no mail for the real account"
    audit = ssprd.audit_text()
    assert re.search(r'event=reset_ineligible account="nosuchuser".*reason="dir_no_such_user"', audit), audit
    assert re.search(r'event=reset_ineligible account="bob".*reason="not_enrolled"', audit), audit
    assert re.search(r'event=reset_ineligible account="carol".*reason="account_disabled"', audit), audit
    assert re.search(r'event=reset_written account="user1"', audit), audit

    # 6. No secret in the audit log, the helper's log, or any command line.
    logs = audit + ssprd.log_tail()
    for s in secrets_seen:
        assert s not in logs, "a secret reached the logs"
    assert not h.processes_with_secret_in_cmdline(secrets_seen)
    # ...and no core dump can carry one: ssprd runs with RLIMIT_CORE = 0.
    with open("/proc/%d/limits" % ssprd.proc.pid) as f:
        core = [ln for ln in f if ln.startswith("Max core file size")][0].split()
    assert core[4:6] == ["0", "0"], "ssprd may dump core: %r" % core

    assert ssprd.stop() == 0, "ssprd did not exit cleanly on SIGTERM"
    smtp.stop()
    dc.stop()


if __name__ == "__main__":
    h.run_test(main)
