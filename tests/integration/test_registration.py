#!/usr/bin/python3
"""Registration at first sign-in, the authenticator app and security
questions, with the real DC, SMTP sink, ssprd and libpam:

- [methods] required = 2 and [registration] require = yes: user1 (email in
  AD only) is asked at login to register; one skip is allowed, then the
  login walks through registration in the PAM conversation (account phase):
  the password just proved is used without asking again, the QR code and
  otpauth URI are shown, and the test computes the code from the URI;
- a reset with two methods (email + authenticator app) then succeeds; the
  same app code cannot be used twice;
- sspr-enroll, run as user2's uid (nss_wrapper maps it for ssprd), registers
  security questions (refusing an answer that is a word of its question);
  a reset with email + questions succeeds, wrong answers are refused;
- every registration change is mailed to the user;
- made an admin, the same user is not offered questions and is sent to the
  help desk (admins need two methods and may not use questions).
"""
import os
import re
import subprocess
import time

import pexpect

import sspr_harness as h
import sspr_env as e

NSS_WRAPPER_LIB = "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so"
ENROLL = os.path.join(e.BUILD, "helper", "sspr-enroll")


def login_with_password(env, user, password):
    child = pexpect.spawn("pamtester", ["-v", "sspr-login", user, "authenticate", "acct_mgmt"],
                          env=env, encoding="utf-8", timeout=30)
    child.expect_exact(e.PASSWORD_PROMPT)
    child.sendline(password)
    return child


def main():
    work = h.new_work_dir("registration")
    os.chmod(work, 0o755)  # user2's sspr-enroll reaches the socket
    dc = h.Dc(os.environ["SSPR_GOLDEN"], os.path.join(work, "dc"))
    dc.start()
    smtp = h.SmtpSink(os.path.join(work, "smtp")).start()
    passwd = os.path.join(work, "passwd")
    with open(passwd, "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nuser2:x:20002:20002:user2:/:/bin/sh\n")
    group = os.path.join(work, "group")
    with open(group, "w") as f:
        f.write("root:x:0:\nuser2:x:20002:\n")
    ssprd = e.Ssprd(work, dc, smtp.port, extra={
        "methods": {"required": "2"},
        "registration": {"require": "yes", "skips_allowed": "1", "cooldown_hours": "0"},
        "totp": {"enabled": "yes", "issuer": "SSPR Test"},
        "questions": {"enabled": "yes", "register": "3", "ask": "2"},
    })
    # ssprd maps uid 20002 -> user2 through nss_wrapper (a domain user's passwd entry).
    ssprd.start(env=dict(os.environ, LD_PRELOAD=NSS_WRAPPER_LIB, NSS_WRAPPER_PASSWD=passwd,
                         NSS_WRAPPER_GROUP=group))
    pam, env = e.make_pam(work, dc, ssprd)
    sspr = "%s socket=%s timeout=30" % (e.PAM_SSPR, ssprd.sock)
    pam.add_service("sspr-login", [
        "auth [success=ok ignore=ignore default=die] %s" % sspr,
        "auth required %s use_first_pass" % e.PAM_KRB5,
        "account [success=ok ignore=ignore default=die] %s" % sspr,
        "account required %s" % e.PAM_PERMIT,
    ])
    pam.add_service("login", open(os.path.join(pam.dir, "sspr-login")).read().splitlines())

    # 1. Due at login: skip once.
    child = login_with_password(env, "user1", h.PASSWORDS["user1"])
    child.expect_exact("You may skip this 1 more time(s).")
    child.expect_exact("Register now? (yes/skip): ")
    child.sendline("skip")
    child.expect_exact("Registration skipped.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, "a skipped registration blocked the login"

    # 2. No skips left: register the authenticator app inside the login.
    child = pexpect.spawn("pamtester", ["-v", "login", "user1", "authenticate", "acct_mgmt"],
                          env=env, encoding="utf-8", timeout=30)
    child.expect_exact(e.PASSWORD_PROMPT)
    child.sendline(h.PASSWORDS["user1"])
    child.expect_exact("Please register a way to verify yourself")
    child.expect_exact("set up an authenticator app")
    child.expect_exact("Choose 1-3: ")
    assert "Password:" not in child.before, "the proved password was asked again"
    child.sendline("1")
    child.expect(r"enter this: (otpauth://\S+)")
    uri = child.match.group(1)
    qr = child.before
    assert "\u2580" in qr or "\u2584" in qr or "\u2588" in qr, "no QR code shown"
    secret = re.search(r"secret=([A-Z2-7]+)", uri).group(1)
    assert uri.startswith("otpauth://totp/SSPR%20Test:user1?"), uri
    child.expect_exact("Code shown by the app: ")
    child.sendline(e.totp(secret))
    child.expect_exact("Your authenticator app is registered.")
    child.expect_exact("Choose 1-2: ")
    child.sendline("2")  # done
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    note = smtp.wait_for("user1.alt@example.org", timeout=10)
    assert note.get("Subject") == "Your password reset methods changed"
    assert secret not in note.get_payload(decode=True).decode(), "the seed in a mail"
    assert re.search(r'event=method_registered account="user1".*method="totp"', ssprd.audit_text())

    # 3. Reset with two methods: email, then the app (next step's code: the
    #    enrolment code's step is spent).
    login = e.Login(env, "user1")
    login.expect(e.PASSWORD_PROMPT)
    login.send("")
    login.expect(e.CHOOSE_PROMPT_START)
    login.send("1")  # email
    login.expect(e.CODE_PROMPT)
    login.send(e.code_from(smtp.wait_for("user1.alt@example.org", timeout=15, after=1)))
    login.expect("This account needs a second, different verification method.")
    login.expect("Code from your authenticator app (Enter to cancel): ")
    used = e.totp(secret, time.time() + 30)
    login.send(used)
    login.expect(e.NEW_PROMPT)
    login.send("Two-Factor-Reset-1")
    login.expect(e.RETYPE_PROMPT)
    login.send("Two-Factor-Reset-1")
    status, _ = login.finish()
    assert status == 0, login.screen()
    assert dc.can_bind("user1", "Two-Factor-Reset-1")
    # The same app code again: refused (replay).
    login = e.Login(env, "user1")
    login.expect(e.PASSWORD_PROMPT)
    login.send("")
    login.expect(e.CHOOSE_PROMPT_START)
    login.send("1")
    login.expect(e.CODE_PROMPT)
    login.send(e.code_from(smtp.wait_for("user1.alt@example.org", timeout=15, after=3)))
    login.expect("Code from your authenticator app (Enter to cancel): ")
    login.send(used)
    login.expect("That code is not correct.")
    login.child.sendline("")
    login.finish()

    # 4. sspr-enroll as user2: security questions.
    def as_user2():
        os.setgid(20002)
        os.setuid(20002)

    r, w = os.pipe()
    child = pexpect.spawn(ENROLL, ["--socket", ssprd.sock], encoding="utf-8", timeout=30,
                          preexec_fn=as_user2)
    child.expect_exact("Verification methods for password reset of user2.")
    child.expect_exact("Password: ")
    child.sendline(h.PASSWORDS["user2"])
    child.expect(r"Choose 1-(\d): ")
    menu = child.before
    pick = re.search(r"(\d)\) choose and answer security questions", menu).group(1)
    child.sendline(pick)
    answers = {}
    for i in range(3):
        child.expect(r"Choose a question, 1-\d: ")
        qs = dict((int(n), q) for n, q in re.findall(r"(\d)\) (.*\?)", child.before))
        child.sendline("1")
        q = qs[1]
        child.expect_exact("Answer: ")
        if i == 0:
            word = re.findall(r"[a-z]{4,}", q.lower())[-1]  # a word of the question
            child.sendline(word)
            child.expect_exact("An answer may not contain its question.")
            child.expect(r"Choose a question, 1-\d: ")
            child.sendline("1")
            child.expect_exact("Answer: ")
        ans = "Answer number %d here" % i
        child.sendline(ans)
        child.expect_exact("Answer again: ")
        child.sendline("  answer NUMBER %d   here " % i)  # normalised: case and spaces
        answers[q] = ans
    child.expect_exact("Your security questions are registered.")
    child.expect(r"Choose 1-\d: ")
    child.sendline(re.search(r"(\d)\) done", child.before).group(1))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    audit = ssprd.audit_text()
    assert re.search(r'event=method_registered account="user2" uid="20002".*method="questions"', audit), audit

    # 5. Reset with email + questions; a wrong answer first.
    login = e.Login(env, "user2")
    login.expect(e.PASSWORD_PROMPT)
    login.send("")
    login.expect("by answering your security questions")
    login.expect(e.CHOOSE_PROMPT_START)
    login.send("1")  # email first
    login.expect(e.CODE_PROMPT)
    login.send(e.code_from(smtp.wait_for("user2.alt@example.org", timeout=15, after=1)))
    login.expect("This account needs a second, different verification method.")
    for attempt in range(2):
        for _ in range(2):
            login.child.expect(r"\n([^\n]*\?) ")
            q = login.child.match.group(1).strip()
            login.send("wrong answer" if attempt == 0 else answers[q])
        if attempt == 0:
            login.expect("Those answers are not correct.")
    login.expect(e.NEW_PROMPT)
    login.send("Questions-Reset-22")
    login.expect(e.RETYPE_PROMPT)
    login.send("Questions-Reset-22")
    status, _ = login.finish()
    assert status == 0, login.screen()
    assert dc.can_bind("user2", "Questions-Reset-22")

    # 6. The same user as an admin: questions are never offered, so email
    #    alone is not enough and the user is sent to the help desk.
    assert ssprd.stop() == 0
    dc.set_attr("user2", "adminCount", ["1"])
    ssprd = e.Ssprd(work, dc, smtp.port, extra={
        "methods": {"required": "1"},
        "policy": {"allow_protected_accounts": "yes", "history_on_reset": "proceed"},
        "questions": {"enabled": "yes", "register": "3", "ask": "2"},
        "registration": {"cooldown_hours": "0"}}).start(
            env=dict(os.environ, LD_PRELOAD=NSS_WRAPPER_LIB, NSS_WRAPPER_PASSWD=passwd,
                     NSS_WRAPPER_GROUP=group))
    pam, env = e.make_pam(work, dc, ssprd)
    time.sleep(0.5)  # the last notification has landed
    n = len(smtp.messages_to("user2.alt@example.org"))
    login = e.Login(env, "user2")
    login.expect(e.PASSWORD_PROMPT)
    login.send("")
    login.expect(e.CODE_PROMPT)  # one method offered: no menu, no questions
    login.send(e.code_from(smtp.wait_for("user2.alt@example.org", timeout=15, after=n)))
    login.expect("This account needs 2 different verification methods, but has fewer registered.")
    status, _ = login.finish()
    assert status != 0 and "security questions" not in login.screen(), login.screen()
    assert dc.can_bind("user2", "Questions-Reset-22")
    assert ssprd.stop() == 0
    smtp.stop()
    dc.stop()


if __name__ == "__main__":
    h.run_test(main)
