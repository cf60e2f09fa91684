#!/usr/bin/python3
"""SMS and voice through sspr::method::Gateway against a Twilio-shaped stub.

Starts gateway_stub.py on 127.0.0.1 (plain HTTP, a TLS instance with a test
CA, and a --fail instance) in a private network namespace and drives
gateway_probe (built next to this test) with the code and message on stdin:

  * an SMS reaches Messages.json with To in E.164 (normalised from a national
    number), From, a Body holding the code, and the right basic credentials;
  * a call reaches Calls.json with the code inside TwiML, XML-escaped;
  * a hostile message ("&To=+1999&Body=...") stays one Body field;
  * a wrong auth token -> send_failed, HTTP 401 and Twilio's reason in the
    detail, nothing recorded, neither token nor code in the detail;
  * a gateway answering 500 (echoing the request, > 64 KiB) -> send_failed
    with HTTP 500, and the echoed code redacted;
  * HTTPS with the right CA works; with another CA it fails before sending;
  * no secret (token, code) on any command line.

Env: SSPR_BUILD (the build tree).
"""
import json
import os
import secrets
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sspr_harness as h  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
STUB = os.path.join(HERE, "gateway_stub.py")
FROM = "+15005550006"
SMS_TEMPLATE = "To={to}&From={from}&Body={message}"
CALL_TEMPLATE = "To={to}&From={from}&Twiml=<Response><Say>{message:xml}</Say></Response>"


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok: " + what, flush=True)


def probe_path():
    build = os.environ.get("SSPR_BUILD")
    if not build:
        raise AssertionError("SSPR_BUILD is not set")
    p = os.path.join(build, "tests", "integration", "gateway_probe")
    if not os.access(p, os.X_OK):
        raise AssertionError("gateway_probe not built at %s" % p)
    return p


class Stub:
    def __init__(self, pg, work, name, sid, token_file, fail=False, tls=None):
        self.port = h.free_port()
        self.record = os.path.join(work, name + ".jsonl")
        self.log = os.path.join(work, name + ".log")
        argv = [h.SYS_PYTHON, STUB, "--port", str(self.port), "--record", self.record,
                "--account-sid", sid, "--auth-token-file", token_file]
        if fail:
            argv.append("--fail")
        if tls:
            argv += ["--tls-cert", tls[0], "--tls-key", tls[1]]
        self.pg = pg
        self.proc = pg.spawn(argv, log=self.log, name=name)
        h.wait_tcp("127.0.0.1", self.port, timeout=10, proc=self.proc, log_path=self.log)
        check(h.pid_listens_on(self.proc.pid, self.port), "%s (pid %d) listens on 127.0.0.1:%d"
              % (name, self.proc.pid, self.port))
        self.scheme = "https" if tls else "http"
        self.base = "%s://127.0.0.1:%d/2010-04-01/Accounts/%s" % (self.scheme, self.port, sid)

    def records(self):
        try:
            with open(self.record, encoding="utf-8") as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def stop(self):
        rc = self.pg.stop(self.proc)
        check(self.proc.poll() is not None, "stub pid %d stopped (status %s)" % (self.proc.pid, rc))


def run_probe(argv, code, message):
    """Returns (first stdout line, {key: value}, stderr)."""
    r = subprocess.run(argv, input=("%s\n%s\n" % (code, message)).encode("utf-8"),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    out = r.stdout.decode("utf-8", "replace").splitlines()
    err = r.stderr.decode("utf-8", "replace")
    kv = dict(line.split("=", 1) for line in out[1:] if "=" in line)
    head = out[0] if out else ""
    if (r.returncode == 0) != (head == "ok"):
        raise AssertionError("probe exit %d but said %r; stderr: %s" % (r.returncode, head, err))
    return head, kv, err


def main():
    probe = probe_path()
    work = h.new_work_dir("gateway")
    sid = "AC" + secrets.token_hex(16)
    token = secrets.token_hex(16)
    token_file = h.write_secret(os.path.join(work, "auth_token"), token)
    wrong_file = h.write_secret(os.path.join(work, "wrong_token"), secrets.token_hex(16))
    pg = h.ProcessGroup()
    stub = Stub(pg, work, "stub", sid, token_file)
    all_argv = []

    def args(st, kind, secret_file=token_file, ca=None):
        template = SMS_TEMPLATE if kind == "sms" else CALL_TEMPLATE
        resource = "Messages.json" if kind == "sms" else "Calls.json"
        a = [probe, "--url", "%s/%s" % (st.base, resource), "--auth", "basic", "--user", sid,
             "--secret-file", secret_file, "--content-type", "form", "--template", template,
             "--from", FROM, "--timeout", "10", "--ok-status", "201", "--default-cc", "44"]
        if ca:
            a += ["--ca", ca]
        a += [kind, "07700 900123"]
        all_argv.append(a)
        return a

    # -- SMS: E.164, body with the code, basic auth right
    code = "%06d" % secrets.randbelow(10 ** 6)
    message = "Your sspr reset code is %s. It expires in 5 minutes." % code
    head, kv, err = run_probe(args(stub, "sms"), code, message)
    check(head == "ok", "SMS accepted by the stub (%s %s)" % (head, err.strip()))
    check(kv.get("to") == "+447700900123", "probe normalised 07700 900123 to +447700900123")
    check(kv.get("masked") == "+44" + "\u2022" * 8 + "23", "masked number %r" % kv.get("masked"))
    recs = stub.records()
    check(len(recs) == 1, "stub recorded one request")
    rec = recs[-1]
    check(rec["kind"] == "message" and rec["path"].endswith("/Accounts/%s/Messages.json" % sid),
          "SMS went to Messages.json of the account")
    check(rec["auth_user"] == sid, "basic auth user is the AccountSid (token checked by the stub)")
    check(rec["fields"].get("To") == ["+447700900123"], "To is E.164: %r" % rec["fields"].get("To"))
    check(rec["fields"].get("From") == [FROM], "From is the configured sender")
    check(rec["fields"].get("Body") == [message] and code in rec["fields"]["Body"][0],
          "Body is the message with the code")
    check(rec["content_type"].startswith("application/x-www-form-urlencoded"), "form content type")

    # -- voice: Calls.json with the code in TwiML, XML-escaped
    spoken = "Your code is %s. <Again> %s." % (", ".join(code), ", ".join(code))
    head, kv, err = run_probe(args(stub, "call"), code, spoken)
    check(head == "ok", "call accepted by the stub (%s %s)" % (head, err.strip()))
    rec = stub.records()[-1]
    twiml = rec["fields"].get("Twiml", [""])
    check(rec["kind"] == "call" and len(twiml) == 1, "call went to Calls.json with one Twiml field")
    check(twiml[0] == "<Response><Say>Your code is %s. &lt;Again&gt; %s.</Say></Response>"
          % (", ".join(code), ", ".join(code)), "TwiML holds the spoken code, XML-escaped: %r" % twiml)
    check(rec["fields"].get("To") == ["+447700900123"], "call To is E.164")

    # -- a hostile message cannot add or override a field
    hostile = "Code %s&To=+1999&Body=pwned&From=+1666" % code
    head, kv, err = run_probe(args(stub, "sms"), code, hostile)
    check(head == "ok", "hostile-message SMS sent")
    rec = stub.records()[-1]
    check(rec["fields"].get("To") == ["+447700900123"], "hostile value added no To: %r"
          % rec["fields"].get("To"))
    check(rec["fields"].get("From") == [FROM], "hostile value added no From")
    check(rec["fields"].get("Body") == [hostile], "Body is the hostile text, verbatim, once")
    check(sorted(rec["fields"]) == ["Body", "From", "To"], "exactly To, From, Body")

    # -- wrong secret: 401 with Twilio's reason, nothing recorded, no leaks
    before = len(stub.records())
    head, kv, err = run_probe(args(stub, "sms", secret_file=wrong_file), code, message)
    check(head == "error send_failed", "wrong auth token -> send_failed (%s)" % head)
    check("HTTP 401" in err and "Authenticate" in err and "20003" in err,
          "detail names the status and Twilio's reason: %s" % err.strip())
    check(token not in err and code not in err, "detail holds neither token nor code")
    check(len(stub.records()) == before, "nothing recorded for the refused request")

    # -- no secret on any command line (ours, the stub's, anything running)
    check(not any(token in " ".join(a) or code in " ".join(a) for a in all_argv),
          "probe argv never held the token or the code")
    hits = h.processes_with_secret_in_cmdline([token, code])
    check(hits == [], "no process has the token or code in /proc/*/cmdline: %r" % hits)

    # -- gateway failing with 500 (and echoing the body, > 64 KiB)
    failing = Stub(pg, work, "stub-fail", sid, token_file, fail=True)
    head, kv, err = run_probe(args(failing, "sms"), code, message)
    check(head == "error send_failed", "--fail stub -> send_failed (%s)" % head)
    check("HTTP 500" in err and "Internal Server Error" in err,
          "detail names HTTP 500 despite a > 64 KiB reply: %s" % err.strip()[:300])
    check(code not in err and token not in err and "[redacted]" in err,
          "echoed code redacted from the detail")
    check(len(err) < 1024, "detail is short (%d bytes)" % len(err))
    check(failing.records() == [], "--fail stub recorded nothing")
    failing.stop()

    # -- HTTPS: the right CA works, another CA fails before anything is sent
    ca_pem, ca_key = h.make_ca(work)
    cert, key = h.make_server_cert(work, ca_pem, ca_key)
    other_ca, _ = h.make_ca(work, name="other-ca", cn="Not The Gateway CA")
    tls = Stub(pg, work, "stub-tls", sid, token_file, tls=(cert, key))
    head, kv, err = run_probe(args(tls, "sms", ca=ca_pem), code, message)
    check(head == "ok", "SMS over HTTPS with the test CA (%s %s)" % (head, err.strip()))
    check(len(tls.records()) == 1, "TLS stub recorded it")
    head, kv, err = run_probe(args(tls, "sms", ca=other_ca), code, message)
    check(head == "error send_failed" and ("certificate" in err.lower() or "SSL" in err),
          "wrong CA -> send_failed with a TLS reason: %s" % err.strip())
    check(len(tls.records()) == 1, "nothing sent through an unverified TLS connection")
    tls.stop()

    stub.stop()


if __name__ == "__main__":
    h.run_test(main)
