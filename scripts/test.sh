#!/bin/bash
# The whole test suite: installs what it needs, builds, runs every unit and
# integration test (real Samba AD DC, OpenLDAP slapd, SMTP sink, SMS gateway
# stub and libpam on loopback in private network namespaces). Needs root
# (network namespaces, a DC). The unit suites and fuzz-corpus replays also
# run once more in an ASan+UBSan build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
BUILD=${SSPR_BUILD_DIR:-build}
ASAN_BUILD=${SSPR_ASAN_BUILD_DIR:-build-asan}
jobs=$(nproc)

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$jobs"

cmake -S . -B "$ASAN_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSSPR_SANITIZE=ON -DSSPR_BENCH=OFF >/dev/null
cmake --build "$ASAN_BUILD" -j"$jobs"
echo "== unit tests under ASan+UBSan =="
ctest --test-dir "$ASAN_BUILD" -L unit --output-on-failure -j"$jobs" --timeout 600

echo "== all tests =="
ctest --test-dir "$BUILD" --output-on-failure -j2 --timeout 600
