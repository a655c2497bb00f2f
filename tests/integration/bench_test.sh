#!/usr/bin/env bash
# Integration test for `ward bench`: each load generator runs briefly against a real server and
# agent on loopback, prints the JSON summary the docs promise, and what it measured happened
# (SVIDs in the audit log, syncs served, validations answered). Checks shape and correctness,
# never speed: speed lives in bench/run.sh and docs/performance.md.
#
#   bench_test.sh WARD
set -euo pipefail

WARD=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib.sh
. "$ROOT/tests/lib.sh"
require_executables "$WARD"
command -v jq >/dev/null || { echo "FAIL: jq not found" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ward-bench-test.XXXXXX")
chmod 755 "$WORK"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  if [ -n "${KEEP_WORK:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
cd "$WORK"

"$WARD" server run --data-dir srv --key-manager memory --port 0 --metrics-address "" \
  --audit-log audit.log --agent-rate-limit 10000 >server.log 2>&1 &
SERVER=$!
PIDS+=("$SERVER")
for _ in $(seq 1 100); do grep -q '"ward server started"' server.log 2>/dev/null && break; sleep 0.1; done
export WARD_SERVER_SOCKET=$WORK/srv/admin.sock
PORT=$(grep '"ward server started"' server.log | jget agent_api_port)
"$WARD" bundle show >bundle.pem

# A summary is one JSON object with the promised keys, some work done and no errors.
check_summary() {  # check_summary NAME FILE
  if jq -e 'has("issued") and has("seconds") and has("rate") and has("p50_ms") and has("p99_ms")
            and .errors == 0 and .issued > 0 and .p99_ms >= .p50_ms' "$2" >/dev/null; then
    pass "$1: $(cut -c1-160 "$2")"
  else fail "$1" "$(cat "$2" "$2.err" 2>/dev/null | tail -5)"; fi
}

# --- issue: X.509-SVIDs over the agent API; every one is in the audit log -----------------------
before=$(grep -c '"type":"x509-svid"' audit.log || true)
"$WARD" bench issue --server-port "$PORT" --trust-bundle bundle.pem --entries 20 --duration 1 \
  --concurrency 2 --batch 10 --server-pid "$SERVER" >issue.json 2>issue.json.err || true
check_summary "bench issue" issue.json
after=$(grep -c '"type":"x509-svid"' audit.log || true)
[ "$((after - before))" -eq "$(jq .issued issue.json)" ] &&
  pass "every SVID the bench counted was issued and audited ($((after - before)))" ||
  fail "issued SVIDs audited" "bench $(jq .issued issue.json), audit $((after - before))"
jq -e '.server_cpu_us_per_op > 0 and .server_rss_bytes > 0' issue.json >/dev/null &&
  pass "--server-pid reports the server's CPU per SVID and RSS" || fail "server CPU reported" "$(cat issue.json)"
expect_fail "a bench against a port with no server fails" 1 "attestation" "$WARD" bench issue \
  --server-port 1 --trust-bundle bundle.pem --duration 1
expect_fail "a bench without a trust bundle is a usage error" 2 "trust-bundle" "$WARD" bench issue \
  --duration 1

# --- agents: simulated agents attest, get their entries in a full sync, then sync paced --------
"$WARD" bench agents --server-port "$PORT" --trust-bundle bundle.pem --agents 30 \
  --entries-per-agent 2 --interval 0.5 --duration 2 --concurrency 4 --server-pid "$SERVER" \
  >agents.json 2>agents.json.err || true
check_summary "bench agents" agents.json
jq -e '.agents == 30 and .issued >= 60 and .warmup_errors == 0 and (.warmup_p99_ms | type) == "number"' \
  agents.json >/dev/null &&
  pass "30 agents synced at their pace (2 s at 60/s)" || fail "agents paced" "$(cat agents.json)"
[ "$("$WARD" agent list --output json 2>/dev/null | jq '(.agents // .) | length' 2>/dev/null || echo 0)" -ge 30 ] &&
  pass "the simulated agents are attested agents on the server" || fail "agents attested"

# --- fetch and jwt-validate through a real agent's Workload API -------------------------------
TOKEN=$("$WARD" token generate | tail -1)
"$WARD" agent run --server-port "$PORT" --trust-bundle bundle.pem --join-token "$TOKEN" \
  --data-dir agent >agent.log 2>&1 &
AGENT=$!
PIDS+=("$AGENT")
for _ in $(seq 1 100); do grep -q '"ward agent started"' agent.log 2>/dev/null && break; sleep 0.1; done
AGENT_ID=$(grep -o '"agent_id":"[^"]*"' agent.log | head -1 | cut -d'"' -f4)
SOCK=unix://$WORK/agent/public/api.sock
"$WARD" entry create --spiffe-id spiffe://example.org/bench/w --parent-id "$AGENT_ID" \
  --selector "unix:uid:$(id -u)" >/dev/null
for _ in $(seq 1 100); do "$WARD" api fetch x509 --socket "$SOCK" >/dev/null 2>&1 && break; sleep 0.1; done

"$WARD" bench fetch --socket "$SOCK" --duration 1 --concurrency 2 >fetch.json 2>fetch.json.err || true
check_summary "bench fetch" fetch.json
"$WARD" bench jwt-validate --socket "$SOCK" --duration 1 --concurrency 2 --server-pid "$AGENT" \
  >cached.json 2>cached.json.err || true
check_summary "bench jwt-validate (one token: the agent's cache)" cached.json
"$WARD" bench jwt-validate --socket "$SOCK" --duration 1 --concurrency 2 --distinct 50 \
  --admin-socket "$WARD_SERVER_SOCKET" --spiffe-id spiffe://example.org/bench/w \
  --tokens-out tokens.txt >distinct.json 2>distinct.json.err || true
check_summary "bench jwt-validate (50 distinct server-minted tokens)" distinct.json
[ "$(wc -l <tokens.txt)" -eq 50 ] && [ "$(stat -c %a tokens.txt)" = 600 ] &&
  pass "--tokens-out wrote the 50 tokens, 0600" || fail "tokens written" "$(wc -l <tokens.txt)"
finish bench_test
