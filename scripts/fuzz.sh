#!/bin/bash
# Run each libFuzzer target (clang-14) for a while and merge new inputs into
# the corpora under tests/fuzz/corpus, which CTest replays on every build.
#   bash scripts/fuzz.sh [seconds-per-target]   (default 120)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-120}
CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -DSSPR_FUZZ=ON -DSSPR_TESTS=OFF >/dev/null
cmake --build build-fuzz --target fuzz_wire fuzz_config -j"$(nproc)" >/dev/null
for t in wire config; do
  work=$(mktemp -d)
  cp tests/fuzz/corpus/$t/* "$work"/
  build-fuzz/tests/fuzz/fuzz_$t -max_total_time="$secs" -print_final_stats=1 "$work" 2>&1 | grep -E 'stat::number_of_executed_units|ERROR|SUMMARY' || true
  build-fuzz/tests/fuzz/fuzz_$t -merge=1 tests/fuzz/corpus/$t "$work" >/dev/null 2>&1
  rm -rf "$work"
done
