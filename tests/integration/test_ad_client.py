"""sspr::ad::Client against a real Samba AD DC, through ad_client_probe.

Runs in a private network namespace (sspr_harness.enter_private_netns()); each
test gets its own copy of the golden DC and stops it by PID. Passwords reach
the probe only through 0600 files, never argv.

Run: SSPR_BUILD=<build dir> /usr/bin/python3 -m unittest test_ad_client
"""
import os
import shutil
import subprocess
import tempfile
import unittest

import sspr_harness as h

BUILD = os.environ.get("SSPR_BUILD", os.path.join(os.path.dirname(__file__), "../../build"))
PROBE = os.path.join(BUILD, "tests", "integration", "ad_client_probe")


def golden_dir():
    # The harness owns provisioning (one golden DC per test run).
    return os.environ["SSPR_GOLDEN"]


def upn_suffix(base_dn):
    return ".".join(p.split("=", 1)[1] for p in base_dn.split(",")).lower()


class Probe:
    def __init__(self, work, dc, uri=None, ca_file=None, bind_pw=None, timeout_ms=3000):
        self.work = work
        self.dc = dc
        self.uri = uri or dc.ldaps_uri
        self.ca_file = dc.ca_file if ca_file is None else ca_file
        self.bind_pw_file = self.secret_file("bind", bind_pw or h.PASSWORDS["svc-sspr"])
        self.timeout_ms = timeout_ms

    def secret_file(self, tag, value):
        fd, path = tempfile.mkstemp(prefix=tag + ".", dir=self.work)
        os.write(fd, (value + "\n").encode("utf-8"))
        os.close(fd)
        os.chmod(path, 0o600)
        return path

    def run(self, *args):
        """Returns (first stdout line, {key: value}, stderr)."""
        cmd = [PROBE, "--uri", self.uri, "--ca", self.ca_file,
               "--bind-dn", "svc-sspr@" + upn_suffix(self.dc.base_dn),
               "--bind-pw-file", self.bind_pw_file, "--base-dn", self.dc.base_dn,
               "--timeout-ms", str(self.timeout_ms)] + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        lines = p.stdout.splitlines()
        status = lines[0] if lines else ""
        kv = dict(l.split("=", 1) for l in lines[1:] if "=" in l)
        if p.returncode not in (0, 1):
            raise AssertionError("probe usage error %d: %s" % (p.returncode, p.stderr))
        return status, kv, p.stderr

    def find(self, name):
        return self.run("find", name)

    def reset(self, name, new_password):
        return self.run("reset", name, self.secret_file("new", new_password))

    def verify(self, name, password):
        return self.run("verify", name, self.secret_file("pw", password))


class AdClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(PROBE, os.X_OK):
            raise AssertionError("probe not built: " + PROBE)  # never skip: a skip is no pass
        h.enter_private_netns()

    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="sspr-ad-")
        self.addCleanup(shutil.rmtree, self.work, ignore_errors=True)  # runs after dc.stop
        self.dc = h.Dc(golden_dir(), os.path.join(self.work, "dc"))
        self.dc.start()
        self.addCleanup(self.dc.stop)
        self.probe = Probe(self.work, self.dc)

    # ---- lookups ---------------------------------------------------------------
    def test_find_by_sam_account_name(self):
        status, kv, err = self.probe.find("alice")
        self.assertEqual(status, "ok", err)
        self.assertEqual(kv["sam"], "alice")
        self.assertIn("OU=People", kv["dn"])

    def test_find_by_upn(self):
        status, kv, err = self.probe.find("alice@" + upn_suffix(self.dc.base_dn))
        self.assertEqual(status, "ok", err)
        self.assertEqual(kv["sam"], "alice")

    def test_filter_injection_finds_nothing(self):
        for name in ["*", "a*", "alice)(x=*", "*)(|(objectClass=*", "alice)(|(sAMAccountName=*",
                     "\\2a"]:
            status, _, err = self.probe.find(name)
            self.assertEqual(status, "error dir_no_such_user", "%r: %s" % (name, err))

    def test_unknown_user(self):
        status, _, _ = self.probe.find("nobody-here")
        self.assertEqual(status, "error dir_no_such_user")

    # ---- writes ----------------------------------------------------------------
    def test_reset_changes_the_password(self):
        old = h.PASSWORDS["alice"]
        new = "N3w-Pässwörd-\U0001F600-x"
        status, kv, err = self.probe.reset("alice", new)
        self.assertEqual(status, "ok", err)
        self.assertEqual(kv["outcome"], "written")
        self.assertTrue(self.dc.can_bind("alice", new))
        # Samba keeps the previous password usable for "old password allowed
        # period" (60 min by default); the golden DC must set it to 0.
        self.assertFalse(self.dc.can_bind("alice", old))
        status, _, err = self.probe.verify("alice", new)
        self.assertEqual(status, "ok", err)

    def test_too_short_password_is_policy_and_not_written(self):
        old = h.PASSWORDS["alice"]
        status, _, err = self.probe.reset("alice", "x1")
        self.assertEqual(status, "error dir_policy", err)
        self.assertIn("0000052D", err)
        self.assertTrue(self.dc.can_bind("alice", old))

    def test_verify_wrong_and_empty_password(self):
        status, _, _ = self.probe.verify("alice", "not-the-password")
        self.assertEqual(status, "error dir_wrong_password")
        status, _, err = self.probe.verify("alice", "")
        self.assertEqual(status, "error dir_wrong_password")
        self.assertIn("before bind", err)

    # ---- transport -------------------------------------------------------------
    def test_plain_ldap_cannot_be_configured(self):
        for uri in ["ldapi:///", "cldap://127.0.0.1", "http://127.0.0.1", "127.0.0.1",
                    "ldaps://127.0.0.1 ldap://127.0.0.1", "ldaps://127.0.0.1,ldap://127.0.0.1"]:
            status, _, err = Probe(self.work, self.dc, uri=uri).run("ping")
            self.assertEqual(status, "error config", "%r: %s" % (uri, err))
        status, _, err = Probe(self.work, self.dc, ca_file="").run("ping")
        self.assertEqual(status, "error config", err)

    def test_ldap_uri_always_uses_starttls(self):
        host = self.dc.ldaps_uri.split("://", 1)[1].split(":")[0].rstrip("/")
        status, _, err = Probe(self.work, self.dc, uri="ldap://" + host).run("find", "alice")
        self.assertEqual(status, "ok", err)
        # With an untrusted certificate StartTLS fails and there is no
        # fallback to the plain connection.
        other = self.other_ca()
        status, _, err = Probe(self.work, self.dc, uri="ldap://" + host, ca_file=other).run("ping")
        self.assertEqual(status, "error dir_tls", err)

    def test_wrong_ca_is_tls_error(self):
        status, _, err = Probe(self.work, self.dc, ca_file=self.other_ca()).run("ping")
        self.assertEqual(status, "error dir_tls", err)

    def test_wrong_service_password_is_service_auth(self):
        status, _, err = Probe(self.work, self.dc, bind_pw="wrong-secret").run("ping")
        self.assertEqual(status, "error dir_service_auth", err)
        self.assertNotIn("wrong-secret", err)

    def test_dc_stopped_is_unavailable(self):
        self.dc.stop()
        status, _, err = self.probe.run("ping")
        self.assertEqual(status, "error dir_unavailable", err)
        status, _, err = self.probe.find("alice")
        self.assertEqual(status, "error dir_unavailable", err)

    def other_ca(self):
        key = os.path.join(self.work, "other.key")
        pem = os.path.join(self.work, "other-ca.pem")
        if not os.path.exists(pem):
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                            key, "-out", pem, "-days", "1", "-subj", "/CN=not-the-test-ca"],
                           check=True, capture_output=True)
        return pem


if __name__ == "__main__":
    h.enter_private_netns()
    unittest.main()
