#!/usr/bin/python3
"""AD's password policy, scope and unlock against the real Samba DC:

- a fine-grained policy (PSO, min length 12) stricter than the domain's (7)
  applies to user1: the 10-character password is refused as "at least 12
  characters" before anything reaches AD, and a 14-character one is written;
- scope = selected with a nested group: user2 (member through a nested
  group) may reset; user3 (outside) gets the same face, no mail, audit
  reason out_of_scope;
- a protected account (adminCount=1) is refused the same way;
- the banned list refuses a near miss, and a second choice succeeds;
- a locked-out user4 is told when the lock ends, unlocks without a reset,
  and logs in with the password they remembered (lockoutTime back to 0);
- with history_on_reset = refuse, a DC without the policy-hints control
  (Samba) gets no write, and the user is told the password was not changed.
"""
import os
import re

import sspr_harness as h
import sspr_env as e

BASE = h.BASE_DN


def verify(env, smtp, user, after):
    login = e.Login(env, user)
    login.expect(e.PASSWORD_PROMPT)
    login.send("")
    login.expect(e.CODE_PROMPT)
    login.send(e.code_from(smtp.wait_for(h.USERS[user]["other"], timeout=15, after=after)))
    return login


def choose(login, *passwords):
    for pw in passwords:
        login.expect(e.NEW_PROMPT)
        login.send(pw)
        login.expect(e.RETYPE_PROMPT)
        login.send(pw)
    return login.finish()


def main():
    work = h.new_work_dir("policy_unlock")
    dc = h.Dc(os.environ["SSPR_GOLDEN"], os.path.join(work, "dc"))
    dc.start()
    # Groups: SSPR-Users <- Nested <- user2; SSPR-Users <- user1, user4, dave.
    dc.samba_tool("group", "add", "SSPR-Users", "--groupou=OU=People")
    dc.samba_tool("group", "add", "Nested", "--groupou=OU=People")
    dc.samba_tool("group", "add", "Strict", "--groupou=OU=People")
    dc.samba_tool("group", "addmembers", "SSPR-Users", "Nested,user1,user4,dave")
    dc.samba_tool("group", "addmembers", "Nested", "user2")
    dc.samba_tool("group", "addmembers", "Strict", "user1")
    dc.samba_tool("domain", "passwordsettings", "pso", "create", "strict", "1",
                  "--min-pwd-length=12", "--complexity=on", "--history-length=24",
                  "--min-pwd-age=0", "--max-pwd-age=0")
    dc.samba_tool("domain", "passwordsettings", "pso", "apply", "strict", "Strict")
    # The helper's account must read PSOs (users cannot read their own).
    svc_sid = dc.samba_tool("user", "show", "svc-sspr", "--attributes=objectSid").split("objectSid:")[1].split()[0]
    dc.samba_tool("dsacl", "set", "--objectdn=CN=Password Settings Container,CN=System," + BASE,
                  "--sddl=(A;CI;RPLCRC;;;%s)" % svc_sid)
    dc.set_attr("dave", "adminCount", ["1"])
    dc.lock_out("user4")

    smtp = h.SmtpSink(os.path.join(work, "smtp")).start()
    banned = os.path.join(work, "banned.txt")
    with open(banned, "w") as f:
        f.write("# company words\ncontoso\nwinter\n")
    os.chmod(banned, 0o644)
    group = "CN=SSPR-Users,OU=People," + BASE
    ssprd = e.Ssprd(work, dc, smtp.port, extra={"policy": {
        "scope": "selected", "scope_groups": group, "unlock": "yes", "banned_list": banned,
        "history_on_reset": "proceed"}}).start()
    pam, env = e.make_pam(work, dc, ssprd)

    # PSO: the effective policy is the PSO's, named with its limit.
    login = verify(env, smtp, "user1", 0)
    good = "Fine-Grained-Pass-14"
    status, _ = choose(login, "Short-Pw-1", good)
    screen = login.screen()
    assert "needs at least 12 characters" in screen, screen
    assert "must have at least 12 characters" in screen, screen
    assert status == 0, screen
    assert dc.can_bind("user1", good) and not dc.can_bind("user1", h.PASSWORDS["user1"])
    assert re.search(r'event=reset_written account="user1".*policy="CN=strict,', ssprd.audit_text()), ssprd.audit_text()

    # Nested scope + banned near miss: user2 is in through Nested.
    login = verify(env, smtp, "user2", 0)
    ok2 = "Spring-Field-Pass-3"
    status, _ = choose(login, "W1nter-Contoso-5", ok2)
    screen = login.screen()
    assert "too common or too easy to guess" in screen, screen
    assert "needs at least 7 characters" in screen, screen  # domain policy for user2
    assert status == 0 and dc.can_bind("user2", ok2), screen

    # Out of scope (user3) and protected (dave): same face, no mail.
    mails = smtp.count()
    for user in ("user3", "dave"):
        login = e.Login(env, user)
        login.expect(e.PASSWORD_PROMPT)
        login.send("")
        login.expect(e.CODE_PROMPT)
        login.send("")
        login.expect("Password reset cancelled")
        status, _ = login.finish()
        assert status != 0
    assert smtp.count() == mails, "mail sent to an out-of-scope or protected account"
    audit = ssprd.audit_text()
    assert re.search(r'event=reset_ineligible account="user3".*reason="out_of_scope"', audit), audit
    assert re.search(r'event=reset_ineligible account="dave".*reason="protected_account"', audit), audit

    # Locked out: unlock only, keep the password, log in with it.
    assert dc.is_locked("user4")
    login = verify(env, smtp, "user4", 0)
    login.expect("Your account is locked after too many wrong passwords. It unlocks by itself at ")
    login.expect("Type 1 to unlock")
    login.send("1")
    login.expect("Your account is unlocked")
    login.expect(e.CURRENT_PROMPT)
    login.send(h.PASSWORDS["user4"])
    status, out = login.finish()
    assert status == 0 and "successfully authenticated" in out, login.screen()
    assert not dc.is_locked("user4"), "still locked"
    assert dc.can_bind("user4", h.PASSWORDS["user4"]), "password changed by an unlock"
    assert re.search(r'event=unlocked account="user4"', ssprd.audit_text())

    # history_on_reset = refuse: Samba cannot enforce history on a reset.
    assert ssprd.stop() == 0
    ssprd = e.Ssprd(work, dc, smtp.port, extra={"policy": {"history_on_reset": "refuse"}}).start()
    pam, env = e.make_pam(work, dc, ssprd)
    login = verify(env, smtp, "user3", len(smtp.messages_to("user3.alt@example.org")))
    status, _ = choose(login, "Refused-Write-Pass-7")
    assert status != 0 and "Your password was not changed" in login.screen(), login.screen()
    assert dc.can_bind("user3", h.PASSWORDS["user3"])
    assert "does not support the password-policy-hints control" in ssprd.audit_text(), ssprd.audit_text()

    assert ssprd.stop() == 0
    smtp.stop()
    dc.stop()


if __name__ == "__main__":
    h.run_test(main)
