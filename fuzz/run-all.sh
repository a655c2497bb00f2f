#!/usr/bin/env bash
# Runs every fuzz target for a bounded time on a scratch copy of its seed corpus (the committed
# corpus is never modified). Usage: fuzz/run-all.sh BUILD_DIR SECONDS_PER_TARGET
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?build dir}
seconds=${2:-20}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

status=0
for bin in "$build"/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin" | sed 's/^fuzz_//')
  mkdir -p "$work/$name"
  cp -r "fuzz/corpus/$name/." "$work/$name/" 2>/dev/null || true
  echo "fuzz: $name for ${seconds}s"
  if ! ASAN_OPTIONS=detect_leaks=1 "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len=16384 -print_final_stats=1 -artifact_prefix="$work/$name-" "$work/$name" \
      >"$work/$name.log" 2>&1; then
    echo "fuzz: $name FAILED"; tail -n 60 "$work/$name.log"
    mkdir -p fuzz-artifacts && cp "$work/$name"-* fuzz-artifacts/ 2>/dev/null || true
    status=1
  else
    grep -E '^stat::number_of_executed_units' "$work/$name.log" | sed "s/^/fuzz: $name /"
  fi
done
exit $status
