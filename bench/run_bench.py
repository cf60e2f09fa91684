#!/usr/bin/python3
"""run_bench.py -- sspr's benchmarks, each as a RATIO against a baseline
measured in the same run (see bench/README.md).

    SSPR_BUILD=build /usr/bin/python3 bench/run_bench.py

1. writeback_bench: a throwaway Samba AD DC (private network namespace, copy
   of the golden DC under $SSPR_BUILD/itest/golden, provisioned if missing);
   the helper's full writeback vs one raw libldap modify, interleaved, ~50
   iterations against user1. The DC is stopped (by PID) afterwards.
2. pam_bench: real libpam under pam_wrapper; pam_sspr.so + pam_permit vs
   pam_permit alone, interleaved, ~2000 transactions; no helper.

SSPR_BENCH_QUICK=1 uses 5 and 50 iterations (the bench.smoke CTest).
Exit status is non-zero if either benchmark fails to run.
"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import sspr_harness as h  # noqa: E402

PAM_PERMIT = os.path.join(h.PAM_DIR, "pam_permit.so")


def run(argv, env=None, timeout=240):
    """Run a benchmark; echo its output; raise if it fails."""
    print("$ " + " ".join(argv), flush=True)
    r = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, timeout=timeout)
    out = r.stdout.decode("utf-8", "replace")
    sys.stdout.write(out)
    sys.stdout.flush()
    if r.returncode != 0:
        raise RuntimeError("%s exited with %d" % (os.path.basename(argv[0]), r.returncode))
    return out


def ratio_line(out, prefix):
    m = [ln for ln in out.splitlines() if ln.startswith(prefix) and " ratio " in ln]
    if not m:
        raise RuntimeError("no '%s ... ratio' line in the output" % prefix)
    return m[-1]


def main():
    build = os.environ.get("SSPR_BUILD")
    if not build:
        raise RuntimeError("set SSPR_BUILD to the CMake build dir")
    build = os.path.realpath(build)
    quick = os.environ.get("SSPR_BENCH_QUICK") == "1"
    wb_iters = 5 if quick else 50
    pam_iters = 50 if quick else 2000
    writeback_bin = os.path.join(build, "bench", "writeback_bench")
    pam_bin = os.path.join(build, "bench", "pam_bench")
    pam_sspr = os.path.join(build, "pam_module", "pam_sspr.so")
    for p in (writeback_bin, pam_bin, pam_sspr):
        if not os.path.exists(p):
            raise RuntimeError("%s is missing: build first (cmake --build %s)" % (p, build))

    golden = os.path.join(build, "itest", "golden")
    h.provision_golden(golden)
    work = h.new_work_dir("bench")

    # 1. writeback: sspr vs raw libldap, one DC, one kept connection each.
    dc = h.Dc(golden, os.path.join(work, "dc")).start()
    try:
        pw_file = h.write_secret(os.path.join(work, "bind.pw"), h.PASSWORDS["svc-sspr"])
        out = run([writeback_bin, dc.ldaps_uri, dc.ca_file, "svc-sspr@sspr.test", pw_file,
                   dc.base_dn, "user1", str(wb_iters)])
        wb = ratio_line(out, "writeback:")
    finally:
        dc.stop()  # by PID, waited for; the PAM bench runs without it

    # 2. PAM: pam_sspr + pam_permit vs pam_permit, no helper (the socket
    #    named does not exist: a typed password never reaches the helper).
    pam = h.PamEnv(os.path.join(work, "pam.d"))
    pam.add_service("bench-permit", ["auth required %s" % PAM_PERMIT])
    pam.add_service("bench-sspr", [
        "auth [success=ok ignore=ignore default=die] %s socket=%s" % (
            pam_sspr, os.path.join(work, "no-helper.sock")),
        "auth required %s" % PAM_PERMIT,
    ])
    out = run([pam_bin, "user1", str(pam_iters)], env=pam.env())
    pm = ratio_line(out, "pam:")

    print("", flush=True)
    print("RESULT %s" % wb, flush=True)
    print("RESULT %s" % pm, flush=True)
    for line in (wb, pm):
        if not re.search(r"ratio [0-9.]+", line):
            raise RuntimeError("unparsable result: " + line)


if __name__ == "__main__":
    h.run_test(main, name="run_bench")
