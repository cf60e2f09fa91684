#!/usr/bin/python3
"""The same flows against OpenLDAP with the ppolicy overlay: ssprd with
[directory] type = openldap, a throwaway slapd (slapd_harness.py), the SMTP
sink, and real libpam (pamtester) with pam_sspr.so in front of a pam_exec
check that binds as the user to slapd:

- reset by email code: the new password binds, the old one does not, and
  the login completes through the next module;
- ppolicy's rules are named: too short (the policy's 8) before anything is
  written, and reuse of a recent password (ppolicy's history) with the
  policy's count; a second choice succeeds;
- unlock without reset: ppolicy locked carol after 3 wrong binds; after
  verification she unlocks and keeps her password;
- passwd: a user change (old + new) through chauthtok.
"""
import os
import re

import sspr_harness as h
import sspr_env as e
import slapd_harness as sl

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    work = h.new_work_dir("openldap_flows")
    slapd = sl.Slapd(os.path.join(work, "slapd"))
    slapd.start()
    smtp = h.SmtpSink(os.path.join(work, "smtp")).start()

    class Dir:  # what e.Ssprd reads from a "dc"
        ldaps_uri = slapd.ldaps_uri
        ca_file = slapd.ca_file
        base_dn = sl.BASE_DN

    ssprd = e.Ssprd(work, Dir, smtp.port, bind_password=sl.PASSWORDS["svc"], extra={
        "directory": {"type": "openldap", "bind_dn": sl.SVC_DN,
                      "default_policy_dn": sl.DEFAULT_POLICY_DN},
        "email": {"attribute": "mail"},
        "policy": {"unlock": "yes", "history_on_reset": "refuse"},  # ppolicy enforces history itself
        "notify": {"primary_attribute": "mail"},
    }).start()
    pam = h.PamEnv(os.path.join(work, "pam.d"))
    check = "%s %s %s %s" % (os.path.join(HERE, "check_ldap_bind.sh"), slapd.ldaps_uri, slapd.ca_file,
                             sl.PEOPLE_DN)
    pam.add_service("sspr-login", [
        "auth [success=ok ignore=ignore default=die] %s socket=%s timeout=30" % (e.PAM_SSPR, ssprd.sock),
        "auth required pam_exec.so quiet expose_authtok %s" % check,
        "account required pam_permit.so",
        "password [success=done ignore=ignore default=die] %s socket=%s" % (e.PAM_SSPR, ssprd.sock),
        "password required pam_permit.so",  # stands in for pam_unix (prelim pass)
    ])
    env = pam.env()
    alice = sl.user_dn("alice")

    # Reset with ppolicy's rules named.
    login = e.Login(env, "alice")
    login.expect(e.PASSWORD_PROMPT)
    login.send("")
    login.expect(e.CODE_PROMPT)
    login.send(e.code_from(smtp.wait_for("alice@sspr.test", timeout=15)))
    for pw in ("Sh0rt!", sl.PASSWORDS["alice"], "Ldap-Reset-Pass-1"):
        login.expect(e.NEW_PROMPT)
        login.send(pw)
        login.expect(e.RETYPE_PROMPT)
        login.send(pw)
    status, out = login.finish()
    screen = login.screen()
    assert "must have at least 8 characters" in screen, screen
    assert "different from your last 5 passwords" in screen, screen
    assert status == 0 and "successfully authenticated" in out, screen
    assert slapd.can_bind(alice, "Ldap-Reset-Pass-1")
    assert not slapd.can_bind(alice, sl.PASSWORDS["alice"])
    audit = ssprd.audit_text()
    assert re.search(r'event=password_refused account="alice".*rule="history" checked="directory"', audit), audit
    assert re.search(r'event=reset_written account="alice".*policy="cn=default,ou=policies', audit), audit

    # Unlock without reset.
    carol = sl.user_dn("carol")
    for _ in range(3):
        assert not slapd.can_bind(carol, "Wrong-Carol-1")
    assert slapd.get_attr(carol, "pwdAccountLockedTime"), "carol not locked by ppolicy"
    login = e.Login(env, "carol")
    login.expect(e.PASSWORD_PROMPT)
    login.send("")
    login.expect(e.CODE_PROMPT)
    login.send(e.code_from(smtp.wait_for("carol@sspr.test", timeout=15)))
    login.expect("Your account is locked")
    login.expect("Type 1 to unlock")
    login.send("1")
    login.expect(e.CURRENT_PROMPT)
    login.send(sl.PASSWORDS["carol"])
    status, out = login.finish()
    assert status == 0 and "successfully authenticated" in out, login.screen()
    assert not slapd.get_attr(carol, "pwdAccountLockedTime")
    assert slapd.can_bind(carol, sl.PASSWORDS["carol"])

    # passwd: a user change.
    import pexpect
    child = pexpect.spawn("pamtester", ["sspr-login", "alice", "chauthtok"], env=env, encoding="utf-8", timeout=30)
    child.expect_exact(e.OLD_PROMPT)
    child.sendline("Ldap-Reset-Pass-1")
    for _ in range(2):
        child.expect_exact([e.NEW_PROMPT, e.RETYPE_PROMPT])
        child.sendline("Ldap-Changed-Pass-2")
    child.expect_exact("Your new password has been saved")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert slapd.can_bind(alice, "Ldap-Changed-Pass-2")

    assert ssprd.stop() == 0
    smtp.stop()
    slapd.stop()


if __name__ == "__main__":
    h.run_test(main)
