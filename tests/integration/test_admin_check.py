#!/usr/bin/python3
"""`sspr-admin check` against the real DC, changing nothing: a good
configuration passes (with a warning about password history on Samba);
each broken piece produces its own FAIL line with a fix, and exit 1."""
import os
import subprocess

import sspr_harness as h
import sspr_env as e

ADMIN = os.path.join(e.BUILD, "helper", "sspr-admin")


def check(conf):
    r = subprocess.run([ADMIN, "check", "--config", conf], capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


def main():
    work = h.new_work_dir("admin_check")
    dc = h.Dc(os.environ["SSPR_GOLDEN"], os.path.join(work, "dc"))
    dc.start()
    smtp = h.SmtpSink(os.path.join(work, "smtp")).start()
    pw_before = dc.get_one("alice", "pwdLastSet")

    # The users live in OU=People (the other accounts of the domain are not
    # SSPR's business), as a real deployment's base_dn would say.
    good = e.Ssprd(work, dc, smtp.port, extra={"directory": {"base_dn": dc.people_dn}})
    rc, out = check(good.conf)
    assert rc == 0, out
    for line in ("[ OK ] DC ldaps://127.0.0.1: TLS verified, service bind as svc-sspr@sspr.test accepted",
                 "[ OK ] service account svc-sspr@sspr.test is an ordinary account",
                 "[ OK ] service account may reset passwords (",
                 "[ OK ] service account may write lockoutTime (unlock)",
                 "[WARN] DC does not support password-policy hints",
                 "[ OK ] mail server smtp://127.0.0.1:%d reachable" % smtp.port,
                 "all checks passed"):
        assert line in out, "missing %r in:\n%s" % (line, out)

    # Broken: a DC that is down, a missing scope group, history refused, mail down.
    bad_dir = os.path.join(work, "bad")
    os.makedirs(bad_dir)
    bad = e.Ssprd(bad_dir, dc, smtp.port, uri="ldaps://127.0.0.1 ldaps://[::1]", extra={"policy": {
        "scope": "selected", "scope_groups": "CN=No-Such-Group,OU=People," + h.BASE_DN,
        "history_on_reset": "refuse"}})
    smtp.stop()
    rc, out = check(bad.conf)
    assert rc == 1, out
    for line in ("[FAIL] DC ldaps://[::1]: dir_unavailable",
                 "[FAIL] scope group CN=No-Such-Group,OU=People,DC=sspr,DC=test not found",
                 "[FAIL] DC does not support password-policy hints and [policy] history_on_reset = refuse",
                 "[FAIL] mail server: SMTP",
                 "4 check(s) failed"):
        assert line in out, "missing %r in:\n%s" % (line, out)
    assert out.count("       fix: ") >= 4, out

    # An account without delegation, and one that is far too privileged.
    for who, expect in (("alice", "[FAIL] service account has no Reset Password right on"),
                        ("Administrator", "[WARN] service account Administrator@sspr.test is privileged")):
        d = os.path.join(work, who)
        os.makedirs(d)
        s = e.Ssprd(d, dc, smtp.port, extra={"directory": {"base_dn": dc.people_dn}})
        with open(s.conf) as f:
            conf = f.read().replace("bind_dn = svc-sspr@sspr.test", "bind_dn = %s@sspr.test" % who)
        with open(s.conf, "w") as f:
            f.write(conf)
        fd = os.open(os.path.join(d, "bind.secret"), os.O_WRONLY | os.O_TRUNC)
        os.write(fd, h.PASSWORDS[who].encode())
        os.close(fd)
        rc, out = check(s.conf)
        assert expect in out, "missing %r in:\n%s" % (expect, out)

    # Nothing was changed.
    assert dc.get_one("alice", "pwdLastSet") == pw_before
    assert dc.can_bind("alice", h.PASSWORDS["alice"])
    dc.stop()


if __name__ == "__main__":
    h.run_test(main)
