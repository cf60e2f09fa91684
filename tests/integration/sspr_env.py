"""sspr's own parts on top of the harness: an ssprd with a test config, a
pam_wrapper service that stacks pam_sspr.so in front of pam_krb5 against the
test DC, and a driver for a real PAM program (pamtester) on a pty.

Everything runs inside the test's private network namespace (the test calls
sspr_harness.enter_private_netns() first). Servers are stopped by PID.
"""
import os
import re
import signal
import subprocess
import time

import pexpect

import sspr_harness as h

BUILD = os.environ.get("SSPR_BUILD", os.path.join(os.path.dirname(__file__), "../../build"))
SOURCE = os.environ.get("SSPR_SOURCE", os.path.join(os.path.dirname(os.path.abspath(__file__)), "../.."))
SSPRD = os.path.join(BUILD, "helper", "ssprd")
PAM_SSPR = os.path.join(BUILD, "pam_module", "pam_sspr.so")
PAM_KRB5 = "/usr/lib/x86_64-linux-gnu/security/pam_krb5.so"
PAM_PERMIT = "/usr/lib/x86_64-linux-gnu/security/pam_permit.so"
PAM_DENY = "/usr/lib/x86_64-linux-gnu/security/pam_deny.so"

PASSWORD_PROMPT = "Password (press Enter if you forgot it): "
CODE_PROMPT = "Verification code (Enter to cancel): "
NEW_PROMPT = "New password: "
RETYPE_PROMPT = "Retype new password: "
CURRENT_PROMPT = "Password: "
OLD_PROMPT = "Current password (press Enter if you forgot it): "
CHOOSE_PROMPT_START = "Choose 1-"


class Ssprd:
    """ssprd with a config pointing at the test DC and SMTP sink."""

    def __init__(self, work, dc, smtp_port, flow=None, extra=None, uri=None, bind_password=None):
        self.work = work
        self.dc = dc
        self.sock = os.path.join(work, "ssprd.sock")
        self.audit = os.path.join(work, "audit.log")
        self.conf = os.path.join(work, "sspr.conf")
        self.log = os.path.join(work, "ssprd.log")
        self.proc = None
        secret = os.path.join(work, "bind.secret")
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, ((bind_password or h.PASSWORDS["svc-sspr"]) + "\n").encode())
        os.close(fd)
        flow_keys = {"min_response_ms": "50"}
        flow_keys.update(flow or {})
        sections = {
            "helper": {"socket": self.sock, "audit_log": self.audit,
                       "state_dir": os.path.join(work, "state")},
            "directory": {"uri": uri or dc.ldaps_uri, "ca_file": dc.ca_file,
                          "bind_dn": "svc-sspr@sspr.test", "bind_password_file": secret,
                          "base_dn": dc.base_dn, "timeout": "5"},
            "email": {"smtp_url": "smtp://127.0.0.1:%d" % smtp_port, "smtp_tls": "none",
                      "from": "sspr@sspr.test", "timeout": "5"},
            "flow": flow_keys,
            # Samba lists no password-policy-hints control (HARNESS-NOTES).
            "policy": {"history_on_reset": "proceed"},
            "notify": {"template_dir": os.path.join(SOURCE, "conf", "templates")},
            # Tests send many codes to few accounts from one source; the
            # limits themselves are tested in test_throttle_flow.py.
            "throttle": {"sends_per_minute": "10", "sends_per_day": "1000", "source_failures": "1000"},
        }
        for sec, kv in (extra or {}).items():
            sections.setdefault(sec, {}).update(kv)
        with open(self.conf, "w") as f:
            for sec, kv in sections.items():
                f.write("[%s]\n" % sec)
                for k, v in kv.items():
                    f.write("%s = %s\n" % (k, v))
        os.chmod(self.conf, 0o644)

    def start(self, env=None):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen([SSPRD, "--config", self.conf], stdout=logf, stderr=logf,
                                     stdin=subprocess.DEVNULL, env=env)
        h.register_cleanup(self.stop)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("ssprd exited with %s:\n%s" % (self.proc.returncode, self.log_tail()))
            if os.path.exists(self.sock):
                return self
            time.sleep(0.05)
        raise RuntimeError("ssprd did not create its socket:\n" + self.log_tail())

    def stop(self):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        return rc

    def log_tail(self):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-30:])
        except OSError:
            return "(no log)"

    def audit_text(self):
        try:
            with open(self.audit, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


def make_pam(work, dc, ssprd, service="sspr-login"):
    """A pam_wrapper service dir: pam_sspr in front of pam_krb5 (use_first_pass)."""
    krb5_conf = os.path.join(work, "krb5.conf")
    dc.write_krb5_conf(krb5_conf)
    pam = h.PamEnv(os.path.join(work, "pam.d"))
    pam.add_service(service, [
        "auth [success=ok ignore=ignore default=die] %s socket=%s timeout=30" % (PAM_SSPR, ssprd.sock),
        "auth required %s use_first_pass" % PAM_KRB5,
        "account required %s" % PAM_PERMIT,
        "password required %s" % PAM_DENY,
        "session required %s" % PAM_PERMIT,
    ])
    return pam, pam.env({"KRB5_CONFIG": krb5_conf})


class Login:
    """pamtester authenticating `user` through `service` on a pty."""

    def __init__(self, env, user, service="sspr-login", timeout=30):
        self.transcript = []
        self.finished = False
        self.child = pexpect.spawn("pamtester", ["-v", service, user, "authenticate"], env=env,
                                   encoding="utf-8", timeout=timeout, echo=False)

    def expect(self, text):
        try:
            self.child.expect_exact(text)
        except (pexpect.TIMEOUT, pexpect.EOF):
            raise AssertionError("expected %r; the screen had:\n%s" % (text, self.screen()))
        self.transcript.append(self.child.before + text)

    def send(self, line):
        self.child.sendline(line)

    def finish(self):
        """Wait for pamtester to exit; return (exit status, remaining output)."""
        try:
            self.child.expect(pexpect.EOF, timeout=60)
        except pexpect.TIMEOUT:
            raise AssertionError("pamtester did not finish:\n" + self.screen())
        self.transcript.append(self.child.before)
        self.finished = True
        self.child.close()
        return self.child.exitstatus, self.child.before

    def screen(self):
        pending = "" if self.finished else (self.child.before or "")
        return "".join(self.transcript) + pending

    def text(self):
        return "".join(self.transcript)


def code_from(msg):
    body = msg.get_payload(decode=True).decode("utf-8", "replace")
    m = re.search(r"verification code is: (\d+)", body)
    if not m:
        raise AssertionError("no code in mail:\n" + body)
    return m.group(1)


class GatewayStub:
    """tests/integration/gateway_stub.py (Twilio-shaped) on 127.0.0.1, with
    an [sms]/[voice] config for ssprd pointing at it."""

    SID = "AC5e55e55e55e55e55e55e55e55e55e55"

    def __init__(self, work):
        self.work = work
        self.record = os.path.join(work, "gateway.jsonl")
        self.token_file = os.path.join(work, "gateway.token")
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, b"gateway-token-0123456789abcdef")
        os.close(fd)
        self.port = h.free_port()
        self.proc = None

    def start(self):
        log = open(os.path.join(self.work, "gateway.log"), "ab")
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(os.path.dirname(os.path.abspath(__file__)), "gateway_stub.py"),
             "--port", str(self.port), "--record", self.record, "--account-sid", self.SID,
             "--auth-token-file", self.token_file], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        h.register_cleanup(self.stop)
        h.wait_tcp("127.0.0.1", self.port, 10, proc=self.proc)
        return self

    def stop(self):
        if self.proc is not None:
            h.stop_process(self.proc, "gateway_stub")
            self.proc = None

    def records(self):
        import json
        try:
            with open(self.record) as f:
                return [json.loads(line) for line in f if line.strip()]
        except OSError:
            return []

    def wait_for(self, to, kind, timeout=15, after=0):
        import time
        deadline = time.monotonic() + timeout
        while True:
            recs = [r for r in self.records() if r["fields"].get("To") == [to] and r["kind"] == kind]
            if len(recs) > after:
                return recs[-1]
            if time.monotonic() > deadline:
                raise AssertionError("no %s to %s at the gateway stub: %s" % (kind, to, self.records()))
            time.sleep(0.05)

    def config(self):
        base = "http://127.0.0.1:%d/2010-04-01/Accounts/%s" % (self.port, self.SID)
        common = {"enabled": "yes", "auth": "basic", "user": self.SID, "secret_file": self.token_file,
                  "from": "+15005550006", "default_country": "44"}
        sms = dict(common, url=base + "/Messages.json", body_template="To={to}&From={from}&Body={message}")
        voice = dict(common, url=base + "/Calls.json",
                     body_template="To={to}&From={from}&Twiml=<Response><Say>{message:xml}</Say></Response>")
        return {"sms": sms, "voice": voice}


def sms_code(rec):
    m = re.search(r"code is (\d+)", rec["fields"]["Body"][0])
    assert m, rec
    return m.group(1)


def voice_code(rec):
    m = re.search(r"code is ((?:\d )+\d)\.", rec["fields"]["Twiml"][0])
    assert m, rec
    return m.group(1).replace(" ", "")


def totp(secret_b32, t=None, digits=6, period=30):
    """RFC 6238 (SHA-1) in the test, from the otpauth URI's secret."""
    import base64
    import hashlib
    import hmac
    import struct
    import time as _time
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    counter = int((_time.time() if t is None else t) // period)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % (10 ** digits)
    return str(code).zfill(digits)
