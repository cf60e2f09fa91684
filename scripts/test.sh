#!/bin/bash
# The whole test suite: installs what it needs, builds, runs every unit and
# integration test (real Samba AD DC, SMTP sink and libpam on loopback in
# private network namespaces). Needs root (network namespaces, a DC).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
BUILD=${SSPR_BUILD_DIR:-build}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
ctest --test-dir "$BUILD" --output-on-failure -j2 --timeout 600
