#!/usr/bin/python3
"""AdEnrolmentStore against a real Samba AD DC, through enrolment_probe.

1. Extends the DC's schema with conf/schema/sspr-enrolment.ldif, online, as
   Administrator over LDAPS (Samba needs `dsdb:schema update allowed = true`
   in smb.conf, set on the private copy before start).
2. Before the grant, svc-sspr cannot read the confidential attribute (it
   reads as absent) nor write it.
3. Grants svc-sspr RP/WP/CR on ssprEnrolment on OU=People with the
   `samba-tool dsacl set` line documented in the LDIF.
4. Runs the store contract of tests/unit/test_enrolment.cc (absent, round
   trip, overwrite, remove) and the sealing checks (opens for the same
   account and key only; a copied record does not open for another account;
   another key does not open it).
5. Proves confidentiality: alice (an ordinary user) cannot read bob's
   ssprEnrolment, nor find bob by filtering on it, nor write it; svc-sspr
   can read it; users outside OU=People are out of reach of svc-sspr.

Env: SSPR_GOLDEN, SSPR_BUILD, SSPR_SOURCE (set by CTest).
"""
import base64
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sspr_harness as h  # noqa: E402
from sspr_harness import PASSWORDS  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("SSPR_BUILD", os.path.join(HERE, "../../build"))
SOURCE = os.environ.get("SSPR_SOURCE", os.path.join(HERE, "../.."))
PROBE = os.path.join(BUILD, "tests", "integration", "enrolment_probe")
LDIF = os.path.join(SOURCE, "conf", "schema", "sspr-enrolment.ldif")
ATTR_GUID = "3498f10a-6ebe-4c74-a90b-bd3c3c4604ff"   # schemaIDGUID in the LDIF
USER_CLASS_GUID = h.GUID_USER_CLASS


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok: " + what, flush=True)


def secret_file(work, name, text):
    return h.write_secret(os.path.join(work, name), text)


class Probe:
    def __init__(self, dc, work):
        self.dc = dc
        self.base = [PROBE, "--uri", dc.ldaps_uri, "--ca", dc.ca_file,
                     "--bind-dn", "svc-sspr@" + h.DNS_DOMAIN,
                     "--bind-pw-file", secret_file(work, "svc.pw", PASSWORDS["svc-sspr"]),
                     "--base-dn", dc.base_dn]
        self.work = work

    def run(self, *args, key="helper.key"):
        argv = self.base + ["--key-file", os.path.join(self.work, key)] + list(args)
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if p.returncode not in (0, 1):
            raise AssertionError("probe usage error %d: %s" % (p.returncode, p.stderr))
        lines = p.stdout.splitlines()
        kv = dict(l.split("=", 1) for l in lines[1:] if "=" in l)
        return (lines[0] if lines else ""), kv, p.stderr.strip()


def attr_as(dc, sam, user):
    """ssprEnrolment of `sam` as seen by `user` (list of values)."""
    res = dc.ldapsearch(base=h.user_dn(sam), scope="base", attrs=["ssprEnrolment", "mail"],
                        user=user, password=None if user == "Administrator" else PASSWORDS[user])
    check(len(res) == 1 and any(k.lower() == "mail" for k in res[0][1]),
          "%s can read %s's entry (mail) at all" % (user, sam))
    return [v for k, vals in res[0][1].items() if k.lower() == "ssprenrolment" for v in vals]


def write_as(dc, sam, user, value):
    ldif = "dn: %s\nchangetype: modify\nreplace: ssprEnrolment\nssprEnrolment:: %s\n-\n" % (
        h.user_dn(sam), base64.b64encode(value).decode())
    return dc.ldapmodify(ldif, user=user, password=PASSWORDS[user])


def main():
    if not os.access(PROBE, os.X_OK):
        raise AssertionError("probe not built: " + PROBE)  # a skip is no pass
    work = h.new_work_dir("enrolment-ad")
    dc = h.Dc(os.environ["SSPR_GOLDEN"], work)
    # Samba refuses schema changes unless this is set (HARNESS-NOTES.md).
    with open(dc.smb_conf) as f:
        conf = f.read()
    conf, n = re.subn(r"^\[global\]\n", "[global]\n\tdsdb:schema update allowed = true\n", conf,
                      count=1, flags=re.M)
    check(n == 1, "smb.conf: schema updates allowed on the private DC copy")
    with open(dc.smb_conf, "w") as f:
        f.write(conf)
    dc.start()

    # 1. schema, online as Administrator
    with open(LDIF) as f:
        ldif = f.read().replace("@FOREST_DN@", dc.base_dn)
    t = time.monotonic()
    r = dc.ldapmodify(ldif)
    check(r.ok, "schema LDIF applied online with ldapmodify in %.2f s (%r)"
          % (time.monotonic() - t, r))
    sch = dc.ldapsearch(base="CN=Schema,CN=Configuration," + dc.base_dn,
                        filt="(lDAPDisplayName=ssprEnrolment)",
                        attrs=["searchFlags", "isSingleValued", "attributeSyntax", "schemaIDGUID"],
                        scope="one")
    check(len(sch) == 1, "ssprEnrolment is in the schema")
    a = {k.lower(): v for k, v in sch[0][1].items()}
    check(a["searchflags"] == ["128"], "searchFlags 128 (confidential): %r" % a["searchflags"])
    check(a["issinglevalued"] == ["TRUE"] and a["attributesyntax"] == ["2.5.5.10"],
          "single-valued octet string")
    again = dc.ldapmodify(ldif)
    check(not again.ok, "re-applying the LDIF is refused (entries exist), not duplicated")

    probe = Probe(dc, work)
    seed = secret_file(work, "seed", "JBSWY3DPEHPK3PXP-seed-bytes")

    # 2. before the grant: svc-sspr cannot write, and reads nothing
    status, kv, err = probe.run("save", "bob", seed)
    check(status == "error dir_access_denied", "svc-sspr cannot write before the grant (%s; %s)"
          % (status, err))
    check(write_as(dc, "bob", "svc-sspr", b"x").rc == 50,
          "svc-sspr ldapmodify of ssprEnrolment refused before the grant")
    dc.set_attr("bob", "ssprEnrolment", "planted-by-admin")
    check(attr_as(dc, "bob", "svc-sspr") == [],
          "svc-sspr cannot read the confidential attribute without CR (reads as absent)")
    dc.delete_attr("bob", "ssprEnrolment")

    # 3. the grant, exactly as documented in the LDIF
    out = dc.samba_tool("user", "show", "svc-sspr", "--attributes=objectSid")
    m = re.search(r"^objectSid: (S-1-5-[0-9-]+)$", out, flags=re.M)
    check(m is not None, "svc-sspr SID found")
    dc.samba_tool("dsacl", "set", "--objectdn=" + dc.people_dn,
                  "--sddl=(OA;CIIO;RPWPCR;%s;%s;%s)" % (ATTR_GUID, USER_CLASS_GUID, m.group(1)))
    print("ok: dsacl set RPWPCR on ssprEnrolment for svc-sspr on OU=People", flush=True)

    # 4. the shared store contract
    status, kv, err = probe.run("contract", "alice", "bob")
    check(status == "ok", "store contract on AD (absent, round trip, overwrite, remove): %s %s %s"
          % (status, kv, err))
    status, kv, err = probe.run("load", "nobody-such")
    check(status == "error dir_no_such_user", "unknown account is an error, not 'not enrolled'")

    # sealing through the directory
    status, kv, err = probe.run("save", "bob", seed)
    check(status == "ok", "bob's record with a sealed seed saved (%s)" % err)
    raw = attr_as(dc, "bob", "Administrator")
    check(len(raw) == 1, "one value stored")
    stored = raw[0].encode("latin-1") if isinstance(raw[0], str) else raw[0]
    check(b"JBSWY3DPEHPK3PXP" not in stored, "the seed is not in the directory in clear")
    status, kv, err = probe.run("open", "bob", seed)
    check(status == "ok" and kv.get("same") == "1", "sealed seed opens for bob with the helper key")
    status, kv, err = probe.run("open", "bob", seed, key="other.key")
    check(status == "error io", "a different helper key does not open it (%s)" % status)
    status, kv, err = probe.run("copy", "bob", "dave")
    check(status == "ok", "bob's record copied verbatim to dave")
    status, kv, err = probe.run("open-as", "dave", "dave")
    check(status == "error io", "the copied seed does not open for dave (%s)" % status)
    status, kv, err = probe.run("open-as", "dave", "bob")
    check(status == "ok", "...it still opens only for bob")
    dc.set_attr("dave", "ssprEnrolment", b"SSPE\x01garbage")
    status, kv, err = probe.run("load", "dave")
    check(status == "error io" and "corrupt" in err, "a corrupt stored record is an error (%s)" % err)

    # 5. confidentiality
    check(len(attr_as(dc, "bob", "svc-sspr")) == 1, "svc-sspr reads bob's ssprEnrolment")
    check(attr_as(dc, "bob", "alice") == [], "alice cannot read bob's ssprEnrolment")
    res = dc.ldapsearch(base=dc.people_dn, filt="(ssprEnrolment=*)", attrs=["1.1"],
                        user="alice", password=PASSWORDS["alice"])
    check(res == [], "alice cannot even find who has one by filtering on it")
    res = dc.ldapsearch(base=dc.people_dn, filt="(ssprEnrolment=*)", attrs=["1.1"],
                        user="svc-sspr", password=PASSWORDS["svc-sspr"])
    check(len(res) == 2, "svc-sspr finds bob and dave by filter (%d)" % len(res))
    check(write_as(dc, "bob", "alice", b"x").rc == 50, "alice cannot write bob's ssprEnrolment")
    check(write_as(dc, "outsider", "svc-sspr", b"x").rc == 50,
          "svc-sspr cannot write it outside OU=People")
    status, kv, err = probe.run("remove", "bob")
    check(status == "ok" and attr_as(dc, "bob", "Administrator") == [], "remove clears it")
    dc.stop()


if __name__ == "__main__":
    h.run_test(main)
