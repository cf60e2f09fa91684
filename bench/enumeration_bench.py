#!/usr/bin/python3
"""Same face, in time (SECURITY.md rule 8): how long the helper takes to
answer a real account and an unknown one, through the real module and
libpam, in the same run.

For each run it measures (1) Enter at the password prompt -> the code prompt
and (2) a wrong code -> the next prompt, for `dave` (real, enrolled) and
`nosuchuser`, interleaved, and prints the medians and the gap of the
medians. SECURITY.md's figure is a gap under 2 ms over 1,000 runs each:
  SSPR_BUILD=build /usr/bin/python3 bench/enumeration_bench.py 1000
(the default, 40, is a quick look; bench.smoke runs 5).
"""
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import sspr_harness as h  # noqa: E402
import sspr_env as e  # noqa: E402


def one(env, user):
    login = e.Login(env, user)
    login.expect(e.PASSWORD_PROMPT)
    t0 = time.perf_counter()
    login.send("")
    login.expect(e.CODE_PROMPT)
    t1 = time.perf_counter()
    login.send("00000000")
    login.expect(e.CODE_PROMPT)
    t2 = time.perf_counter()
    login.child.sendline("")
    login.finish()
    return (t1 - t0) * 1000, (t2 - t1) * 1000


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    build = os.environ.setdefault("SSPR_BUILD", os.path.join(HERE, "..", "build"))
    golden = os.path.join(build, "itest", "golden")
    h.provision_golden(golden)
    work = h.new_work_dir("enumeration_bench")
    dc = h.Dc(golden, os.path.join(work, "dc")).start()
    smtp = h.SmtpSink(os.path.join(work, "smtp")).start()
    # The shipped floor (min_response_ms = 400) is what hides the difference.
    ssprd = e.Ssprd(work, dc, smtp.port, flow={"min_response_ms": "400"}, extra={
        "throttle": {"failures": "100", "sends_per_minute": "10", "sends_per_day": "1000",
                     "source_failures": "10000"}}).start()
    pam, env = e.make_pam(work, dc, ssprd)
    real = {"start": [], "wrong": []}
    unknown = {"start": [], "wrong": []}
    for i in range(runs + 2):
        for user, acc in (("dave", real), ("nosuchuser", unknown)):
            s, w = one(env, user)
            if i >= 2:  # warm-up
                acc["start"].append(s)
                acc["wrong"].append(w)
    for phase in ("start", "wrong"):
        mr, mu = statistics.median(real[phase]), statistics.median(unknown[phase])
        print("RESULT enumeration %-5s real median %.2f ms, unknown median %.2f ms, gap %.2f ms (%d runs)"
              % (phase, mr, mu, abs(mr - mu), runs), flush=True)
    ssprd.stop()
    smtp.stop()
    dc.stop()


if __name__ == "__main__":
    h.run_test(main, name="enumeration_bench")
