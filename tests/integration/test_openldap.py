"""sspr::openldap::Client against a real slapd with the ppolicy overlay,
through openldap_probe.

Each test gets its own throwaway slapd (slapd_harness.Slapd, ~0.3 s) inside a
private network namespace and stops it by PID. The code under test binds as
the ordinary service account cn=sspr,ou=services (never the rootdn, for which
ppolicy checks nothing); the rootdn is used only to look at the result.
Passwords reach the probe and the ldap tools only through 0600 files.

Addresses: `mail` holds both the primary and the alternate address here
(inetOrgPerson has no separate alternate-address attribute).

Run: SSPR_BUILD=<build dir> /usr/bin/python3 test_openldap.py
"""
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import sspr_harness as h
import slapd_harness as sh

BUILD = os.environ.get("SSPR_BUILD", os.path.join(os.path.dirname(__file__), "../../build"))
PROBE = os.path.join(BUILD, "tests", "integration", "openldap_probe")

P = sh.PASSWORDS
NEW1 = "Fresh-Secret-" + "one-1"
NEW2 = "Fresh-Secret-" + "two-2"
NEW3 = "Fresh-Secret-" + "three-3"
ALL_SECRETS = list(P.values()) + [NEW1, NEW2, NEW3]


class Probe:
    def __init__(self, work, slapd, uri=None, ca_file=None, timeout_ms=3000, bind_pw=None):
        self.work = work
        self.s = slapd
        self.uri = uri or slapd.ldaps_uri
        self.ca_file = ca_file or slapd.ca_file
        self.timeout_ms = timeout_ms
        self.bind_pw_file = self.secret_file("bind", bind_pw or P["svc"])

    def secret_file(self, tag, value):
        fd, path = tempfile.mkstemp(prefix=tag + ".", dir=self.work)  # 0600
        os.write(fd, (value + "\n").encode("utf-8"))
        os.close(fd)
        return path

    def run(self, *args):
        """(first stdout line, {key: value}, stderr)."""
        cmd = [PROBE, "--uri", self.uri, "--ca", self.ca_file, "--bind-dn", sh.SVC_DN,
               "--bind-pw-file", self.bind_pw_file, "--base-dn", sh.PEOPLE_DN,
               "--default-policy", sh.DEFAULT_POLICY_DN,
               "--timeout-ms", str(self.timeout_ms)] + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        lines = p.stdout.splitlines()
        status = lines[0] if lines else ""
        kv = {}
        for line in lines[1:]:
            if "=" in line:
                k, v = line.split("=", 1)
                kv[k] = v if k not in kv else kv[k] + "|" + v
        if p.returncode not in (0, 1):
            raise AssertionError("probe usage error %d: %s" % (p.returncode, p.stderr))
        for secret in ALL_SECRETS:
            assert secret not in p.stdout and secret not in p.stderr, "a password was printed"
        return status, kv, p.stderr

    def reset(self, uid, pw, *flags):
        return self.run("reset", uid, self.secret_file("new", pw), *flags)

    def change(self, uid, old, new):
        return self.run("change", uid, self.secret_file("old", old), self.secret_file("new", new))

    def verify(self, uid, pw):
        return self.run("verify", uid, self.secret_file("pw", pw))


class OpenLdapClientTest(unittest.TestCase):
    def setUp(self):
        self.work = h.new_work_dir("openldap")
        self.s = sh.Slapd(os.path.join(self.work, "slapd")).start()
        self.probe = Probe(self.work, self.s)
        self.alice = sh.user_dn("alice")

    def tearDown(self):
        self.s.stop()
        if os.environ.get("SSPR_KEEP"):
            print("kept %s" % self.work)
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    # -- helpers
    def binds(self, uid, pw):
        return self.s.can_bind(sh.user_dn(uid), pw)

    def assertOk(self, res, what=""):
        status, kv, err = res
        self.assertEqual(status, "ok", "%s: %s" % (what, err))
        return kv

    def assertErr(self, res, name, what=""):
        status, _, err = res
        self.assertEqual(status, "error " + name, "%s: %s" % (what, err))
        return err

    # -- FindUser / policy / membership
    def test_find_alice(self):
        kv = self.assertOk(self.probe.run("find", "alice", "mail"))
        self.assertEqual(kv["dn"], self.alice)
        self.assertEqual(kv["sam"], "alice")
        self.assertEqual(kv["display_name"], "Alice L.")
        self.assertEqual(kv["disabled"], "0")
        self.assertEqual(kv["lockout_time"], "0")
        self.assertEqual(kv["attr.mail"], "alice@sspr.test|alice.alt@example.org")
        # No displayName: cn is shown.
        self.assertEqual(self.assertOk(self.probe.run("find", "bob"))["display_name"], "Bob Builder")
        # Permanently locked (000001010000Z) = disabled.
        kv = self.assertOk(self.probe.run("find", "dave"))
        self.assertEqual(kv["disabled"], "1")
        self.assertNotEqual(kv["lockout_time"], "0")
        # Unknown and wildcard names match nothing (RFC 4515 escaping).
        for name in ("nobody", "*", "al*", "alice)(uid=*"):
            self.assertErr(self.probe.run("find", name), "dir_no_such_user", name)
        self.assertErr(self.probe.run("find", "alice", "bad attr"), "config")

    def test_effective_policy(self):
        kv = self.assertOk(self.probe.run("policy", "alice"))
        self.assertEqual((kv["min_length"], kv["complexity"], kv["history_length"],
                          kv["lockout_threshold"], kv["lockout_duration_s"], kv["min_age_s"],
                          kv["source"]),
                         ("8", "0", "5", "3", "600", "0", sh.DEFAULT_POLICY_DN))
        kv = self.assertOk(self.probe.run("policy", "bob"))  # pwdPolicySubentry
        self.assertEqual((kv["min_length"], kv["history_length"], kv["min_age_s"],
                          kv["max_age_s"], kv["lockout_threshold"], kv["source"]),
                         ("12", "3", "3600", "7776000", "5", sh.STRICT_POLICY_DN))

    def test_membership_nested(self):
        staff, admins = sh.group_dn("staff"), sh.group_dn("admins")
        self.assertEqual(self.assertOk(self.probe.run("member", "alice", staff))["member"], "1")
        self.assertEqual(self.assertOk(self.probe.run("member", "alice", admins))["member"], "0")
        # carol -> helpdesk -> admins; the configured DN may be spelt differently.
        self.assertEqual(self.assertOk(self.probe.run("member", "carol", admins))["member"], "1")
        self.assertEqual(self.assertOk(self.probe.run(
            "member", "carol", "CN=Admins, OU=groups,dc=sspr,dc=test"))["member"], "1")
        self.assertEqual(self.assertOk(self.probe.run("member", "bob", staff))["member"], "0")

    # -- resets
    def test_reset_new_binds_old_does_not(self):
        kv = self.assertOk(self.probe.reset("alice", NEW1))
        self.assertEqual(kv["outcome"], "written")
        self.assertNotIn("note", kv)
        self.assertTrue(self.binds("alice", NEW1))
        self.assertFalse(self.binds("alice", P["alice"]))
        self.assertNotEqual(self.assertOk(self.probe.run("find", "alice"))["pwd_last_set"], "0")
        self.assertOk(self.probe.verify("alice", NEW1))
        self.assertErr(self.probe.verify("alice", P["alice"]), "dir_wrong_password")
        # The service account can write passwords but not read the hashes.
        r = self.s._tool("ldapsearch", sh.SVC_DN, P["svc"],
                         ["-LLL", "-b", self.alice, "-s", "base", "userPassword"])
        self.assertNotIn("userPassword", r.stdout)

    def test_reset_too_short_is_refused_by_ppolicy(self):
        # The service account is not the rootdn: ppolicy checks its writes.
        err = self.assertErr(self.probe.reset("alice", "Ab1!x"), "dir_policy_too_short")
        self.assertIn("ppolicy", err)
        self.assertTrue(self.binds("alice", P["alice"]))
        self.assertFalse(self.binds("alice", "Ab1!x"))

    def test_reset_to_recent_password_is_history(self):
        self.assertOk(self.probe.reset("alice", NEW1))
        self.assertEqual(self.assertOk(self.probe.change("alice", NEW1, NEW2))["outcome"], "written")
        self.assertTrue(self.binds("alice", NEW2))
        # Back to NEW1 (in pwdHistory): refused for a reset and for a change.
        self.assertErr(self.probe.reset("alice", NEW1), "dir_policy_history")
        self.assertErr(self.probe.change("alice", NEW2, NEW1), "dir_policy_history")
        self.assertTrue(self.binds("alice", NEW2))
        self.assertFalse(self.binds("alice", NEW1))

    def test_reset_must_change_and_unlock(self):
        # must_change -> pwdReset: TRUE; honoured at bind when the policy has
        # pwdMustChange (which also makes ppolicy set pwdReset by itself).
        self.s.modify("dn: %s\nchangetype: modify\nreplace: pwdMustChange\npwdMustChange: TRUE\n"
                      % sh.DEFAULT_POLICY_DN)
        self.assertOk(self.probe.reset("alice", NEW1, "--must-change"))
        self.assertEqual(self.s.get_attr(self.alice, "pwdReset"), ["TRUE"])
        self.assertErr(self.probe.verify("alice", NEW1), "dir_must_change")
        # Without must_change, the pwdReset ppolicy added is removed again.
        kv = self.assertOk(self.probe.reset("alice", NEW2))
        self.assertNotIn("note", kv)
        self.assertEqual(self.s.get_attr(self.alice, "pwdReset"), [])
        self.assertOk(self.probe.verify("alice", NEW2))
        # A locked account: reset with unlock binds at once.
        self.lock_out("alice", NEW2)
        self.assertOk(self.probe.reset("alice", NEW3, "--unlock"))
        self.assertEqual(self.s.get_attr(self.alice, "pwdAccountLockedTime"), [])
        self.assertTrue(self.binds("alice", NEW3))

    def test_reset_min_age_applies_to_service_account(self):
        # bob's policy: pwdMinAge 3600. OpenLDAP 2.5 ppolicy enforces it on
        # every non-rootdn change, including an administrative reset.
        self.assertOk(self.probe.reset("bob", "Bob-New-Password-1"))
        self.assertErr(self.probe.reset("bob", "Bob-New-Password-2"), "dir_policy_too_young")
        self.assertErr(self.probe.change("bob", "Bob-New-Password-1", "Bob-New-Password-3"),
                       "dir_policy_too_young")
        self.assertTrue(self.binds("bob", "Bob-New-Password-1"))

    # -- changes
    def test_change_checks_old_password(self):
        self.assertErr(self.probe.change("alice", "not-the-password", NEW1), "dir_wrong_password")
        # The wrong old password counted as a failed bind (as in AD).
        self.assertEqual(len(self.s.get_attr(self.alice, "pwdFailureTime")), 1)
        self.assertTrue(self.binds("alice", P["alice"]))
        self.assertEqual(self.assertOk(self.probe.change("alice", P["alice"], NEW1))["outcome"],
                         "written")
        self.assertTrue(self.binds("alice", NEW1))
        self.assertFalse(self.binds("alice", P["alice"]))

    def test_change_of_expired_password(self):
        carol = sh.user_dn("carol")
        self.s.modify("dn: %s\nchangetype: modify\nreplace: pwdPolicySubentry\n"
                      "pwdPolicySubentry: %s\n" % (carol, sh.EXPIRING_POLICY_DN))
        self.assertOk(self.probe.reset("carol", NEW1))
        time.sleep(3.2)  # pwdMaxAge 2 s, no grace logins
        self.assertErr(self.probe.verify("carol", NEW1), "dir_expired")
        self.assertErr(self.probe.change("carol", "not-the-password", NEW2), "dir_wrong_password")
        self.assertEqual(self.assertOk(self.probe.change("carol", NEW1, NEW2))["outcome"], "written")
        self.assertTrue(self.binds("carol", NEW2))

    # -- lockout
    def lock_out(self, uid, right_pw):
        for i in range(3):
            self.assertErr(self.probe.verify(uid, "wrong-guess-%d" % i), "dir_wrong_password")
        self.assertTrue(self.s.get_attr(sh.user_dn(uid), "pwdAccountLockedTime"))
        self.assertErr(self.probe.verify(uid, right_pw), "dir_locked")

    def test_lockout_then_unlock(self):
        self.lock_out("alice", P["alice"])
        self.assertFalse(self.binds("alice", P["alice"]))
        kv = self.assertOk(self.probe.run("find", "alice"))
        self.assertNotEqual(kv["lockout_time"], "0")
        self.assertEqual(kv["disabled"], "0")
        self.assertOk(self.probe.run("unlock", "alice"))
        self.assertEqual(self.s.get_attr(self.alice, "pwdAccountLockedTime"), [])
        self.assertEqual(self.s.get_attr(self.alice, "pwdFailureTime"), [])
        # One more wrong guess must not lock again at once.
        self.assertErr(self.probe.verify("alice", "wrong-again"), "dir_wrong_password")
        self.assertTrue(self.binds("alice", P["alice"]))
        self.assertOk(self.probe.run("unlock", "alice"))  # not locked: fine
        self.assertEqual(self.assertOk(self.probe.run("find", "alice"))["lockout_time"], "0")

    def test_empty_password_never_binds(self):
        self.assertErr(self.probe.verify("alice", ""), "dir_wrong_password")
        self.assertErr(self.probe.reset("alice", ""), "dir_policy")
        self.assertErr(self.probe.change("alice", "", NEW1), "dir_wrong_password")

    # -- transport
    def test_starttls_on_ldap_uri(self):
        kv = self.assertOk(Probe(self.work, self.s, uri=self.s.ldap_uri).run("find", "alice"))
        self.assertEqual(kv["sam"], "alice")
        with open(self.s.log_path) as f:
            self.assertIn("TLS established", f.read())

    def test_wrong_ca_is_tls_error(self):
        other, _ = h.make_ca(self.work, "other", "Not The Test CA")
        for uri in (self.s.ldaps_uri, self.s.ldap_uri):
            self.assertErr(Probe(self.work, self.s, uri=uri, ca_file=other).run("ping"), "dir_tls", uri)
            self.assertErr(Probe(self.work, self.s, uri=uri, ca_file=other).verify(
                "alice", P["alice"]), "dir_tls", uri)

    def test_plain_ldap_is_impossible(self):
        # Only ldaps:// and ldap:// (+StartTLS) URLs are accepted at all.
        for uri in ("ldapi:///", "cldap://127.0.0.1/", "http://127.0.0.1/",
                    self.s.ldaps_uri + " " + self.s.ldap_uri):
            self.assertErr(Probe(self.work, self.s, uri=uri).run("ping"), "config", uri)
        # A server that refuses StartTLS gets no bind and no password.
        fake = RefusesStartTls()
        try:
            self.assertErr(Probe(self.work, self.s, uri="ldap://127.0.0.1:%d" % fake.port)
                           .run("ping"), "dir_tls")
            self.assertErr(Probe(self.work, self.s, uri="ldap://127.0.0.1:%d" % fake.port)
                           .verify("alice", P["alice"]), "dir_tls")
        finally:
            fake.stop()
        self.assertTrue(fake.ops, "the fake server saw nothing")
        # 0x77 ExtendedRequest (StartTLS), 0x42 UnbindRequest (empty).
        self.assertLessEqual(set(fake.ops), {0x77, 0x42}, "only StartTLS may be sent in clear")
        self.assertIn(0x77, fake.ops)
        self.assertNotIn(0x60, fake.ops)  # no BindRequest
        for secret in ALL_SECRETS:
            self.assertNotIn(secret.encode(), fake.raw)

    def test_wrong_service_password(self):
        err = self.assertErr(Probe(self.work, self.s, bind_pw="wrong-secret").run("ping"),
                             "dir_service_auth")
        self.assertNotIn("wrong-secret", err)

    def test_server_stopped_is_unavailable(self):
        self.s.stop()
        self.assertErr(self.probe.run("ping"), "dir_unavailable")


class RefusesStartTls:
    """A loopback LDAP 'server' that answers every request with an
    ExtendedResponse protocolError and records the operation tags it got."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.ops, self.raw, self._stop = [], b"", False
        self.t = threading.Thread(target=self._serve, daemon=True)
        self.t.start()

    @staticmethod
    def _read(conn, n):
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def _message(self, conn):
        head = self._read(conn, 2)
        if head[0] != 0x30:
            raise EOFError
        ln = head[1]
        extra = b""
        if ln & 0x80:
            extra = self._read(conn, ln & 0x7F)
            ln = int.from_bytes(extra, "big")
        body = self._read(conn, ln)
        self.raw += head + extra + body
        # body: INTEGER messageID, then the protocolOp tag.
        id_len = body[1]
        msgid = body[2:2 + id_len]
        self.ops.append(body[2 + id_len])
        return msgid

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.settimeout(5)
            with conn:
                try:
                    while True:
                        msgid = self._message(conn)
                        op = bytes([0x0A, 1, 2, 0x04, 0, 0x04, 0])  # protocolError
                        resp = bytes([0x02, len(msgid)]) + msgid + bytes([0x78, len(op)]) + op
                        conn.sendall(bytes([0x30, len(resp)]) + resp)
                except (EOFError, OSError, IndexError):
                    pass

    def stop(self):
        self._stop = True
        self.t.join(timeout=5)
        self.sock.close()


if __name__ == "__main__":
    h.enter_private_netns()
    unittest.main(verbosity=2)
