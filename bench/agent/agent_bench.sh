#!/usr/bin/env bash
# Agent benchmarks on loopback: a real ward server and ward agent, measured from outside.
#   bench/agent/agent_bench.sh [ENTRIES_FOR_MEMORY] [PROPAGATION_N] [STREAMS_K]
# Prints one JSON object: agent memory (RSS growth) for ENTRIES_FOR_MEMORY entries without SVIDs
# and with every SVID pre-issued, so the difference is the memory per cached SVID; entry-to-SVID
# propagation on an open stream; and concurrent FetchX509SVID streams. Needs a release build and the npm clients
# (tests/interop/install-clients.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WARD=$ROOT/build/src/cli/ward
N_MEM=${1:-10000}
N_PROP=${2:-200}
K=${3:-1000}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ward-agent-bench.XXXXXX")
chmod 755 "$WORK"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT
cd "$WORK"
ulimit -n 65536 2>/dev/null || ulimit -n 8192 || true

"$WARD" server run --data-dir srv --key-manager memory --port 0 --metrics-address "" \
  --audit-log audit.log >server.log 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q '"ward server started"' server.log 2>/dev/null && break; sleep 0.1; done
export WARD_SERVER_SOCKET=$WORK/srv/admin.sock
PORT=$(sed -n 's/.*"agent_api_port":"\([0-9]*\)".*/\1/p' server.log | head -1)
"$WARD" bundle show >bundle.pem

# start_agent NAME CACHE_SIZE: sets AGENT (pid) and AGENT_ID.
start_agent() {
  local token
  token=$("$WARD" token generate | tail -1)
  "$WARD" agent run --server-port "$PORT" --trust-bundle bundle.pem --join-token "$token" \
    --data-dir "$1" --svid-cache-size "$2" >"$1.log" 2>&1 &
  AGENT=$!
  PIDS+=($AGENT)
  for _ in $(seq 1 100); do grep -q '"ward agent started"' "$1.log" 2>/dev/null && break; sleep 0.1; done
  AGENT_ID=$(sed -n 's/.*"agent_id":"\([^"]*\)".*/\1/p' "$1.log" | head -1)
}
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$AGENT/status"; }
issued() { grep -c '"type":"x509-svid"' audit.log || true; }
# add_entries AGENT_ID N: N entries for uids no process has (served to no one).
add_entries() {
  node -e '
const http=require("http"); const [sock, agent, n]=process.argv.slice(1);
const post=(b)=>new Promise((ok,ko)=>{const r=http.request({socketPath:sock,method:"POST",path:"/v1/entries",
  headers:{"content-type":"application/json"}},(res)=>{res.resume();res.on("end",ok)});r.on("error",ko);r.end(JSON.stringify(b));});
(async()=>{for(let i=0;i<Number(n);i+=1000){const e=[];for(let j=i;j<Math.min(Number(n),i+1000);j++)
  e.push({spiffe_id:`spiffe://example.org/mem/${agent.slice(-8)}/${j}`,parent_id:agent,selectors:[`unix:uid:${200000+j}`]});await post({entries:e});}})();
' "$WARD_SERVER_SOCKET" "$1" "$2"
}

# A: entries only (a cache of one SVID: nothing is pre-issued).
start_agent entries-only 1
sleep 1
a_base=$(rss_kb)
add_entries "$AGENT_ID" "$N_MEM"
sleep 3
a_full=$(rss_kb)
kill "$AGENT" 2>/dev/null || true

# B: the same number of entries, every SVID pre-issued and held.
start_agent agent $((N_MEM + 10000))
sleep 1
b_base=$(rss_kb)
before=$(issued)
add_entries "$AGENT_ID" "$N_MEM"
start=$(date +%s%3N)
for _ in $(seq 1 1200); do [ $(( $(issued) - before )) -ge "$N_MEM" ] && break; sleep 0.05; done
signed_ms=$(( $(date +%s%3N) - start ))
sleep 3
b_full=$(rss_kb)
per_entry=$(( (a_full - a_base) * 1024 / N_MEM ))
per_entry_svid=$(( (b_full - b_base) * 1024 / N_MEM ))

live=$(node "$ROOT/bench/agent/agent_bench.mjs" "$WARD_SERVER_SOCKET" "$WORK/agent/public/api.sock" \
  "$AGENT_ID" "$(id -u)" "$N_PROP" "$K" 2>live.err) || { cat live.err >&2; exit 1; }
printf '{"machine":"%s","cores":%s,"memory":{"entries":%s,"sign_all_ms":%s,"rss_kb":{"entries_only":[%s,%s],"entries_and_svids":[%s,%s]},"bytes_per_entry":%s,"bytes_per_entry_and_svid":%s,"bytes_per_svid":%s},"live":%s}\n' \
  "$(uname -m) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" "$(nproc)" \
  "$N_MEM" "$signed_ms" "$a_base" "$a_full" "$b_base" "$b_full" "$per_entry" "$per_entry_svid" \
  "$((per_entry_svid - per_entry))" "$live"
