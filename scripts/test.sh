#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what is needed, builds, and runs every test.
#   1. release build: unit tests and interoperability tests through CTest
#   2. ASan + UBSan build: the unit tests again
#   3. clang/libFuzzer build: every fuzz target for WARD_FUZZ_SECONDS (default 20) on its corpus
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
./tests/interop/install-clients.sh

echo "== release build and tests"
./scripts/build.sh release
ctest --test-dir build --output-on-failure -j "$(nproc)"

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build, unit tests"
./scripts/build.sh asan ward_unit_tests
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$(nproc)" -L unit

echo "== fuzz targets"
./scripts/build.sh fuzz
./fuzz/run-all.sh build-fuzz "${WARD_FUZZ_SECONDS:-20}"

echo "== all tests passed"
