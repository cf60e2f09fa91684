#!/usr/bin/python3
"""A loopback stand-in for an SMS/voice gateway with the shape of Twilio's REST API.

    gateway_stub.py --port N --record FILE --account-sid SID --auth-token-file FILE
                    [--host 127.0.0.1] [--fail] [--tls-cert PEM --tls-key KEY]

  POST /2010-04-01/Accounts/{AccountSid}/Messages.json   form: To, From, Body
  POST /2010-04-01/Accounts/{AccountSid}/Calls.json      form: To, From, Twiml (or Url)

HTTP basic auth AccountSid:AuthToken. Answers like Twilio: 201 with a JSON
resource ("sid", "status": "queued", ...); 401 {"code": 20003, ...} for wrong
credentials; 400 {"code": 21604, ...} for a missing To, and so on; 404 for
other paths. Every accepted request is appended to the --record file as one
JSON line: {"kind", "path", "auth_user", "content_type", "fields": {name:
[values]}, "raw_body"}. Rejected requests are not recorded.

--fail answers every authenticated POST with 500 and a JSON body that echoes
the request body (as a careless gateway might) padded past 64 KiB, so a
client's error text can be checked for leaks and its reply cap exercised.

The auth token is read from a file, never argv. Stop it by PID (SIGTERM).
"""
import argparse
import base64
import datetime
import hmac
import http.server
import json
import re
import secrets
import signal
import ssl
import sys
import urllib.parse

PATH_RE = re.compile(r"^/2010-04-01/Accounts/([A-Za-z0-9]+)/(Messages|Calls)\.json$")


def twilio_error(code, message, status):
    return {"code": code, "message": message,
            "more_info": "https://www.twilio.com/docs/errors/%d" % code, "status": status}


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "gateway-stub/1.0"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # request line only: never bodies
        sys.stderr.write("stub: %s %s\n" % (self.address_string(), fmt % args))

    def _send_json(self, status, obj, extra_headers=()):
        data = json.dumps(obj).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra_headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _auth_user(self):
        """The AccountSid if the basic credentials are right, else None."""
        hdr = self.headers.get("Authorization", "")
        if not hdr.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(hdr[6:], validate=True).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        cfg = self.server.cfg
        ok_user = hmac.compare_digest(user.encode(), cfg["sid"].encode())
        ok_pw = hmac.compare_digest(password.encode(), cfg["token"].encode())
        return user if ok_user and ok_pw else None

    def do_GET(self):
        self._send_json(405, twilio_error(20004, "Method not allowed", 405))

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0") or 0)
        if length < 0 or length > 1 << 20:
            self._send_json(413, twilio_error(20001, "Request too large", 413))
            return
        raw = self.rfile.read(length)
        m = PATH_RE.match(urllib.parse.urlsplit(self.path).path)
        if not m:
            self._send_json(404, twilio_error(
                20404, "The requested resource %s was not found" % self.path, 404))
            return
        path_sid, kind = m.group(1), m.group(2)
        user = self._auth_user()
        if user is None or user != path_sid:
            self._send_json(401, dict(twilio_error(20003, "Authenticate", 401),
                                      detail="Your AccountSid or AuthToken was incorrect."),
                            [("WWW-Authenticate", 'Basic realm="Twilio API"')])
            return
        cfg = self.server.cfg
        if cfg["fail"]:
            echo = raw.decode("utf-8", "replace")
            # The echo first, so it lands in the start of the reply a client may quote.
            body = {"echo": echo}
            body.update(twilio_error(20500, "Internal Server Error", 500))
            body["padding"] = "x" * (80 * 1024)
            self._send_json(500, body)
            return
        ctype = self.headers.get("Content-Type", "")
        if not ctype.startswith("application/x-www-form-urlencoded"):
            self._send_json(415, twilio_error(20415, "Unsupported media type", 415))
            return
        try:
            fields = urllib.parse.parse_qs(raw.decode("utf-8"), keep_blank_values=True,
                                           strict_parsing=True)
        except (ValueError, UnicodeDecodeError):
            self._send_json(400, twilio_error(20001, "Malformed form body", 400))
            return

        def one(name):
            v = fields.get(name)
            return v[0] if v else ""

        if not one("To"):
            self._send_json(400, twilio_error(21604, "A 'To' phone number is required.", 400))
            return
        if not one("From"):
            self._send_json(400, twilio_error(21603, "A 'From' phone number is required.", 400))
            return
        if kind == "Messages" and not one("Body"):
            self._send_json(400, twilio_error(21602, "Message body is required.", 400))
            return
        if kind == "Calls" and not (one("Twiml") or one("Url")):
            self._send_json(400, twilio_error(21205, "Url parameter is required.", 400))
            return

        record = {"kind": "message" if kind == "Messages" else "call", "path": self.path,
                  "auth_user": user, "content_type": ctype, "fields": fields,
                  "raw_body": raw.decode("utf-8")}
        with open(cfg["record"], "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()

        now = datetime.datetime.now(datetime.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S +0000")
        sid = ("SM" if kind == "Messages" else "CA") + secrets.token_hex(16)
        res = {"sid": sid, "account_sid": user, "to": one("To"), "from": one("From"),
               "status": "queued", "date_created": now, "date_updated": now,
               "api_version": "2010-04-01",
               "uri": "/2010-04-01/Accounts/%s/%s/%s.json" % (user, kind, sid)}
        if kind == "Messages":
            res.update(body=one("Body"), num_segments="1", direction="outbound-api")
        else:
            res.update(direction="outbound-api")
        self._send_json(201, res)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--record", required=True)
    ap.add_argument("--account-sid", required=True)
    ap.add_argument("--auth-token-file", required=True)
    ap.add_argument("--fail", action="store_true")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    a = ap.parse_args()
    with open(a.auth_token_file, encoding="utf-8") as f:
        token = f.read().rstrip("\n")
    srv = http.server.HTTPServer((a.host, a.port), Handler)
    srv.cfg = {"sid": a.account_sid, "token": token, "record": a.record, "fail": a.fail}
    if a.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("gateway stub listening on %s:%d%s%s" % (a.host, srv.server_address[1],
          " (tls)" if a.tls_cert else "", " (--fail)" if a.fail else ""), flush=True)
    try:
        srv.serve_forever()
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
