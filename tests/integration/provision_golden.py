#!/usr/bin/python3
"""provision_golden.py GOLDEN_DIR [--force]

Provision the golden Samba AD DC directory that every integration test copies
(realm SSPR.TEST, OU=People with alice/bob/carol/dave/user1..4, svc-sspr with
delegated reset rights, a test CA and LDAPS cert). Idempotent: a complete,
current golden dir (golden.json) is reused.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sspr_harness as h  # noqa: E402


def main():
    args = [a for a in sys.argv[1:] if a != "--force"]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    t = time.monotonic()
    g = h.provision_golden(args[0], force="--force" in sys.argv)
    print("golden ready: %s (%.1f s; realm %s, %d users)" % (
        g["golden_dir"], time.monotonic() - t, g["realm"], len(g["users"])), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
