#!/usr/bin/env bash
# Peer benchmark: cfssl signing ECDSA P-256 CSRs over its HTTP API, for comparison with Ward's
# X.509-SVID issuance.
#
#   bench/peers/cfssl_bench.sh [--duration S] [--concurrency C] [--pool N] [--warmup W]
#
# Creates an ECDSA P-256 CA with the openssl CLI, a cfssl signing config (client+server auth,
# 1h expiry), starts `cfssl serve` on a free loopback port, pre-generates N (default 200) P-256
# CSRs with openssl, then drives POST /api/v1/cfssl/sign with C (default 8) requests in flight
# over keep-alive connections for S (default 10) seconds after a W (default 1) second warm-up,
# using http_sign_load.mjs (Node 20, no npm deps).
# Prints ONE JSON object on stdout:
#   {"issued","seconds","rate","p50_ms","p99_ms","errors","server_cpu_seconds","server_cpu_us_per_op"}
# server_cpu_* is utime+stime of the cfssl process (/proc/PID/stat, CLK_TCK ticks) over the
# measured phase only. Progress goes to stderr.
# Needs: cfssl (Debian: apt-get install -y golang-cfssl), openssl, node >= 20, curl, jq.
# The load driver runs on the same machine, so on a small box it competes with cfssl for CPU;
# the CPU-per-op figure is unaffected by that, the rate is not.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
DURATION=10
CONCURRENCY=8
POOL=200
WARMUP=1
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --concurrency) CONCURRENCY=$2; shift 2 ;;
    --pool) POOL=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0" >&2; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

for tool in cfssl openssl node curl jq; do
  command -v "$tool" >/dev/null || { echo "missing $tool (cfssl: apt-get install -y golang-cfssl)" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cfssl-bench.XXXXXX")
SERVER_PID=
LOAD_PID=
cleanup() {
  if [ -n "$LOAD_PID" ]; then kill "$LOAD_PID" 2>/dev/null || true; fi
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$WORK"
log() { echo "cfssl_bench: $*" >&2; }

log "cfssl $(cfssl version | sed -n 's/^Version: //p'), work dir $WORK"

# CA: ECDSA P-256 key (SEC1 "EC PRIVATE KEY" PEM, which cfssl parses) and a self-signed cert.
openssl ecparam -name prime256v1 -genkey -noout -out ca-key.pem
openssl req -x509 -new -key ca-key.pem -subj "/O=cfssl bench/CN=cfssl bench CA" -days 2 \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
  -out ca.pem 2>/dev/null

# Signing policy: the default profile is used by /api/v1/cfssl/sign requests that name no profile.
# No auth_key, so the plain (unauthenticated) sign endpoint is allowed.
cat >config.json <<'EOF'
{
  "signing": {
    "default": {
      "expiry": "1h",
      "usages": ["digital signature", "client auth", "server auth"]
    }
  }
}
EOF

# Pool of CSRs, each with a fresh P-256 key and a SPIFFE-style URI SAN (cfssl signs the CSR's
# public key; the private keys are thrown away).
log "generating $POOL CSRs"
mkdir csr
for i in $(seq 1 "$POOL"); do
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
    -subj "/O=cfssl bench/CN=workload-$i" -addext "subjectAltName=URI:spiffe://bench.example/w/$i" \
    -out "csr/$(printf '%05d' "$i").pem" 2>/dev/null
done

PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
# loglevel 2 (warning): the default (1, info) writes several log lines per signed certificate.
cfssl serve -address 127.0.0.1 -port "$PORT" -ca ca.pem -ca-key ca-key.pem -config config.json \
  -loglevel 2 >server.log 2>&1 &
SERVER_PID=$!
URL="http://127.0.0.1:$PORT/api/v1/cfssl/sign"

# Wait until a real sign request succeeds (also checks the CA/config/CSR setup end to end).
jq -n --rawfile csr csr/00001.pem '{certificate_request: $csr}' >probe.json
ready=
for _ in $(seq 1 100); do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then log "cfssl serve exited:"; cat server.log >&2; exit 1; fi
  if curl -sf -H 'content-type: application/json' --data-binary @probe.json "$URL" >probe.out 2>/dev/null \
    && [ "$(jq -r .success probe.out)" = true ]; then ready=1; break; fi
  sleep 0.1
done
if [ -z "$ready" ]; then log "cfssl serve did not answer"; cat server.log probe.out >&2 2>/dev/null || true; exit 1; fi
log "cfssl serve ready on port $PORT (pid $SERVER_PID)"

node "$HERE/http_sign_load.mjs" --url "$URL" --csr-dir csr --duration "$DURATION" \
  --concurrency "$CONCURRENCY" --warmup "$WARMUP" --pid "$SERVER_PID" >load.json &
LOAD_PID=$!   # in the background so that INT/TERM reach the trap without waiting for the run to end
wait "$LOAD_PID"
LOAD_PID=
kill -0 "$SERVER_PID" 2>/dev/null || { log "cfssl serve died during the run"; cat server.log >&2; exit 1; }

jq -c --argjson hz "$(getconf CLK_TCK)" '
  (.server_cpu_ticks / $hz) as $cpu
  | {issued, seconds, rate, p50_ms, p99_ms, errors,
     server_cpu_seconds: $cpu,
     server_cpu_us_per_op: (if .issued > 0 then ($cpu * 1e6 / .issued * 10 | round / 10) else null end)}
' load.json
