#!/usr/bin/env bash
# Ward's main job on a new machine: install, build, then run a server and an agent on loopback
# (SQLite in a temporary folder), register an entry for the current user, and show a workload
# fetching its X.509-SVID and JWT-SVID through the SPIFFE Workload API. Keeps running, printing
# every SVID rotation, until Ctrl-C. Set WARD_QUICKSTART_SECONDS to stop by itself after that long.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
./scripts/build.sh release ward

ward=$PWD/build/src/cli/ward
demo=$(mktemp -d "${TMPDIR:-/tmp}/ward-quickstart.XXXXXX")
chmod 755 "$demo"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$demo"
  echo "quickstart: stopped; removed $demo"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

# wait_log FILE PATTERN: waits for PATTERN in FILE, or fails showing FILE.
wait_log() {
  for _ in $(seq 1 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "quickstart: timed out waiting for $2 in $1:"; cat "$1"; exit 1
}
field() { sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p" | head -1; }

echo
echo "== ward server (trust domain example.org, SQLite in $demo/server)"
"$ward" server run --trust-domain example.org --data-dir "$demo/server" --port 0 \
  --metrics-address 127.0.0.1:0 --audit-log "$demo/audit.log" >"$demo/server.log" 2>&1 &
pids+=($!)
wait_log "$demo/server.log" '"ward server started"'
port=$(grep '"ward server started"' "$demo/server.log" | field agent_api_port)
export WARD_SERVER_SOCKET=$demo/server/admin.sock
"$ward" healthcheck
"$ward" bundle show >"$demo/bundle.pem"

echo
echo "== ward agent (attests with a one-time join token)"
token=$("$ward" token generate --ttl 300 | tail -1)
"$ward" agent run --trust-domain example.org --server-port "$port" --trust-bundle "$demo/bundle.pem" \
  --join-token "$token" --data-dir "$demo/agent" >"$demo/agent.log" 2>&1 &
pids+=($!)
wait_log "$demo/agent.log" '"ward agent started"'
agent_id=$(grep '"ward agent started"' "$demo/agent.log" | field agent_id)
echo "agent: $agent_id"
export SPIFFE_ENDPOINT_SOCKET=unix://$demo/agent/public/api.sock

echo
echo "== register this user ($(id -un), uid $(id -u)) as spiffe://example.org/quickstart"
"$ward" entry create --spiffe-id spiffe://example.org/quickstart --parent-id "$agent_id" \
  --selector "unix:uid:$(id -u)"

echo
echo "== the workload fetches its X.509-SVID (FetchX509SVID on $SPIFFE_ENDPOINT_SOCKET)"
for _ in $(seq 1 50); do "$ward" api fetch x509 --write "$demo/svid" >/dev/null 2>&1 && break; sleep 0.1; done
"$ward" api fetch x509 --write "$demo/svid"
openssl verify -CAfile "$demo/svid/bundle.0.pem" "$demo/svid/svid.0.pem"
openssl x509 -in "$demo/svid/svid.0.pem" -noout -ext subjectAltName -enddate

echo
echo "== the workload fetches a JWT-SVID for audience spiffe://example.org/db, and validates it"
jwt=$("$ward" api fetch jwt --audience spiffe://example.org/db | tail -1)
echo "${jwt:0:60}..."
"$ward" api validate jwt --audience spiffe://example.org/db "$jwt"

echo
echo "quickstart: running. Each SVID rotation (at half-life) prints below; Ctrl-C stops everything."
"$ward" api watch --output json &
pids+=($!)
if [ -n "${WARD_QUICKSTART_SECONDS:-}" ]; then
  sleep "$WARD_QUICKSTART_SECONDS"
else
  wait "${pids[-1]}"
fi
