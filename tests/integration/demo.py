#!/usr/bin/python3
"""The sspr demo: a throwaway AD domain controller, a mail sink and ssprd on
loopback inside a private network namespace, then a login as the domain user
`alice` through pam_sspr.so + pam_krb5 (real libpam, via pam_wrapper).

  demo.py              interactive: press Enter at the password prompt
  demo.py --scripted   the same story, typed by the script (a test runs it)

Nothing listens outside the namespace; everything is stopped on exit.
"""
import os
import secrets
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sspr_harness as h  # noqa: E402
import sspr_env as e  # noqa: E402

BOLD, DIM, GREEN, RED, CYAN, RESET = "\033[1m", "\033[2m", "\033[32m", "\033[31m", "\033[36m", "\033[0m"
USER = "alice"


def say(text, color=BOLD):
    sys.stdout.write("%s%s%s\n" % (color, text, RESET))
    sys.stdout.flush()


class MailWatcher(threading.Thread):
    """Prints every mail that reaches the sink, the way the user would see it
    in their other mailbox."""

    def __init__(self, smtp):
        super().__init__(daemon=True)
        self.smtp = smtp
        self.seen = 0
        self.stop_flag = False

    def run(self):
        while not self.stop_flag:
            msgs = self.smtp.messages()
            for m in msgs[self.seen:]:
                body = m.get_payload(decode=True).decode("utf-8", "replace").strip()
                box = "\n".join("   | " + ln for ln in body.splitlines())
                sys.stdout.write("\r\n%s   +-- mail to %s: %s%s\r\n%s%s%s\r\n\r\n" % (
                    CYAN, m.get("To"), m.get("Subject"), RESET, CYAN, box.replace("\n", "\r\n"), RESET))
                sys.stdout.flush()
            self.seen = len(msgs)
            time.sleep(0.2)


def setup():
    build = os.environ.get("SSPR_BUILD") or os.path.join(os.path.dirname(__file__), "..", "..", "build")
    os.environ["SSPR_BUILD"] = os.path.abspath(build)
    golden = os.path.join(os.environ["SSPR_BUILD"], "itest", "golden")
    say("Provisioning a throwaway AD domain SSPR.TEST (once; reused later) ...", DIM)
    h.provision_golden(golden)
    work = h.new_work_dir("demo")
    dc = h.Dc(golden, os.path.join(work, "dc")).start()
    smtp = h.SmtpSink(os.path.join(work, "smtp")).start()
    ssprd = e.Ssprd(work, dc, smtp.port).start()
    pam, env = e.make_pam(work, dc, ssprd, service="sspr-demo")
    pam.add_service("krb5-only", ["auth required %s" % e.PAM_KRB5])
    say("Domain controller (Samba AD, LDAPS on 127.0.0.1:636), mail sink and ssprd are running", DIM)
    say("in a private network namespace. The helper's audit log: %s" % ssprd.audit, DIM)
    return dc, smtp, ssprd, env


def show_ad(dc):
    when = dc.get_one(USER, "pwdLastSet")
    if when and int(when) > 0:
        t = (int(when) - 116444736000000000) / 1e7
        say("AD: %s's pwdLastSet is now %s UTC" % (USER, time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))), DIM)


def interactive(dc, smtp, ssprd, env):
    watcher = MailWatcher(smtp)
    watcher.start()
    print()
    say("You are %s, and you forgot your password." % USER)
    say("At the prompt below, press Enter (an empty password) to start a reset.")
    say("The code arrives by mail: it is printed here as it lands in alice's other mailbox.")
    say("Choose a new password of at least 7 characters with three kinds of characters.")
    print()
    rc = subprocess.call(["pamtester", "-v", "sspr-demo", USER, "authenticate"], env=env)
    time.sleep(0.3)
    watcher.stop_flag = True
    print()
    if rc != 0:
        say("The login did not succeed (see the messages above). Run the demo again to retry.", RED)
        return 1
    say("Logged in: pam_krb5 accepted the new password against the DC's KDC.", GREEN)
    show_ad(dc)
    print()
    say("Now sign in again with your NEW password, through pam_krb5 alone (no sspr):")
    rc = subprocess.call(["pamtester", "-v", "krb5-only", USER, "authenticate"], env=env)
    say("AD accepted it." if rc == 0 else "That was not the new password.", GREEN if rc == 0 else RED)
    return 0


def scripted(dc, smtp, ssprd, env):
    new = "Demo-%s-9!" % secrets.token_hex(4)
    login = e.Login(env, USER, service="sspr-demo")
    login.expect(e.PASSWORD_PROMPT)
    login.send("")
    login.expect(e.CODE_PROMPT)
    code = e.code_from(smtp.wait_for(h.USERS[USER]["other"], timeout=15))
    login.send(code)
    login.expect(e.NEW_PROMPT)
    login.send(new)
    login.expect(e.RETYPE_PROMPT)
    login.send(new)
    status, out = login.finish()
    print(login.screen())
    assert status == 0 and "successfully authenticated" in out, "login after reset failed"
    assert dc.can_bind(USER, new), "AD does not accept the new password"
    assert not dc.can_bind(USER, h.PASSWORDS[USER]), "AD still accepts the old password"
    show_ad(dc)
    say("DEMO OK: reset by email code, new password written to AD and used to log in.", GREEN)
    return 0


def main():
    is_scripted = "--scripted" in sys.argv[1:]
    dc, smtp, ssprd, env = setup()
    try:
        if is_scripted:
            scripted(dc, smtp, ssprd, env)
        elif interactive(dc, smtp, ssprd, env) != 0:
            raise AssertionError("interactive login did not succeed")
    finally:
        ssprd.stop()
        smtp.stop()
        dc.stop()


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("demo: needs root (it starts a domain controller in a private network namespace)")
    h.run_test(main, name="demo")
