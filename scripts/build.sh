#!/usr/bin/env bash
# Configures and builds one flavour of Ward. Usage: scripts/build.sh [release|asan|fuzz] [TARGET...]
# With targets, only those are built (CI builds just the unit tests under the sanitizers).
# Build trees: build/ (release), build-asan/ (ASan+UBSan), build-fuzz/ (clang + libFuzzer).
set -euo pipefail
cd "$(dirname "$0")/.."

flavour=${1:-release}
shift || true
jobs=${WARD_JOBS:-$(nproc)}
case "$flavour" in
  release) dir=build; args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  asan)    dir=build-asan; args=(-DCMAKE_BUILD_TYPE=Debug -DWARD_SANITIZE=ON -DWARD_BUILD_BENCH=OFF) ;;
  fuzz)    dir=build-fuzz; args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DWARD_FUZZ=ON
                                -DCMAKE_CXX_COMPILER=clang++) ;;
  *) echo "usage: $0 [release|asan|fuzz]" >&2; exit 2 ;;
esac

cmake -S . -B "$dir" -G Ninja "${args[@]}" >/dev/null
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build "$dir" -j "$jobs" "${targets[@]}"
