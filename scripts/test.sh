#!/usr/bin/env bash
# Sets up and runs every check: a Release build with the whole test suite, an
# ASan+UBSan build with the whole test suite, and a bounded fuzzing run.
#   ./scripts/test.sh                 (RTB_FUZZ_SECONDS=N to fuzz longer; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
jobs="$(nproc)"

echo "== Release build and tests"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DRTB_BUILD_BENCH=ON >/dev/null
cmake --build build/release -j"$jobs"
ctest --test-dir build/release --output-on-failure -j"$jobs"

echo "== benchmarks (smoke run; figures are not checked here)"
(cd build/release && ./bench/core_bench --seconds 1 --json bench_core.json)

echo "== ASan+UBSan build and tests"
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DRTB_SANITIZE=address,undefined -DRTB_INSTALL=OFF >/dev/null
cmake --build build/asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build/asan --output-on-failure -j"$jobs"

fuzz_seconds="${RTB_FUZZ_SECONDS:-20}"
if [ "$fuzz_seconds" -gt 0 ]; then
  echo "== fuzzing (${fuzz_seconds}s per target)"
  ./scripts/fuzz.sh "$fuzz_seconds"
fi
echo "== all checks passed"
