"""A throwaway OpenLDAP `slapd` with the ppolicy overlay, for sspr's OpenLDAP
backend tests (tests/integration/test_openldap.py).

What it builds, all under one work dir (never /etc/ldap/slapd.d):
  * a test CA and a server certificate for IP:127.0.0.1 (sspr_harness.make_ca /
    make_server_cert);
  * a private cn=config directory made with `slapadd -n0 -F DIR/slapd.d` from
    an LDIF generated here: modules back_mdb + ppolicy (its schema is built
    into the overlay in 2.5), schemas core/cosine/inetorgperson, one mdb
    database `dc=sspr,dc=test` with the ppolicy overlay
    (olcPPolicyDefault = cn=default,ou=policies,..., olcPPolicyHashCleartext,
    olcPPolicyUseLockout) and the ACLs below;
  * the data, loaded offline with `slapadd -n1`: the default policy (length 8,
    history 5, quality 2, 3 failures lock for 600 s, min age 0), a "strict"
    policy (length 12, min age 3600 s) assigned to bob with pwdPolicySubentry,
    an "expiring" policy (max age 2 s, no grace logins) for tests to assign,
    people alice/bob/carol, groups (nested), and the service account
    cn=sspr,ou=services,dc=sspr,dc=test.
  Addresses: `mail` is the primary address; the alternate address (what the
  AD tests keep in otherMailbox) is a second `mail` value here, since
  inetOrgPerson has no separate alternate-address attribute.

ACLs (least privilege, SECURITY.md rule 13): the service account may write
userPassword and check it (=wx: it cannot read the hashes; "x" lets slapd verify
the old password in a password modify it sends for a user whose password has
expired), pwdAccountLockedTime and
pwdReset of entries under ou=people, and read everything else; users may
change their own password (=wx) and read the directory; anonymous may only
authenticate. The rootdn is used by the tests for checks only -- never by the
code under test (ppolicy skips its checks for the rootdn).

Rules kept (shared/HARNESS-NOTES.md): 127.0.0.1 and free high ports only (run
inside sspr_harness.enter_private_netns()); slapd is a direct child started
with -d 0 (no fork), found by PID, stopped by PID and reaped; a slapd that does
not come up raises with the tail of its log; passwords never appear on a
command line (hashed {SSHA} values in 0600 LDIF files, `-y FILE` for the
ldap tools).

API:
  Slapd(work_dir=None)   .start() .stop() .__enter__/__exit__
     .ldaps_uri .ldap_uri (StartTLS) .ca_file .base_dn .people_dn .svc_dn
     .svc_password .admin_dn .pid .log_tail()
     .can_bind(dn, password, ca_file=None) -> bool
     .whoami(dn, password, ca_file=None) -> CompletedProcess
     .search(base, filt, attrs, scope) -> {dn: {attr_lower: [values]}}
     .get_attr(dn, attr) -> [values]          (as rootdn, operational attrs ok)
     .modify(ldif)                            (as rootdn)
  USERS, PASSWORDS, user_dn(uid)
"""
import base64
import hashlib
import os
import re
import secrets
import shutil
import subprocess
import time

import sspr_harness as h

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
MODULE_PATH = "/usr/lib/ldap"
SCHEMA_DIR = "/etc/ldap/schema"

BASE_DN = "dc=sspr,dc=test"
PEOPLE_DN = "ou=people," + BASE_DN
GROUPS_DN = "ou=groups," + BASE_DN
POLICIES_DN = "ou=policies," + BASE_DN
SERVICES_DN = "ou=services," + BASE_DN
ADMIN_DN = "cn=admin," + BASE_DN
SVC_DN = "cn=sspr," + SERVICES_DN
DEFAULT_POLICY_DN = "cn=default," + POLICIES_DN
STRICT_POLICY_DN = "cn=strict," + POLICIES_DN
EXPIRING_POLICY_DN = "cn=expiring," + POLICIES_DN
# Permanently locked (ppolicy): what the backend reports as "disabled".
PERMANENT_LOCK = "000001010000Z"

# Test-only credentials. They reach slapd as {SSHA} hashes in 0600 files and
# the tools through -y FILE; never argv.
PASSWORDS = {
    "admin": "Root-Only-" + "Xq71",
    "svc": "Svc-Sspr-" + "Pw93k",
    "alice": "Alice-Start-" + "7kq2",
    "bob": "Bob-Start-Pw-" + "4412",
    "carol": "Carol-Start-" + "9x1z",
    "dave": "Dave-Start-" + "55aa",
}

USERS = {
    "alice": dict(cn="Alice Liddell", sn="Liddell", display="Alice L.",
                  mail=["alice@sspr.test", "alice.alt@example.org"]),
    "bob": dict(cn="Bob Builder", sn="Builder", display=None,
                mail=["bob@sspr.test"], policy=STRICT_POLICY_DN),
    "carol": dict(cn="Carol Danvers", sn="Danvers", display="Carol D.",
                  mail=["carol@sspr.test", "carol.alt@example.org"]),
    # Permanently locked by an admin: the backend reports it as disabled.
    "dave": dict(cn="Dave Disabled", sn="Disabled", display=None,
                 mail=["dave@sspr.test"], locked=PERMANENT_LOCK),
}

# groupOfNames; admins contains helpdesk contains carol (nested), alice is a
# direct member of staff.
GROUPS = {
    "staff": ["uid=alice," + PEOPLE_DN],
    "helpdesk": ["uid=carol," + PEOPLE_DN],
    "admins": ["cn=helpdesk," + GROUPS_DN],
}


def user_dn(uid):
    if uid not in USERS:
        raise KeyError(uid)
    return "uid=%s,%s" % (uid, PEOPLE_DN)


def group_dn(cn):
    return "cn=%s,%s" % (cn, GROUPS_DN)


def ssha(password):
    """RFC 2307-style {SSHA} of a password (what slapd's default hash makes)."""
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode("utf-8") + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode("ascii")


def _write_private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)
    return path


def parse_ldif(text):
    """{dn: {attr_lower: [values]}} from ldapsearch -LLL output (base64 aware)."""
    out = {}
    text = re.sub(r"\n ", "", text)  # unfold
    for block in text.strip().split("\n\n"):
        dn, attrs = None, {}
        for line in block.splitlines():
            if not line or line.startswith("#"):
                continue
            m = re.match(r"^([^:]+)(::?) ?(.*)$", line)
            if not m:
                continue
            name, sep, val = m.groups()
            if sep == "::":
                val = base64.b64decode(val).decode("utf-8", "replace")
            if name.lower() == "dn":
                dn = val
            else:
                attrs.setdefault(name.lower(), []).append(val)
        if dn is not None:
            out[dn] = attrs
    return out


class Slapd:
    """One throwaway slapd. Use as a context manager or call start()/stop()."""

    def __init__(self, work_dir=None):
        self.dir = work_dir or h.new_work_dir("slapd")
        os.makedirs(self.dir, exist_ok=True)
        self.conf_dir = os.path.join(self.dir, "slapd.d")
        self.db_dir = os.path.join(self.dir, "db")
        self.log_path = os.path.join(self.dir, "slapd.log")
        self.ldaps_port = h.free_port()
        self.ldap_port = h.free_port()
        while self.ldap_port == self.ldaps_port:
            self.ldap_port = h.free_port()
        self.ldaps_uri = "ldaps://127.0.0.1:%d" % self.ldaps_port
        self.ldap_uri = "ldap://127.0.0.1:%d" % self.ldap_port
        self.base_dn = BASE_DN
        self.people_dn = PEOPLE_DN
        self.svc_dn = SVC_DN
        self.admin_dn = ADMIN_DN
        self.svc_password = PASSWORDS["svc"]
        self.proc = None
        self._pg = h.ProcessGroup()
        self._pw_files = {}
        self._provision()

    # ------------------------------------------------------------ setup --
    def _provision(self):
        with h.timed("slapd provision"):
            self.ca_file, self.ca_key = h.make_ca(self.dir, "ca", "SSPR OpenLDAP Test CA")
            self.cert_file, self.key_file = h.make_server_cert(
                self.dir, self.ca_file, self.ca_key, "server", "127.0.0.1",
                san="IP:127.0.0.1,DNS:localhost")
            for d in (self.conf_dir, self.db_dir):
                os.makedirs(d, mode=0o700, exist_ok=True)
            conf = _write_private(os.path.join(self.dir, "config.ldif"), self._config_ldif())
            data = _write_private(os.path.join(self.dir, "data.ldif"), self._data_ldif())
            self._slapadd(["-n0", "-F", self.conf_dir, "-l", conf])
            self._slapadd(["-n1", "-F", self.conf_dir, "-l", data])
            # The LDIFs held (hashed) passwords; nothing needs them now.
            os.unlink(conf)
            os.unlink(data)

    def _slapadd(self, args):
        r = subprocess.run([SLAPADD, "-q"] + args, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("slapadd %s failed (%d):\n%s" % (
                " ".join(args), r.returncode, r.stdout.decode("utf-8", "replace")[-4000:]))

    def _config_ldif(self):
        svc = SVC_DN
        return """dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {dir}/slapd.pid
olcArgsFile: {dir}/slapd.args
olcTLSCACertificateFile: {ca}
olcTLSCertificateFile: {cert}
olcTLSCertificateKeyFile: {key}
olcTLSProtocolMin: 3.3
olcLogLevel: stats

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: {modpath}
olcModuleLoad: {{0}}back_mdb
olcModuleLoad: {{1}}ppolicy

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file://{schema}/core.ldif

include: file://{schema}/cosine.ldif

include: file://{schema}/inetorgperson.ldif

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend
olcSizeLimit: 500
olcAccess: {{0}}to dn.base="" by * read
olcAccess: {{1}}to dn.base="cn=subschema" by * read

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcDbDirectory: {db}
olcSuffix: {base}
olcRootDN: {admin}
olcRootPW: {rootpw}
olcDbMaxSize: 67108864
olcDbIndex: objectClass eq
olcDbIndex: uid eq
olcDbIndex: member eq
olcAccess: {{0}}to dn.subtree="{people}" attrs=userPassword by dn.exact="{svc}" =wx by self =wx by anonymous auth by * none
olcAccess: {{1}}to attrs=userPassword by self =wx by anonymous auth by * none
olcAccess: {{2}}to dn.subtree="{people}" attrs=pwdAccountLockedTime,pwdReset by dn.exact="{svc}" write by users read by * none
olcAccess: {{3}}to * by dn.exact="{svc}" read by users read by * none

dn: olcOverlay={{0}}ppolicy,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {{0}}ppolicy
olcPPolicyDefault: {default_policy}
olcPPolicyHashCleartext: TRUE
olcPPolicyUseLockout: TRUE
""".format(dir=self.dir, ca=self.ca_file, cert=self.cert_file, key=self.key_file,
           modpath=MODULE_PATH, schema=SCHEMA_DIR, db=self.db_dir, base=BASE_DN,
           admin=ADMIN_DN, rootpw=ssha(PASSWORDS["admin"]), people=PEOPLE_DN, svc=svc,
           default_policy=DEFAULT_POLICY_DN)

    def _data_ldif(self):
        parts = ["""dn: {base}
objectClass: dcObject
objectClass: organization
dc: sspr
o: SSPR test

dn: {people}
objectClass: organizationalUnit
ou: people

dn: {groups}
objectClass: organizationalUnit
ou: groups

dn: {policies}
objectClass: organizationalUnit
ou: policies

dn: {services}
objectClass: organizationalUnit
ou: services

dn: {default}
objectClass: organizationalRole
objectClass: pwdPolicy
cn: default
pwdAttribute: userPassword
pwdMinLength: 8
pwdInHistory: 5
pwdCheckQuality: 2
pwdMaxFailure: 3
pwdLockout: TRUE
pwdLockoutDuration: 600
pwdFailureCountInterval: 0
pwdMinAge: 0
pwdMaxAge: 0
pwdAllowUserChange: TRUE
pwdMustChange: FALSE
pwdSafeModify: FALSE

dn: {strict}
objectClass: organizationalRole
objectClass: pwdPolicy
cn: strict
pwdAttribute: userPassword
pwdMinLength: 12
pwdInHistory: 3
pwdCheckQuality: 2
pwdMaxFailure: 5
pwdLockout: TRUE
pwdLockoutDuration: 0
pwdMinAge: 3600
pwdMaxAge: 7776000
pwdAllowUserChange: TRUE

dn: {expiring}
objectClass: organizationalRole
objectClass: pwdPolicy
cn: expiring
pwdAttribute: userPassword
pwdMinLength: 8
pwdMaxAge: 2
pwdGraceAuthNLimit: 0
pwdAllowUserChange: TRUE

dn: {svc}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: sspr
userPassword: {svcpw}
""".format(base=BASE_DN, people=PEOPLE_DN, groups=GROUPS_DN, policies=POLICIES_DN,
           services=SERVICES_DN, default=DEFAULT_POLICY_DN, strict=STRICT_POLICY_DN,
           expiring=EXPIRING_POLICY_DN,
           svc=SVC_DN, svcpw=ssha(PASSWORDS["svc"]))]
        for uid, u in USERS.items():
            lines = ["dn: " + user_dn(uid), "objectClass: inetOrgPerson", "uid: " + uid,
                     "cn: " + u["cn"], "sn: " + u["sn"]]
            if u.get("display"):
                lines.append("displayName: " + u["display"])
            lines += ["mail: " + m for m in u["mail"]]
            lines.append("userPassword: " + ssha(PASSWORDS[uid]))
            if u.get("policy"):
                lines.append("pwdPolicySubentry: " + u["policy"])
            if u.get("locked"):
                lines.append("pwdAccountLockedTime: " + u["locked"])
            parts.append("\n".join(lines) + "\n")
        for cn, members in GROUPS.items():
            lines = ["dn: " + group_dn(cn), "objectClass: groupOfNames", "cn: " + cn]
            lines += ["member: " + m for m in members]
            parts.append("\n".join(lines) + "\n")
        return "\n".join(parts)

    # ---------------------------------------------------------- process --
    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self, timeout=15.0):
        if self.proc is not None:
            raise RuntimeError("slapd already started")
        urls = "%s/ %s/" % (self.ldaps_uri, self.ldap_uri)
        # -d stats: stay in the foreground (a direct child we can stop by
        # PID) and log connections/operations to stderr -> slapd.log.
        argv = [SLAPD, "-d", "stats", "-s", "0", "-F", self.conf_dir, "-h", urls]
        with h.timed("slapd start"):
            self.proc = self._pg.spawn(argv, log=self.log_path, name="slapd")
            deadline = time.monotonic() + timeout
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError("slapd exited (status %s) before it listened\n%s"
                                       % (self.proc.returncode, self.log_tail()))
                if (h.pid_listens_on(self.proc.pid, self.ldaps_port)
                        and h.pid_listens_on(self.proc.pid, self.ldap_port)):
                    break
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError("slapd not listening after %.1fs\n%s"
                                       % (timeout, self.log_tail()))
                time.sleep(0.02)
            # Ready means: a TLS handshake with our CA and a search work.
            while True:
                r = self._tool("ldapsearch", ADMIN_DN, PASSWORDS["admin"],
                               ["-b", "", "-s", "base", "1.1"])
                if r.returncode == 0:
                    break
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    err = r.stderr
                    self.stop()
                    raise RuntimeError("slapd ldaps not ready: %s\n%s" % (err, self.log_tail()))
                time.sleep(0.05)
        return self

    def stop(self):
        if self.proc is not None:
            self._pg.stop(self.proc)
            self.proc = None

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def log_tail(self, lines=40):
        return h.log_tail(self.log_path, lines)

    # ------------------------------------------------------------ tools --
    def _pw_file(self, password):
        path = self._pw_files.get(password)
        if path is None:
            path = os.path.join(self.dir, "pw.%d" % len(self._pw_files))
            _write_private(path, password)  # -y reads the whole file: no newline
            self._pw_files[password] = path
        return path

    def tool_env(self, ca_file=None):
        env = dict(os.environ)
        env.update({"LDAPTLS_CACERT": ca_file or self.ca_file, "LDAPTLS_REQCERT": "demand",
                    # ignore /etc/ldap/ldap.conf and ~/.ldaprc
                    "LDAPCONF": "/dev/null", "LDAPRC": "/dev/null"})
        env.pop("LDAPTLS_CACERTDIR", None)
        env.pop("LDAPNOINIT", None)
        return env

    def _tool(self, tool, dn, password, args, stdin=None, ca_file=None, uri=None):
        argv = [tool, "-H", uri or self.ldaps_uri, "-x", "-o", "nettimeout=5"]
        if dn is not None:
            argv += ["-D", dn, "-y", self._pw_file(password)]
        return subprocess.run(argv + list(args), input=stdin, capture_output=True, text=True,
                              env=self.tool_env(ca_file), timeout=30)

    def whoami(self, dn, password, ca_file=None):
        return self._tool("ldapwhoami", dn, password, [], ca_file=ca_file)

    def can_bind(self, dn, password, ca_file=None):
        r = self.whoami(dn, password, ca_file)
        if r.returncode == 0:
            return True
        if r.returncode == 49:
            return False
        raise RuntimeError("ldapwhoami as %s: rc %d: %s" % (dn, r.returncode, r.stderr))

    def search(self, base=BASE_DN, filt="(objectClass=*)", attrs=(), scope="sub"):
        r = self._tool("ldapsearch", ADMIN_DN, PASSWORDS["admin"],
                       ["-LLL", "-o", "ldif-wrap=no", "-b", base, "-s", scope, filt] + list(attrs))
        if r.returncode not in (0, 32):
            raise RuntimeError("ldapsearch %s %s: rc %d: %s" % (base, filt, r.returncode, r.stderr))
        return parse_ldif(r.stdout)

    def get_attr(self, dn, attr):
        res = self.search(dn, "(objectClass=*)", [attr], scope="base")
        for _, attrs in res.items():
            return attrs.get(attr.lower(), [])
        return []

    def modify(self, ldif):
        r = self._tool("ldapmodify", ADMIN_DN, PASSWORDS["admin"], [], stdin=ldif)
        if r.returncode != 0:
            raise RuntimeError("ldapmodify: rc %d: %s" % (r.returncode, r.stderr))
        return r


if __name__ == "__main__":
    # Smoke: provision, start, one search, stop.
    def _main():
        with Slapd() as s:
            print(s.search(PEOPLE_DN, "(uid=alice)", ["cn", "mail"]))
            print("svc binds:", s.can_bind(SVC_DN, PASSWORDS["svc"]))
    h.run_test(_main, "slapd_harness_smoke")
