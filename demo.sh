#!/bin/bash
# The sspr demo on a fresh Debian 12 machine (as root): installs what it
# needs, builds, then runs a throwaway AD DC + mail sink + ssprd on loopback
# in a private network namespace and puts you at a login prompt as `alice`.
#   bash demo.sh             interactive
#   bash demo.sh --scripted  unattended (what the test suite runs)
set -euo pipefail
cd "$(dirname "$0")"
if [ "$(id -u)" -ne 0 ]; then
  echo "demo.sh: run as root (sudo bash demo.sh): it starts a domain controller in a private network namespace" >&2
  exit 1
fi
bash scripts/install-deps.sh
BUILD=${SSPR_BUILD_DIR:-build}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)" >/dev/null
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
SSPR_BUILD="$BUILD" exec /usr/bin/python3 tests/integration/demo.py "$@"
