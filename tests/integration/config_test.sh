#!/usr/bin/env bash
# Integration tests for `ward server run --config FILE`: a real server configured from YAML, the
# command line winning over the file, and clear refusals for settings that do not exist or do not
# fit.
#
#   config_test.sh WARD
set -euo pipefail

WARD=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib.sh
. "$ROOT/tests/lib.sh"
require_executables "$WARD"
command -v node >/dev/null 2>&1 || { echo "FAIL: required tool 'node' not found" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ward-config-test.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# run_configured NAME ARGS...: starts `ward server run ARGS` and waits for the start line.
run_configured() {
  local name=$1; shift
  "$WARD" server run "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do
    grep -q '"ward server started"' "$WORK/$name.log" 2>/dev/null && return 0
    kill -0 "${PIDS[-1]}" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

cat >"$WORK/ward.yaml" <<YAML
# One file for the whole node; the server reads its own section.
server:
  trust_domain: config.example
  data_dir: $WORK/data
  admin_socket: $WORK/admin.sock
  port: 0
  metrics_address: ""
  key_manager: memory
  audit_log: $WORK/audit.log
  admin_spiffe_id:
    - spiffe://config.example/ops
    - spiffe://config.example/oncall
  max_jwt_ttl: 600
agent:
  server_address: 127.0.0.1
YAML

if run_configured yaml --config "$WORK/ward.yaml"; then pass "server starts from a YAML file"
else fail "server starts from a YAML file" "$(cat "$WORK/yaml.log")"; fi
start=$(grep '"ward server started"' "$WORK/yaml.log" | tail -1)
[ "$(jget trust_domain <<<"$start")" = config.example ] && pass "trust domain from the file" ||
  fail "trust domain from the file" "$start"
[ "$(jget key_manager <<<"$start")" = memory ] && pass "key manager from the file" ||
  fail "key manager from the file" "$start"
export WARD_SERVER_SOCKET=$WORK/admin.sock
expect_ok "admin socket from the file answers" "$WARD" healthcheck
[ -s "$WORK/audit.log" ] && pass "audit log path from the file" || fail "audit log path from the file"
jwt=$("$WARD" jwt mint --spiffe-id spiffe://config.example/w --audience a --ttl 900 | tail -1)
exp=$(node -e 'console.log(JSON.parse(Buffer.from(process.argv[1].split(".")[1],"base64url")).exp)' "$jwt")
now=$(date +%s)
[ $((exp - now)) -le 600 ] && pass "max_jwt_ttl from the file caps the token" ||
  fail "max_jwt_ttl from the file caps the token" "$jwt"
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

if run_configured override --config "$WORK/ward.yaml" --trust-domain flag.example \
    --data-dir "$WORK/data2"; then
  start=$(grep '"ward server started"' "$WORK/override.log" | tail -1)
  [ "$(jget trust_domain <<<"$start")" = flag.example ] && pass "a command-line flag wins over the file" ||
    fail "a command-line flag wins over the file" "$start"
else fail "a command-line flag wins over the file" "$(cat "$WORK/override.log")"; fi
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

printf 'server:\n  trust_domian: typo.example\n' >"$WORK/typo.yaml"
mkdir "$WORK/cwd"
expect_fail "unknown setting refused, naming it" 2 'unknown setting "trust_domian"' \
  sh -c "cd '$WORK/cwd' && exec '$WARD' server run --config '$WORK/typo.yaml'"
[ -z "$(ls -A "$WORK/cwd")" ] && pass "a refused configuration creates nothing" ||
  fail "a refused configuration creates nothing" "$(ls -A "$WORK/cwd")"
printf 'port: [1, 2]\n' >"$WORK/list.yaml"
expect_fail "list for a single-value setting refused" 2 "takes one value" \
  "$WARD" server run --config "$WORK/list.yaml"
printf 'port: eighty\n' >"$WORK/type.yaml"
expect_fail "ill-typed value refused" 2 'setting "port"' "$WARD" server run --config "$WORK/type.yaml"
printf 'a: &x 1\nb: *x\n' >"$WORK/alias.yaml"
expect_fail "aliases refused" 2 "aliases are not allowed" "$WARD" server run --config "$WORK/alias.yaml"
expect_fail "missing file refused" 2 "cannot read configuration file" \
  "$WARD" server run --config "$WORK/absent.yaml"

finish config_test
