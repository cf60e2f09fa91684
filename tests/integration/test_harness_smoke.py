#!/usr/bin/python3
"""Proves the harness: a private DC copy with LDAPS and KDC, delegated reset
rights for svc-sspr, the SMTP sink, and pam_krb5 under pam_wrapper.

Env: SSPR_GOLDEN (made by provision_golden.py).
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sspr_harness as h  # noqa: E402
from sspr_harness import PASSWORDS, timed  # noqa: E402


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok: " + what, flush=True)


def main():
    golden = os.environ.get("SSPR_GOLDEN")
    if not golden:
        raise AssertionError("SSPR_GOLDEN is not set (run provision_golden.py first)")
    check(os.readlink("/proc/self/ns/net") != os.environ.get("SSPR_NETNS_PARENT"),
          "running in a private network namespace")
    work = h.new_work_dir("smoke")

    with timed("dc copy"):
        dc = h.Dc(golden, work)
    with timed("dc start"):
        dc.start()
    print("dc: copy %.3f s, start %.3f s, pid %d" % (dc.copy_seconds, dc.start_seconds, dc.pid))

    # -- binds
    with timed("binds"):
        check(dc.can_bind("Administrator", PASSWORDS["Administrator"]), "Administrator binds")
        check(not dc.can_bind("Administrator", "Not-The-Pass-1!"), "Administrator wrong pw refused")
        check(dc.can_bind("alice", PASSWORDS["alice"]), "alice binds over LDAPS")
        r = dc.bind("alice", "Not-The-Pass-1!")
        check(r.rc == 49 and r.data_code == "52e", "alice wrong pw -> 49 data 52e (%r)" % r)
        r = dc.bind("carol", PASSWORDS["carol"])
        check(r.rc == 49 and r.data_code == "533", "disabled carol -> 49 data 533 (%r)" % r)

    # -- a wrong CA must fail the TLS handshake (not a credential error)
    other_ca, _ = h.make_ca(work, name="wrong-ca", cn="Not The SSPR CA")
    r = dc.bind("alice", PASSWORDS["alice"], ca_file=other_ca)
    check(r.rc not in (0, 49), "bind with a wrong CA fails before auth (rc %d)" % r.rc)
    try:
        dc.can_bind("alice", PASSWORDS["alice"], ca_file=other_ca)
        raise AssertionError("can_bind with a wrong CA did not raise")
    except RuntimeError:
        print("ok: can_bind raises on a TLS failure")

    # -- directory content
    check(dc.get_attr("alice", "otherMailbox") == ["alice.alt@example.org"], "alice otherMailbox")
    check(dc.get_attr("bob", "otherMailbox") == [], "bob has no otherMailbox")
    check(dc.get_one("alice", "mail") == "alice@sspr.test", "alice mail")
    check(dc.get_one("alice", "displayName") == "Alice Anderson", "alice displayName")
    check(int(dc.get_one("carol", "userAccountControl")) & 2, "carol disabled (UAC)")
    pol = dc.password_policy()
    check(pol["minPwdAge"] == "0" and pol["minPwdLength"] == "7"
          and pol["pwdHistoryLength"] == "24" and int(pol["pwdProperties"]) & 1,
          "password policy as provisioned: %s" % pol)
    dc.set_attr("user4", "otherMailbox", ["x1@example.org", "x2@example.org"])
    check(sorted(dc.get_attr("user4", "otherMailbox")) == ["x1@example.org", "x2@example.org"],
          "set_attr multi-valued")
    dc.delete_attr("user4", "otherMailbox")
    check(dc.get_attr("user4", "otherMailbox") == [], "delete_attr")

    # -- delegated reset as svc-sspr: LDIF on stdin, password via -y file
    new = "Alice-Reset-2!x"
    ldif = ("dn: %s\nchangetype: modify\nreplace: unicodePwd\nunicodePwd:: %s\n-\n"
            % (h.user_dn("alice"), h.unicode_pwd_b64(new)))
    with timed("svc reset"):
        r = dc.ldapmodify(ldif, user="svc-sspr", password=PASSWORDS["svc-sspr"])
    check(r.ok, "svc-sspr resets alice (%r)" % r)
    check(dc.can_bind("alice", new), "alice binds with the new password")
    check(not dc.can_bind("alice", PASSWORDS["alice"]), "alice's old password is refused")
    r = dc.ldapmodify("dn: %s\nchangetype: modify\nreplace: lockoutTime\nlockoutTime: 0\n-\n"
                      % h.user_dn("dave"), user="svc-sspr", password=PASSWORDS["svc-sspr"])
    check(r.ok, "svc-sspr may write lockoutTime in OU=People (%r)" % r)

    for victim in ("Administrator", "outsider"):
        r = dc.set_password(victim, "Evil-Reset-3!x", as_user="svc-sspr",
                            as_password=PASSWORDS["svc-sspr"])
        check(r.rc == 50, "svc-sspr can NOT reset %s outside OU=People (rc %d)" % (victim, r.rc))
        check(dc.can_bind(victim, PASSWORDS[victim]), "%s keeps its password" % victim)
    r = dc.set_password("bob", "Bob-Reset-3!x", as_user="alice", as_password=new)
    check(r.rc == 50, "an ordinary user can NOT reset bob (rc %d)" % r.rc)

    # -- user change + policy (lets later tests rely on min-pwd-age=0)
    r = dc.change_password("alice", new, "Alice-Changed-3!y")
    check(r.ok, "alice changes her own password right after a reset (%r)" % r)
    r = dc.change_password("alice", "Alice-Changed-3!y", "short")
    check(r.rc == 19 and r.ad_code == "0000052D", "too short -> 19/0000052D (%r)" % r)

    # -- lockout
    with timed("lock_out"):
        dc.lock_out("user3")
    check(dc.is_locked("user3"), "user3 locked")
    check(dc.bind("user3", PASSWORDS["user3"]).data_code == "775", "locked bind -> data 775")
    dc.unlock("user3")
    check(dc.can_bind("user3", PASSWORDS["user3"]), "user3 unlocked binds again")

    # -- samba-tool online
    with timed("samba-tool online"):
        out = dc.samba_tool("user", "show", "dave", "--attributes=otherMailbox")
    check("dave.alt@example.org" in out, "samba-tool against the running DC")

    # -- SMTP sink
    with timed("smtp start"):
        smtp = h.SmtpSink(os.path.join(work, "smtp")).start()
    check(smtp.count() == 0, "sink starts empty")
    mail = os.path.join(work, "mail.txt")
    with open(mail, "w") as f:
        f.write("From: sspr@sspr.test\r\nTo: alice.alt@example.org\r\n"
                "Subject: smoke test\r\n\r\nYour verification code is: 123456\r\n")
    subprocess.run(["curl", "-sS", "--max-time", "10", smtp.url, "--mail-from", "sspr@sspr.test",
                    "--mail-rcpt", "alice.alt@example.org", "-T", mail], check=True)
    m = smtp.wait_for("alice.alt@example.org", timeout=10)
    check(m["Subject"] == "smoke test" and "123456" in m.get_payload(), "sink got the mail")
    check(smtp.count() == 1, "exactly one message")
    try:
        smtp.wait_for("bob@example.org", timeout=0.3)
        raise RuntimeError("wait_for found a message that was never sent")
    except AssertionError:
        print("ok: wait_for raises when no mail arrives")

    # -- pam_krb5 under pam_wrapper, driven by pamtester
    krb5 = dc.write_krb5_conf(os.path.join(work, "krb5.conf"))
    pam = h.PamEnv(os.path.join(work, "pam.d"), krb5_conf=krb5)
    pam.add_service("sspr-smoke", ["auth required pam_krb5.so",
                                   "account required pam_permit.so"])
    env = pam.env()
    with timed("pamtester ok"):
        rc, text = h.pamtester(env, "sspr-smoke", "dave", PASSWORDS["dave"])
    check(rc == 0 and "successfully authenticated" in text,
          "pam_krb5 authenticates dave (rc %s):\n%s" % (rc, text))
    rc, text = h.pamtester(env, "sspr-smoke", "alice", "Alice-Changed-3!y")
    check(rc == 0, "pam_krb5 authenticates alice with her changed password (rc %s): %s" % (rc, text))
    with timed("pamtester wrong"):
        rc, text = h.pamtester(env, "sspr-smoke", "alice", "Wrong-Pass-9!")
    check(rc != 0 and "successfully" not in text, "pam_krb5 refuses a wrong password (rc %s)" % rc)
    rc, text = h.pamtester(env, "nosuchservice", "alice", "Alice-Changed-3!y")
    check(rc != 0, "unknown service falls to `other` (deny) (rc %s)" % rc)

    # -- no password on any command line while all this runs
    hits = h.processes_with_secret_in_cmdline(list(PASSWORDS.values()) + [new, "Alice-Changed-3!y"])
    check(not hits, "no password in /proc/*/cmdline %s" % hits)

    # -- stop by PID, really gone (not a zombie)
    pids = [dc.pid, smtp.proc.pid]
    with timed("stop"):
        smtp.stop()
        dc.stop()
    for pid in pids:
        check(not os.path.exists("/proc/%d" % pid), "pid %d reaped" % pid)

    # -- a second start of the same copy and kill() for fault tests
    with timed("dc restart"):
        dc.start()
    check(dc.can_bind("alice", "Alice-Changed-3!y"), "state survives a restart")
    pid = dc.pid
    dc.kill()
    check(not os.path.exists("/proc/%d" % pid), "kill() reaps")
    h.print_timings()


if __name__ == "__main__":
    h.run_test(main)
