"""Integration-test harness for sspr: a throwaway Samba AD DC, an SMTP sink,
pam_wrapper service dirs, and process bookkeeping.

Rules this module keeps (see shared/HARNESS-NOTES.md):
  * every test runs in its own network namespace (enter_private_netns());
    all servers bind 127.0.0.1 only;
  * every server is a direct child, stopped by PID and waited for;
  * a server that cannot start raises with the tail of its log;
  * no password ever appears on a command line: ldap* tools get them with
    -y FILE (mode 0600) or in an LDIF on stdin; Samba's own setup runs
    in-process in a /usr/bin/python3 child.

Run with /usr/bin/python3 (Samba's python bindings live only there).

API (details in each docstring):
  enter_private_netns()                 re-exec under `unshare --net`, lo up
  run_test(main)                        netns + PASS/FAIL line + exit status
  provision_golden(golden_dir, force=False) -> dict (golden.json)
  Dc(golden_dir=$SSPR_GOLDEN, work_dir=None)  .start() .stop() .kill() ctx-mgr
     .ldaps_uri .ca_file .base_dn .people_dn .smb_conf .pid .log_tail()
     .can_bind(user, pw, ca_file=None) -> bool   .bind(user, pw) -> LdapResult
     .get_attr(dn_or_sam, attr) -> list  .get_one(..)  .set_attr(sam, attr, values)
     .delete_attr(sam, attr)  .ldapsearch(..)  .ldapmodify(ldif, user, password)
     .set_password(sam, new, as_user, as_password, unlock)  .change_password(sam, old, new)
     .samba_tool(*args)  .set_password_policy(**kw)  .password_policy()
     .lock_out(sam)  .is_locked(sam)  .unlock(sam)  .write_krb5_conf(path)
  SmtpSink(work_dir=None, port=None)    .start() .stop() .url .port .messages()
     .count() .wait_for(to_addr, timeout=10)
  PamEnv(service_dir, krb5_conf=None)   .add_service(name, lines) .env(extra=None)
  pamtester(env, service, user, password) -> (status, transcript)
  free_port() wait_tcp(host, port, timeout) ProcessGroup register_cleanup(fn)
  new_work_dir(name) timed(label)/print_timings() unicode_pwd_b64(pw)
  processes_with_secret_in_cmdline(secrets) PASSWORDS USERS user_dn(sam)
"""
import atexit
import base64
import contextlib
import email
import email.policy
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

SYS_PYTHON = "/usr/bin/python3"
SAMBA = "/usr/sbin/samba"
SAMBA_TOOL = "/usr/bin/samba-tool"
PAM_DIR = "/usr/lib/x86_64-linux-gnu/security"
PAM_WRAPPER_LIB = "/usr/lib/x86_64-linux-gnu/libpam_wrapper.so"

REALM = "SSPR.TEST"
DNS_DOMAIN = "sspr.test"
NETBIOS_DOMAIN = "SSPR"
BASE_DN = "DC=sspr,DC=test"
PEOPLE_DN = "OU=People," + BASE_DN
USERS_DN = "CN=Users," + BASE_DN

# Bump when the golden layout/content changes: an older golden is re-made.
GOLDEN_VERSION = 5
# A golden older than this is re-made (AD's default max password age is 42 days).
GOLDEN_MAX_AGE_S = 7 * 86400

# Every initial password. Tests may scan /proc/*/cmdline for these.
PASSWORDS = {
    "Administrator": "Admin-Pass-1!",
    "svc-sspr": "Svc-Sspr-Pass-1!",
    "alice": "Alice-Initial-1!",
    "bob": "Bob-Initial-1!",
    "carol": "Carol-Initial-1!",
    "dave": "Dave-Initial-1!",
    "user1": "User1-Initial-1!",
    "user2": "User2-Initial-1!",
    "user3": "User3-Initial-1!",
    "user4": "User4-Initial-1!",
    "outsider": "Outsider-Initial-1!",
}

# sam -> attributes. "ou": "people" (OU=People) or "users" (CN=Users).
USERS = {
    "alice": dict(ou="people", given="Alice", sn="Anderson", mail="alice@sspr.test",
                  other="alice.alt@example.org"),
    "bob": dict(ou="people", given="Bob", sn="Brown", mail="bob@sspr.test", other=None),
    "carol": dict(ou="people", given="Carol", sn="Clark", mail="carol@sspr.test",
                  other="carol.alt@example.org", disabled=True),
    "dave": dict(ou="people", given="Dave", sn="Davis", mail="dave@sspr.test",
                 other="dave.alt@example.org"),
    "user1": dict(ou="people", given="User", sn="One", mail="user1@sspr.test",
                  other="user1.alt@example.org"),
    "user2": dict(ou="people", given="User", sn="Two", mail="user2@sspr.test",
                  other="user2.alt@example.org"),
    "user3": dict(ou="people", given="User", sn="Three", mail="user3@sspr.test",
                  other="user3.alt@example.org"),
    "user4": dict(ou="people", given="User", sn="Four", mail="user4@sspr.test",
                  other="user4.alt@example.org"),
    # Outside OU=People: svc-sspr must NOT be able to reset it.
    "outsider": dict(ou="users", given="Out", sn="Sider", mail="outsider@sspr.test",
                     other="outsider.alt@example.org"),
    "svc-sspr": dict(ou="users", given=None, sn=None, mail=None, other=None, service=True),
}

GUID_RESET_PASSWORD = "00299570-246d-11d0-a768-00aa006e0529"
GUID_LOCKOUT_TIME = "28630ebf-41d5-11d1-a9c1-0000f80367c1"
GUID_PWD_LAST_SET = "bf967a0a-0de6-11d0-a285-00aa003049e2"
GUID_USER_CLASS = "bf967aba-0de6-11d0-a285-00aa003049e2"


def user_dn(sam):
    u = USERS.get(sam)
    if sam == "Administrator":
        return "CN=Administrator," + USERS_DN
    if u is None:
        raise KeyError(sam)
    return "CN=%s,%s" % (sam, PEOPLE_DN if u["ou"] == "people" else USERS_DN)


def log(msg):
    print("[harness %7.2f] %s" % (time.monotonic() - _T0, msg), flush=True)


_T0 = time.monotonic()
TIMINGS = {}


@contextlib.contextmanager
def timed(label):
    """with timed("dc start"): ...  -- records seconds in TIMINGS[label]."""
    t = time.monotonic()
    try:
        yield
    finally:
        TIMINGS[label] = TIMINGS.get(label, 0.0) + (time.monotonic() - t)


def print_timings():
    for k, v in TIMINGS.items():
        print("timing: %-32s %7.3f s" % (k, v), flush=True)


# ----------------------------------------------------------------- cleanup --

_cleanups = []

import ctypes  # noqa: E402
_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """preexec_fn: SIGTERM this child when the (forking thread of the) test dies,
    so no server outlives a SIGKILLed test."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def register_cleanup(fn):
    """Run fn() at exit (atexit and SIGTERM/SIGINT/SIGHUP), last registered first."""
    _cleanups.append(fn)
    return fn


def unregister_cleanup(fn):
    with contextlib.suppress(ValueError):
        _cleanups.remove(fn)


def run_cleanups():
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as e:  # keep stopping the rest
            print("cleanup %r failed: %s" % (fn, e), file=sys.stderr, flush=True)


def _on_signal(signum, frame):
    print("harness: signal %d, stopping everything" % signum, file=sys.stderr, flush=True)
    run_cleanups()
    os._exit(128 + signum)


atexit.register(run_cleanups)
for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    with contextlib.suppress(ValueError):  # not in the main thread
        signal.signal(_s, _on_signal)


def stop_process(proc, name="process", term_timeout=5.0):
    """SIGTERM, then SIGKILL, by PID; always reaps. Returns the exit status."""
    if proc is None:
        return None
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=term_timeout)
        except subprocess.TimeoutExpired:
            print("harness: %s (pid %d) ignored SIGTERM, killing" % (name, proc.pid),
                  file=sys.stderr, flush=True)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
    for f in (proc.stdin, proc.stdout, proc.stderr):
        if f:
            with contextlib.suppress(Exception):
                f.close()
    return proc.returncode


class ProcessGroup:
    """Owns child processes; stops them all (reverse order) at exit or on demand.

        pg = ProcessGroup(); p = pg.spawn(["srv"], log="/x/srv.log"); ...; pg.stop_all()
    """

    def __init__(self):
        self.procs = []
        register_cleanup(self.stop_all)

    def spawn(self, argv, log=None, name=None, **kw):
        out = open(log, "ab") if log else subprocess.DEVNULL
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("preexec_fn", _die_with_parent)
        try:
            p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, **kw)
        finally:
            if log:
                out.close()
        self.procs.append((p, name or os.path.basename(argv[0])))
        return p

    def stop(self, p):
        for i, (q, name) in enumerate(self.procs):
            if q is p:
                del self.procs[i]
                return stop_process(q, name)
        return stop_process(p)

    def stop_all(self):
        while self.procs:
            p, name = self.procs.pop()
            stop_process(p, name)


# --------------------------------------------------------- net namespace --

_NETNS_ENV = "SSPR_NETNS_PARENT"


def _netns_id():
    return os.readlink("/proc/self/ns/net")


def enter_private_netns():
    """Re-exec this script (same argv/env) under `unshare --net` in a fresh
    network namespace unless already in one this function made (env marker
    SSPR_NETNS_PARENT = the parent's netns), and bring lo up. Call first in
    every test script."""
    parent = os.environ.get(_NETNS_ENV)
    if parent and parent != _netns_id():
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return
    env = dict(os.environ)
    env[_NETNS_ENV] = _netns_id()
    py = sys.executable if sys.executable else SYS_PYTHON
    # No --fork: a network namespace needs none, and with --fork unshare(1)
    # blocks SIGTERM/SIGINT in its parent, so `kill PID` / `timeout` would not
    # reach the test. Exec'd directly, the test keeps its PID and gets signals.
    argv = ["unshare", "--net", "--", py] + sys.argv
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe("unshare", argv, env)


# -------------------------------------------------------------- net utils --

def free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_tcp(host, port, timeout=10.0, proc=None, log_path=None):
    """Wait until host:port accepts a TCP connection. Raises TimeoutError
    (with the log tail if given) or RuntimeError if proc exits first."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("server exited (status %s) before %s:%d was up\n%s"
                               % (proc.returncode, host, port, log_tail(log_path)))
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("%s:%d not accepting after %.1fs\n%s"
                               % (host, port, timeout, log_tail(log_path)))
        time.sleep(0.05)


def listening_pids_inodes(port, host="127.0.0.1"):
    """Inodes of TCP sockets listening on host:port (IPv4) in this netns."""
    want = "%s:%04X" % ("".join("%02X" % int(b) for b in reversed(host.split("."))), port)
    inodes = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            if parts[1] == want and parts[3] == "0A":
                inodes.add(parts[9])
    return inodes


def pid_listens_on(pid, port, host="127.0.0.1"):
    """True if process pid itself holds a socket listening on host:port --
    so readiness is not fooled by some other server on that port."""
    inodes = listening_pids_inodes(port, host)
    if not inodes:
        return False
    fd_dir = "/proc/%d/fd" % pid
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return False
    for fd in fds:
        try:
            link = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return True
    return False


def log_tail(path, lines=40):
    if not path:
        return ""
    try:
        with open(path, errors="replace") as f:
            return "---- tail of %s ----\n%s" % (path, "".join(f.readlines()[-lines:]))
    except OSError as e:
        return "(no log %s: %s)" % (path, e)


def write_secret(path, text):
    """Write text to path with mode 0600 (no trailing newline)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)
    return path


def unicode_pwd_b64(password):
    """AD unicodePwd value: the password in double quotes, UTF-16LE, base64."""
    return base64.b64encode(('"%s"' % password).encode("utf-16-le")).decode("ascii")


def processes_with_secret_in_cmdline(secrets_list=None):
    """[(pid, cmdline)] for every process whose argv contains any of the secrets
    (default: all PASSWORDS values)."""
    secrets_list = list(secrets_list or PASSWORDS.values())
    hits = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        if any(s and s in cmd for s in secrets_list):
            hits.append((int(pid), cmd.replace("\0", " ")))
    return hits


_work_dirs = []


def new_work_dir(name="test"):
    """A fresh dir under $SSPR_BUILD/itest/work (or /tmp); removed at exit if the
    test passed (run_test), kept (and printed) if it failed or SSPR_KEEP=1."""
    build = os.environ.get("SSPR_BUILD")
    root = os.path.join(build, "itest", "work") if build else None
    if root:
        os.makedirs(root, exist_ok=True)
    d = tempfile.mkdtemp(prefix="%s." % name, dir=root)
    _work_dirs.append(d)
    return d


# ------------------------------------------------------------ provisioning --

def _run(argv, timeout=120, **kw):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, **kw)
    if r.returncode != 0:
        raise RuntimeError("command failed (%d): %s\n%s" % (
            r.returncode, " ".join(argv), r.stdout.decode("utf-8", "replace")[-4000:]))
    return r.stdout.decode("utf-8", "replace")


def make_ca(dir_, name="ca", cn="SSPR Test CA"):
    """Self-signed CA: dir_/name.pem, dir_/name.key (0600)."""
    key, pem = os.path.join(dir_, name + ".key"), os.path.join(dir_, name + ".pem")
    old = os.umask(0o077)
    try:
        _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
              "-keyout", key, "-out", pem, "-days", "3650", "-subj", "/CN=" + cn,
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    finally:
        os.umask(old)
    os.chmod(key, 0o600)
    os.chmod(pem, 0o644)
    return pem, key


def make_server_cert(dir_, ca_pem, ca_key, name="server", cn="localhost",
                     san="IP:127.0.0.1,IP:::1,DNS:localhost,DNS:dc1.sspr.test"):
    key, pem = os.path.join(dir_, name + ".key"), os.path.join(dir_, name + ".pem")
    csr, ext = os.path.join(dir_, name + ".csr"), os.path.join(dir_, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n" % san)
    old = os.umask(0o077)
    try:
        _run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-sha256", "-keyout", key,
              "-out", csr, "-subj", "/CN=" + cn])
        _run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key,
              "-CAcreateserial", "-days", "3650", "-sha256", "-extfile", ext, "-out", pem])
    finally:
        os.umask(old)
    os.chmod(key, 0o600)
    os.chmod(pem, 0o644)
    for p in (csr, ext):
        os.unlink(p)
    return pem, key


def golden_complete(golden_dir):
    """True if golden_dir/golden.json exists, is of this harness version, is
    recent enough and the files it names are there."""
    try:
        with open(os.path.join(golden_dir, "golden.json")) as f:
            g = json.load(f)
    except (OSError, ValueError):
        return False
    if g.get("version") != GOLDEN_VERSION or g.get("complete") is not True:
        return False
    if time.time() - g.get("created", 0) > GOLDEN_MAX_AGE_S:
        return False
    if g.get("golden_dir") != os.path.realpath(golden_dir):
        return False
    need = [g.get("ca_file"), g.get("smb_conf"), os.path.join(golden_dir, "private", "sam.ldb")]
    return all(p and os.path.exists(p) for p in need)


def provision_golden(golden_dir, force=False):
    """Provision the golden DC dir once (~8 s). Idempotent: reuses a complete one
    unless force. Returns the parsed golden.json."""
    golden_dir = os.path.realpath(golden_dir)
    if not force and golden_complete(golden_dir):
        log("golden %s is complete, reusing" % golden_dir)
        with open(os.path.join(golden_dir, "golden.json")) as f:
            return json.load(f)
    t0 = time.monotonic()
    if os.path.exists(golden_dir):
        # Only ever wipe something that is (or was meant to be) a golden dir.
        entries = os.listdir(golden_dir)
        if entries and not {"golden.json", "provision.log", "tls"} & set(entries):
            raise RuntimeError("%s is not empty and not a golden dir; refusing to wipe it"
                               % golden_dir)
        shutil.rmtree(golden_dir)
    os.makedirs(golden_dir)
    tls = os.path.join(golden_dir, "tls")
    os.makedirs(tls)
    ca_pem, ca_key = make_ca(tls)
    srv_pem, srv_key = make_server_cert(tls, ca_pem, ca_key)
    t_tls = time.monotonic() - t0
    # Samba's provisioning and the directory content, in-process in Samba's
    # python (no passwords on any command line).
    logf = os.path.join(golden_dir, "provision.log")
    with open(logf, "wb") as out:
        r = subprocess.run([SYS_PYTHON, os.path.abspath(__file__), "--samba-setup", golden_dir],
                           stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           timeout=300)
    if r.returncode != 0:
        raise RuntimeError("golden provisioning failed (%d)\n%s" % (r.returncode, log_tail(logf, 60)))
    g = {
        "version": GOLDEN_VERSION,
        "complete": True,
        "created": time.time(),
        "golden_dir": golden_dir,
        "realm": REALM,
        "dns_domain": DNS_DOMAIN,
        "netbios_domain": NETBIOS_DOMAIN,
        "base_dn": BASE_DN,
        "people_dn": PEOPLE_DN,
        "users_dn": USERS_DN,
        "smb_conf": os.path.join(golden_dir, "etc", "smb.conf"),
        "ca_file": ca_pem,
        "ca_key": ca_key,
        "tls_cert": srv_pem,
        "tls_key": srv_key,
        "users": {
            sam: {
                "dn": user_dn(sam),
                "upn": "%s@%s" % (sam, DNS_DOMAIN),
                "mail": u.get("mail"),
                "otherMailbox": u.get("other"),
                "disabled": bool(u.get("disabled")),
                "in_people_ou": u["ou"] == "people",
            } for sam, u in USERS.items()
        },
        "administrator_dn": user_dn("Administrator"),
        "seconds": {"tls": round(t_tls, 2), "total": round(time.monotonic() - t0, 2)},
    }
    tmp = os.path.join(golden_dir, "golden.json.tmp")
    with open(tmp, "w") as f:
        json.dump(g, f, indent=2)
    os.rename(tmp, os.path.join(golden_dir, "golden.json"))
    log("golden provisioned in %.1f s at %s" % (time.monotonic() - t0, golden_dir))
    return g


def _samba_setup(golden_dir):
    """Runs inside /usr/bin/python3 (child of provision_golden)."""
    import gc
    import ldb
    from samba.netcmd.main import cmd_sambatool
    from samba.samdb import SamDB
    from samba.auth import system_session
    from samba.param import LoadParm
    from samba.dcerpc import security
    from samba.ndr import ndr_unpack

    def tool(*args):
        t = time.monotonic()
        rc = cmd_sambatool()._run("samba-tool", *args)
        print("samba-tool %s: rc=%s %.2fs" % (" ".join(args[:2]), rc, time.monotonic() - t), flush=True)
        if rc not in (0, None):
            raise SystemExit("samba-tool %s failed: %s" % (args[:2], rc))

    d = golden_dir
    empty = os.path.join(d, "empty.conf")
    open(empty, "w").close()
    for sub in ("run", "ncalrpc", "winbindd", "log"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    opts = {
        "interfaces": "127.0.0.1",
        "bind interfaces only": "yes",
        "server services": "ldap kdc",
        "tls enabled": "yes",
        "tls keyfile": os.path.join(d, "tls", "server.key"),
        "tls certfile": os.path.join(d, "tls", "server.pem"),
        "tls cafile": os.path.join(d, "tls", "ca.pem"),
        "pid directory": os.path.join(d, "run"),
        "ncalrpc dir": os.path.join(d, "ncalrpc"),
        "winbindd socket directory": os.path.join(d, "winbindd"),
        "log file": os.path.join(d, "log", "samba.log"),
    }
    # Written into smb.conf after provisioning (provision's lp.dump drops them):
    extra_global = {
        # Samba (like Windows for NTLM) accepts the previous password for 60 min
        # after a change/reset -- on LDAP simple binds too. Tests need it off.
        "old password allowed period": "0",
    }
    args = ["domain", "provision", "-s", empty, "--targetdir=" + d, "--realm=" + REALM,
            "--domain=" + NETBIOS_DOMAIN, "--server-role=dc", "--dns-backend=NONE",
            "--host-ip=127.0.0.1", "--host-name=dc1",
            "--adminpass=" + PASSWORDS["Administrator"]]
    args += ["--option=%s=%s" % kv for kv in opts.items()]
    tool(*args)
    smbconf = os.path.join(d, "etc", "smb.conf")
    with open(smbconf) as f:
        conf = f.read()
    add = "".join("\t%s = %s\n" % kv for kv in extra_global.items())
    conf, n = re.subn(r"^\[global\]\n", lambda m: m.group(0) + add, conf, count=1, flags=re.M)
    if n != 1:
        raise SystemExit("no [global] in " + smbconf)
    with open(smbconf, "w") as f:
        f.write(conf)
    check_lp = LoadParm()
    check_lp.load(smbconf)
    for k, v in extra_global.items():
        if str(check_lp.get(k)) != v:
            raise SystemExit("smb.conf: %s is %r, wanted %r" % (k, check_lp.get(k), v))
    # Everything below lands in sam.ldb offline.
    tool("domain", "passwordsettings", "set", "-s", smbconf, "--min-pwd-age=0",
         "--complexity=on", "--min-pwd-length=7", "--history-length=24")

    lp = LoadParm()
    lp.load(smbconf)
    samdb = SamDB(url=os.path.join(d, "private", "sam.ldb"), session_info=system_session(), lp=lp)
    t = time.monotonic()
    samdb.add({"dn": PEOPLE_DN, "objectClass": "organizationalUnit",
               "description": "sspr test users"})
    for sam, u in USERS.items():
        samdb.newuser(sam, PASSWORDS[sam], useusernameascn=True,
                      userou=("OU=People" if u["ou"] == "people" else None),
                      givenname=u.get("given"), surname=u.get("sn"), mailaddress=u.get("mail"),
                      description=("sspr helper service account" if u.get("service") else None))
        dn = user_dn(sam)
        if u.get("other"):
            m = ldb.Message(ldb.Dn(samdb, dn))
            m["otherMailbox"] = ldb.MessageElement([u["other"]], ldb.FLAG_MOD_REPLACE, "otherMailbox")
            samdb.modify(m)
        if u.get("disabled"):
            samdb.disable_account("(sAMAccountName=%s)" % sam)
        if u.get("service"):
            samdb.setexpiry("(sAMAccountName=%s)" % sam, 0, no_expiry_req=True)
    res = samdb.search(base=user_dn("svc-sspr"), scope=ldb.SCOPE_BASE, attrs=["objectSid"])
    svc_sid = str(ndr_unpack(security.dom_sid, res[0]["objectSid"][0]))
    print("users created in %.2fs; svc-sspr sid %s" % (time.monotonic() - t, svc_sid), flush=True)
    del samdb, res
    gc.collect()
    sddl = "".join("(OA;CIIO;%s;%s;%s;%s)" % (right, guid, GUID_USER_CLASS, svc_sid) for right, guid in (
        ("CR", GUID_RESET_PASSWORD), ("RPWP", GUID_LOCKOUT_TIME), ("RPWP", GUID_PWD_LAST_SET)))
    tool("dsacl", "set", "-s", smbconf, "--objectdn=" + PEOPLE_DN, "--sddl=" + sddl)
    os.unlink(empty)


# ---------------------------------------------------------------- LDIF util --

def parse_ldif(text):
    """ldapsearch -LLL -o ldif-wrap=no output -> [(dn, {attr: [str|bytes]})].
    Attribute names keep their case; look them up with .get on a lowercased
    copy if unsure. Search references are skipped."""
    entries = []
    for block in re.split(r"\n\s*\n", text.strip()):
        dn, attrs = None, {}
        for line in block.splitlines():
            if not line or line.startswith("#"):
                continue
            if line.startswith(" ") and attrs:
                continue  # wrap is off; be safe
            m = re.match(r"^([A-Za-z0-9;.-]+)(::?|:<)\s?(.*)$", line)
            if not m:
                continue
            name, sep, val = m.groups()
            if sep == "::":
                raw = base64.b64decode(val)
                try:
                    val = raw.decode("utf-8")
                except UnicodeDecodeError:
                    val = raw
            if name.lower() == "dn":
                dn = val
            elif name.lower() == "ref":
                dn = None
                break
            else:
                attrs.setdefault(name, []).append(val)
        if dn is not None:
            entries.append((dn, attrs))
    return entries


def _ldif_value(attr, v):
    if isinstance(v, bytes) or (isinstance(v, str) and (
            not v.isascii() or v[:1] in (" ", ":", "<") or v.endswith(" ")
            or any(c in v for c in "\r\n\0"))):
        raw = v if isinstance(v, bytes) else v.encode("utf-8")
        return "%s:: %s\n" % (attr, base64.b64encode(raw).decode())
    return "%s: %s\n" % (attr, v)


# ---------------------------------------------------------------------- DC --

class LdapResult:
    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err

    @property
    def ok(self):
        return self.rc == 0

    @property
    def data_code(self):
        """'52e', '775', ... from an AD bind diagnostic, else None."""
        m = re.search(r"data ([0-9a-fA-F]+)", self.err + self.out)
        return m.group(1).lower() if m else None

    @property
    def ad_code(self):
        """Leading 8-hex AD code of a modify diagnostic ('0000052D'), else None."""
        m = re.search(r"additional info: ([0-9A-Fa-f]{8}):", self.err + self.out)
        return m.group(1).upper() if m else None

    def __repr__(self):
        return "LdapResult(rc=%d, err=%r)" % (self.rc, self.err.strip()[-300:])


class Dc:
    """A private copy of the golden DC.

        with Dc(golden, work) as dc:      # start() on enter, stop() on exit
            assert dc.can_bind("alice", PASSWORDS["alice"])
    """

    def __init__(self, golden_dir=None, work_dir=None):
        golden_dir = os.path.realpath(golden_dir or os.environ["SSPR_GOLDEN"])
        if not golden_complete(golden_dir):
            raise RuntimeError("golden dir %s is missing or incomplete: run provision_golden.py"
                               % golden_dir)
        with open(os.path.join(golden_dir, "golden.json")) as f:
            self.golden = json.load(f)
        self.work_dir = os.path.realpath(work_dir or new_work_dir("dc"))
        os.makedirs(self.work_dir, exist_ok=True)
        self.dir = os.path.join(self.work_dir, "dc")
        if os.path.exists(self.dir):
            raise RuntimeError("%s exists already" % self.dir)
        t = time.monotonic()
        _run(["cp", "-a", golden_dir, self.dir])
        self.smb_conf = os.path.join(self.dir, "etc", "smb.conf")
        with open(self.smb_conf) as f:
            conf = f.read()
        conf = re.sub(re.escape(golden_dir) + r"(?=/|\s*$)", self.dir.replace("\\", "\\\\"), conf,
                      flags=re.M)
        if re.search(re.escape(golden_dir) + r"(?=/|\s*$)", conf, flags=re.M):
            raise RuntimeError("smb.conf still names the golden dir")
        with open(self.smb_conf, "w") as f:
            f.write(conf)
        self.copy_seconds = time.monotonic() - t
        self.log_path = os.path.join(self.work_dir, "samba.log")
        self.proc = None
        self.start_seconds = None
        self._stdin_w = None
        self._tmp = os.path.join(self.work_dir, "dc-tmp")
        os.makedirs(self._tmp, mode=0o700, exist_ok=True)
        self._admin_pw_file = write_secret(os.path.join(self._tmp, "admin.pw"),
                                           PASSWORDS["Administrator"])

    # -- properties
    ldaps_uri = "ldaps://127.0.0.1"
    ldap_uri = "ldap://127.0.0.1"
    realm = REALM
    dns_domain = DNS_DOMAIN
    base_dn = BASE_DN
    people_dn = PEOPLE_DN
    users_dn = USERS_DN

    @property
    def ca_file(self):
        return os.path.join(self.dir, "tls", "ca.pem")

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    # -- lifecycle
    def start(self, timeout=30.0):
        if self.proc is not None:
            raise RuntimeError("DC already started")
        t = time.monotonic()
        out = open(self.log_path, "ab")
        # stdin is a pipe we hold: "samba -i" exits on EOF, so a DC can not
        # outlive this process even if it is SIGKILLed.
        r, w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [SAMBA, "-i", "-M", "single", "-s", self.smb_conf],
                stdin=r, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_die_with_parent)
        finally:
            os.close(r)
            out.close()
        self._stdin_w = w
        register_cleanup(self.stop)
        try:
            self._wait_ready(timeout)
        except Exception:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - t
        return self

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        ctx = ssl.create_default_context(cafile=self.ca_file)
        last = None
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("samba exited with status %s during start-up\n%s"
                                   % (self.proc.returncode, log_tail(self.log_path)))
            try:
                for port in (636, 88):
                    if not pid_listens_on(self.proc.pid, port):
                        raise OSError("samba (pid %d) does not listen on 127.0.0.1:%d yet"
                                      % (self.proc.pid, port))
                with socket.create_connection(("127.0.0.1", 636), timeout=1) as s:
                    with ctx.wrap_socket(s, server_hostname="127.0.0.1"):
                        pass
                with socket.create_connection(("127.0.0.1", 88), timeout=1):
                    pass
                if self.proc.poll() is None:
                    return
            except (OSError, ssl.SSLError) as e:
                last = e
            if time.monotonic() > deadline:
                raise RuntimeError("samba not ready on LDAPS/KDC after %.0fs (last: %s)\n%s"
                                   % (timeout, last, log_tail(self.log_path)))
            time.sleep(0.03)

    def stop(self):
        """SIGTERM then SIGKILL by PID; waits. Returns exit status (None if not running)."""
        unregister_cleanup(self.stop)
        rc = None
        if self.proc is not None:
            rc = stop_process(self.proc, "samba")
            self.proc = None
        if self._stdin_w is not None:
            os.close(self._stdin_w)
            self._stdin_w = None
        return rc

    def kill(self):
        """SIGKILL (for fault tests) and reap."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        return self.stop()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def log_tail(self, lines=40):
        return log_tail(self.log_path, lines)

    # -- LDAP via the OpenLDAP tools
    def ldap_env(self, ca_file=None):
        env = dict(os.environ)
        env.update({"LDAPTLS_CACERT": ca_file or self.ca_file, "LDAPTLS_REQCERT": "demand",
                    "LDAPCONF": "/dev/null", "LDAPRC": "/dev/null"})
        env.pop("LDAPTLS_CACERTDIR", None)
        return env

    @staticmethod
    def principal(user):
        """'alice' -> 'alice@sspr.test'; DNs and UPNs pass through."""
        if "@" in user or "=" in user:
            return user
        return "%s@%s" % (user, DNS_DOMAIN)

    def _ldap_tool(self, tool, user, password, args, stdin=None, ca_file=None, uri=None,
                   password_file=None, timeout=30):
        pw_file = password_file
        tmp = None
        if pw_file is None:
            fd, tmp = tempfile.mkstemp(dir=self._tmp, prefix="pw.")  # 0600
            os.write(fd, password.encode("utf-8"))
            os.close(fd)
            pw_file = tmp
        try:
            argv = [tool, "-x", "-H", uri or self.ldaps_uri, "-D", self.principal(user),
                    "-y", pw_file, "-o", "nettimeout=10"] + list(args)
            r = subprocess.run(argv, input=(stdin or "").encode("utf-8"), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=self.ldap_env(ca_file), timeout=timeout)
        finally:
            if tmp:
                os.unlink(tmp)
        return LdapResult(r.returncode, r.stdout.decode("utf-8", "replace"),
                          r.stderr.decode("utf-8", "replace"))

    def bind(self, user, password, ca_file=None, uri=None):
        """Simple bind over LDAPS (base search of the domain head). LdapResult."""
        return self._ldap_tool("ldapsearch", user, password,
                               ["-LLL", "-b", BASE_DN, "-s", "base", "1.1"],
                               ca_file=ca_file, uri=uri)

    def can_bind(self, user, password, ca_file=None):
        """True on success, False on invalid credentials (49); raises otherwise."""
        r = self.bind(user, password, ca_file=ca_file)
        if r.rc == 0:
            return True
        if r.rc == 49:
            return False
        raise RuntimeError("bind as %s: unexpected rc %d: %s" % (user, r.rc, r.err.strip()))

    def ldapsearch(self, base=BASE_DN, filt="(objectClass=*)", attrs=(), scope="sub",
                   user="Administrator", password=None):
        """Search (as Administrator by default) -> [(dn, {attr: [values]})]."""
        r = self._ldap_tool("ldapsearch", user, password,
                            ["-LLL", "-o", "ldif-wrap=no", "-b", base, "-s", scope, filt]
                            + list(attrs),
                            password_file=self._admin_pw_file if user == "Administrator"
                            and password is None else None)
        if r.rc == 32:
            return []
        if r.rc != 0:
            raise RuntimeError("ldapsearch %s %s: rc %d: %s" % (base, filt, r.rc, r.err.strip()))
        return parse_ldif(r.out)

    def ldapmodify(self, ldif, user="Administrator", password=None, ca_file=None, uri=None):
        """ldapmodify with the LDIF on stdin. Returns LdapResult (does not raise)."""
        return self._ldap_tool("ldapmodify", user, password, [], stdin=ldif, ca_file=ca_file,
                               uri=uri, password_file=self._admin_pw_file
                               if user == "Administrator" and password is None else None)

    def dn_of(self, dn_or_sam):
        if "=" in dn_or_sam:
            return dn_or_sam
        if dn_or_sam in USERS or dn_or_sam == "Administrator":
            return user_dn(dn_or_sam)
        res = self.ldapsearch(filt="(sAMAccountName=%s)" % dn_or_sam, attrs=["1.1"])
        if len(res) != 1:
            raise KeyError("no unique sAMAccountName=%s" % dn_or_sam)
        return res[0][0]

    def get_attr(self, dn_or_sam, attr):
        """All values of attr (list of str, bytes for binary; [] if absent)."""
        res = self.ldapsearch(base=self.dn_of(dn_or_sam), scope="base", attrs=[attr])
        if not res:
            raise KeyError(dn_or_sam)
        for k, v in res[0][1].items():
            if k.lower() == attr.lower():
                return v
        return []

    def get_one(self, dn_or_sam, attr):
        v = self.get_attr(dn_or_sam, attr)
        return v[0] if v else None

    def _modify_or_raise(self, ldif):
        r = self.ldapmodify(ldif)
        if r.rc != 0:
            raise RuntimeError("ldapmodify failed rc %d: %s" % (r.rc, r.err.strip()))
        return r

    def set_attr(self, dn_or_sam, attr, values):
        """Replace attr with values (a str or a list), as Administrator."""
        if isinstance(values, (str, bytes, int)):
            values = [values]
        ldif = "dn: %s\nchangetype: modify\nreplace: %s\n%s-\n" % (
            self.dn_of(dn_or_sam), attr, "".join(_ldif_value(attr, str(v) if isinstance(v, int)
                                                             else v) for v in values))
        self._modify_or_raise(ldif)

    def delete_attr(self, dn_or_sam, attr):
        """Remove every value of attr (no error if absent)."""
        ldif = "dn: %s\nchangetype: modify\nreplace: %s\n-\n" % (self.dn_of(dn_or_sam), attr)
        self._modify_or_raise(ldif)

    def set_password(self, dn_or_sam, new_password, as_user="Administrator", as_password=None,
                     unlock=False):
        """Admin-style reset (replace unicodePwd), optionally with lockoutTime: 0.
        Returns LdapResult (does not raise)."""
        ldif = "dn: %s\nchangetype: modify\nreplace: unicodePwd\nunicodePwd:: %s\n-\n" % (
            self.dn_of(dn_or_sam), unicode_pwd_b64(new_password))
        if unlock:
            ldif += "replace: lockoutTime\nlockoutTime: 0\n-\n"
        return self.ldapmodify(ldif, user=as_user, password=as_password)

    def change_password(self, sam, old, new):
        """User change (delete old + add new unicodePwd) bound as the user."""
        ldif = ("dn: %s\nchangetype: modify\ndelete: unicodePwd\nunicodePwd:: %s\n-\n"
                "add: unicodePwd\nunicodePwd:: %s\n-\n") % (
            self.dn_of(sam), unicode_pwd_b64(old), unicode_pwd_b64(new))
        return self.ldapmodify(ldif, user=sam, password=old)

    def samba_tool(self, *args, check=True, timeout=120):
        """/usr/bin/samba-tool ARGS -s smb.conf (writes into the running DC's db).
        Returns stdout+stderr text; raises on failure if check. Never pass
        passwords here (they would be on the command line)."""
        r = subprocess.run([SAMBA_TOOL] + list(args) + ["-s", self.smb_conf],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        out = r.stdout.decode("utf-8", "replace")
        if check and r.returncode != 0:
            raise RuntimeError("samba-tool %s failed (%d):\n%s" % (" ".join(args), r.returncode, out))
        return out

    # domain-head attribute <- set_password_policy keyword
    _POLICY = {
        "min_pwd_length": ("minPwdLength", lambda v: int(v)),
        "history_length": ("pwdHistoryLength", lambda v: int(v)),
        "min_pwd_age": ("minPwdAge", lambda v: -int(float(v) * 86400 * 10**7)),      # days
        "max_pwd_age": ("maxPwdAge", lambda v: -int(float(v) * 86400 * 10**7)
                        if float(v) else -0x8000000000000000),                       # days; 0=never
        "account_lockout_threshold": ("lockoutThreshold", lambda v: int(v)),
        "account_lockout_duration": ("lockoutDuration", lambda v: -int(float(v) * 60 * 10**7)),  # min
        "reset_account_lockout_after": ("lockOutObservationWindow",
                                        lambda v: -int(float(v) * 60 * 10**7)),      # minutes
    }

    def set_password_policy(self, **kw):
        """Domain password policy, written on the domain head over LDAPS (~10x
        faster than samba-tool; the DC reads it per operation). Keywords (units as
        in `samba-tool domain passwordsettings set`): complexity (bool),
        store_plaintext (bool), min_pwd_length, history_length, min_pwd_age (days),
        max_pwd_age (days, 0 = never), account_lockout_threshold,
        account_lockout_duration (minutes), reset_account_lockout_after (minutes)."""
        changes = []
        if "complexity" in kw or "store_plaintext" in kw:
            props = int(self.get_one(BASE_DN, "pwdProperties") or 0)
            for key, bit in (("complexity", 1), ("store_plaintext", 16)):
                if key in kw:
                    props = (props | bit) if kw.pop(key) else (props & ~bit)
            changes.append(("pwdProperties", props))
        for key, v in kw.items():
            if key not in self._POLICY:
                raise TypeError("unknown policy keyword %s" % key)
            attr, conv = self._POLICY[key]
            changes.append((attr, conv(v)))
        if not changes:
            return
        ldif = "dn: %s\nchangetype: modify\n" % BASE_DN
        for attr, v in changes:
            ldif += "replace: %s\n%s: %d\n-\n" % (attr, attr, v)
        self._modify_or_raise(ldif)

    def password_policy(self):
        res = self.ldapsearch(base=BASE_DN, scope="base", attrs=[
            "minPwdLength", "pwdHistoryLength", "pwdProperties", "minPwdAge", "maxPwdAge",
            "lockoutThreshold", "lockoutDuration", "lockOutObservationWindow"])
        return {k: v[0] for k, v in res[0][1].items()}

    def is_locked(self, sam):
        v = self.get_one(sam, "lockoutTime")
        return v is not None and int(v) != 0

    def lock_out(self, sam, threshold=3):
        """Lock the account by wrong LDAPS binds (sets lockoutThreshold to
        `threshold` if the domain has none). Verifies lockoutTime != 0."""
        cur = int(self.password_policy().get("lockoutThreshold", "0"))
        if cur == 0:
            self.set_password_policy(account_lockout_threshold=threshold,
                                     account_lockout_duration=30, reset_account_lockout_after=30)
            cur = threshold
        wrong = "Wrong-%s-9!" % secrets.token_hex(6)
        last = None
        for _ in range(cur + 3):
            last = self.bind(sam, wrong)
            if last.rc == 0:
                raise RuntimeError("bind with a random password succeeded?!")
            if last.data_code == "775":
                break
        if not self.is_locked(sam):
            raise RuntimeError("%s not locked after %d wrong binds (last: %r)" % (sam, cur + 3, last))

    def unlock(self, sam):
        self.set_attr(sam, "lockoutTime", "0")

    def write_krb5_conf(self, path):
        with open(path, "w") as f:
            f.write("""[libdefaults]
    default_realm = %(r)s
    dns_lookup_kdc = false
    dns_lookup_realm = false
    rdns = false
    dns_canonicalize_hostname = false
    udp_preference_limit = 0

[realms]
    %(r)s = {
        kdc = 127.0.0.1
        admin_server = 127.0.0.1
        kpasswd_server = 127.0.0.1
    }

[domain_realm]
    .%(d)s = %(r)s
    %(d)s = %(r)s
""" % {"r": REALM, "d": DNS_DOMAIN})
        return path


# -------------------------------------------------------------------- SMTP --

class SmtpSink:
    """aiosmtpd with the Maildir handler on 127.0.0.1:port.

        with SmtpSink(work) as smtp:
            ...; msg = smtp.wait_for("alice.alt@example.org")
    """

    def __init__(self, work_dir=None, port=None):
        self.work_dir = work_dir or new_work_dir("smtp")
        os.makedirs(self.work_dir, exist_ok=True)
        self.maildir = os.path.join(self.work_dir, "maildir")
        self.log_path = os.path.join(self.work_dir, "smtp.log")
        self.port = port
        self.proc = None

    @property
    def url(self):
        return "smtp://127.0.0.1:%d" % self.port

    def start(self, timeout=15.0):
        if self.port is None:
            self.port = free_port()
        out = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [SYS_PYTHON, "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:%d" % self.port,
                 "-c", "aiosmtpd.handlers.Mailbox", self.maildir],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent)
        finally:
            out.close()
        register_cleanup(self.stop)
        try:
            deadline = time.monotonic() + timeout
            while True:
                wait_tcp("127.0.0.1", self.port, max(0.1, deadline - time.monotonic()),
                         proc=self.proc, log_path=self.log_path)
                try:  # accepted; make sure it talks SMTP
                    with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                        if s.recv(64).startswith(b"220"):
                            s.sendall(b"QUIT\r\n")
                            break
                except OSError:
                    pass
                time.sleep(0.05)
        except Exception:
            self.stop()
            raise
        return self

    def stop(self):
        unregister_cleanup(self.stop)
        rc = stop_process(self.proc, "aiosmtpd") if self.proc else None
        self.proc = None
        return rc

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def _files(self):
        d = os.path.join(self.maildir, "new")
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            return []
        paths = [os.path.join(d, n) for n in names]
        return sorted(paths, key=lambda p: (os.stat(p).st_mtime_ns, p))

    def messages(self):
        """All received messages, oldest first (email.message.Message; the
        envelope is in X-MailFrom / X-RcptTo)."""
        out = []
        for p in self._files():
            with open(p, "rb") as f:
                out.append(email.message_from_binary_file(f))
        return out

    def count(self):
        return len(self._files())

    @staticmethod
    def _recipients(msg):
        rc = []
        for h in ("X-RcptTo", "To", "Cc"):
            for v in msg.get_all(h) or []:
                rc += [a.strip().strip("<>").lower() for a in str(v).split(",")]
        return rc

    def messages_to(self, to_addr):
        return [m for m in self.messages() if to_addr.lower() in self._recipients(m)]

    def wait_for(self, to_addr, timeout=10.0, after=0):
        """Newest message to to_addr once more than `after` such messages exist."""
        deadline = time.monotonic() + timeout
        while True:
            ms = self.messages_to(to_addr)
            if len(ms) > after:
                return ms[-1]
            if time.monotonic() > deadline:
                raise AssertionError("no mail to %s within %.0fs (%d messages in sink: %s)" % (
                    to_addr, timeout, self.count(),
                    [m.get("X-RcptTo") for m in self.messages()]))
            time.sleep(0.05)


# --------------------------------------------------------------------- PAM --

class PamEnv:
    """A pam_wrapper service dir. `other` denies everything.

        pam = PamEnv(work + "/pam.d")
        pam.add_service("svc", ["auth required pam_krb5.so"])
        env = pam.env({"KRB5_CONFIG": krb5})
    """

    def __init__(self, service_dir, krb5_conf=None):
        self.dir = service_dir
        self.krb5_conf = krb5_conf
        os.makedirs(self.dir, exist_ok=True)
        deny = os.path.join(PAM_DIR, "pam_deny.so")
        self.add_service("other", ["%s required %s" % (t, deny)
                                   for t in ("auth", "account", "password", "session")])

    @staticmethod
    def _absolute(line):
        """Name system modules by absolute path: 'pam_x.so' -> PAM_DIR/pam_x.so
        (only if it exists there; anything else is left as written)."""
        parts = line.split()
        if len(parts) < 3 or line.lstrip().startswith("#"):
            return line
        # control may be [a=b c=d] with spaces
        m = re.match(r"^(\s*-?\w+\s+(?:\[[^\]]*\]|\S+)\s+)(\S+)(.*)$", line)
        if (m and "/" not in m.group(2) and m.group(2).endswith(".so")
                and os.path.exists(os.path.join(PAM_DIR, m.group(2)))):
            return m.group(1) + os.path.join(PAM_DIR, m.group(2)) + m.group(3)
        return line

    def add_service(self, name, lines):
        if isinstance(lines, str):
            lines = lines.splitlines()
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            for line in lines:
                f.write(self._absolute(line) + "\n")
        return path

    def env(self, extra=None):
        e = dict(os.environ)
        e.update({"LD_PRELOAD": PAM_WRAPPER_LIB, "PAM_WRAPPER": "1",
                  "PAM_WRAPPER_SERVICE_DIR": self.dir})
        if self.krb5_conf:
            e["KRB5_CONFIG"] = self.krb5_conf
        e.update(extra or {})
        return e


def pamtester(env, service, user, password, op="authenticate", timeout=30, prompt="assword"):
    """Run pamtester under pam_wrapper on a pty, answer the password prompt.
    Returns (exit status, transcript)."""
    import pexpect
    child = pexpect.spawn("pamtester", ["-v", service, user, op], env=env, encoding="utf-8",
                          timeout=timeout, echo=False)
    try:
        i = child.expect([prompt, pexpect.EOF])
        if i == 0:
            child.sendline(password)
            child.expect(pexpect.EOF)
    except pexpect.TIMEOUT:
        child.close(force=True)
        raise AssertionError("pamtester timed out:\n%s" % (child.before,))
    text = (child.before or "")
    child.close()
    return child.exitstatus, text


# --------------------------------------------------------------- run_test --

def run_test(main, name=None):
    """enter_private_netns(); main(); print PASS/FAIL; exit 0/1. Stops every
    registered server; removes work dirs on success (kept if SSPR_KEEP=1)."""
    enter_private_netns()
    name = name or os.path.splitext(os.path.basename(sys.argv[0]))[0]
    t = time.monotonic()
    ok, reason = False, ""
    try:
        main()
        ok = True
    except AssertionError as e:
        import traceback
        traceback.print_exc()
        reason = str(e) or "assertion failed"
    except Exception as e:
        import traceback
        traceback.print_exc()
        reason = "%s: %s" % (type(e).__name__, e)
    finally:
        run_cleanups()
    if ok and not os.environ.get("SSPR_KEEP"):
        for d in _work_dirs:
            shutil.rmtree(d, ignore_errors=True)
    elif _work_dirs:
        print("work dirs kept: %s" % " ".join(_work_dirs), flush=True)
    dt = time.monotonic() - t
    if ok:
        print("PASS: %s (%.1f s)" % (name, dt), flush=True)
        sys.exit(0)
    print("FAIL: %s (%.1f s): %s" % (name, dt, reason.splitlines()[0] if reason else ""), flush=True)
    sys.exit(1)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--samba-setup":
        _samba_setup(sys.argv[2])
    else:
        print("usage: this is a library; see provision_golden.py", file=sys.stderr)
        sys.exit(2)
