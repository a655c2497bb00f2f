#!/usr/bin/env bash
# Integration tests for `ward agent run` and the SPIFFE Workload API: a real server and a real
# agent on loopback, an independent gRPC client (@grpc/grpc-js, tests/interop/node) on the agent's
# socket, openssl on the fetched chain, npm jose on the fetched JWT-SVID.
#
#   workload_api_test.sh WARD
set -euo pipefail

WARD=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib.sh
. "$ROOT/tests/lib.sh"
require_executables "$WARD"
for tool in openssl node setpriv; do
  command -v "$tool" >/dev/null 2>&1 || { echo "FAIL: required tool '$tool' not found" >&2; exit 1; }
done
NODE_DIR=$ROOT/tests/interop/node
[ -f "$NODE_DIR/node_modules/@grpc/grpc-js/package.json" ] ||
  { echo "FAIL: @grpc/grpc-js missing; run tests/interop/install-clients.sh" >&2; exit 1; }
wl() { node "$NODE_DIR/workload_client.mjs" "$@"; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ward-wl-test.XXXXXX")
chmod 755 "$WORK"  # another user must reach the agent's socket (and be refused by identity)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  if [ -n "${KEEP_WORK:-}" ]; then echo "work folder kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
cd "$WORK"
openssl rand -hex 32 >kek
chmod 600 kek

start_server() {
  "$WARD" server run --data-dir "$WORK/srv" --kek-file "$WORK/kek" --port "${1:-0}" \
    --metrics-address "" --audit-log "$WORK/audit.log" --max-x509-ttl 60 >>server.log 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  for _ in $(seq 1 100); do
    [ "$(grep -c '"ward server started"' server.log 2>/dev/null)" -ge "${2:-1}" ] && return 0
    sleep 0.1
  done
  echo "FAIL: server did not start"; cat server.log; exit 1
}
start_agent() {  # start_agent NAME ARGS...
  local name=$1; shift
  "$WARD" agent run --server-port "$PORT" --data-dir "$WORK/$name" "$@" >>"$name.log" 2>&1 &
  AGENT_PID=$!
  PIDS+=("$AGENT_PID")
  for _ in $(seq 1 100); do
    grep -q '"ward agent started"' "$name.log" 2>/dev/null && return 0
    kill -0 "$AGENT_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
# wait_for DESCRIPTION SECONDS CMD...: polls CMD until it succeeds.
wait_for() {
  local name=$1 seconds=$2; shift 2
  for _ in $(seq 1 $((seconds * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

start_server
export WARD_SERVER_SOCKET=$WORK/srv/admin.sock
PORT=$(grep '"ward server started"' server.log | tail -1 | jget agent_api_port)
"$WARD" bundle show >bundle.pem
TOKEN=$("$WARD" token generate | tail -1)

# --- attestation and the socket ------------------------------------------------------------------
if start_agent agent --trust-bundle bundle.pem --join-token "$TOKEN"; then pass "agent attests with a join token"
else fail "agent attests with a join token" "$(cat agent.log)"; fi
SOCK=$WORK/agent/public/api.sock
AGENT_ID=$(grep '"ward agent started"' agent.log | jget agent_id)
[[ "$AGENT_ID" == spiffe://example.org/ward/agent/join_token/* ]] && pass "agent ID from the server" ||
  fail "agent ID from the server" "$AGENT_ID"
[ "$(stat -c %a "$SOCK")" = 666 ] && pass "Workload API socket is reachable by every user" ||
  fail "Workload API socket is reachable by every user" "$(stat -c %a "$SOCK")"
[ "$(stat -c %a agent/agent.key)" = 600 ] && [ "$(stat -c %a agent/agent.crt)" = 600 ] &&
  pass "agent key and SVID are 0600" || fail "agent key and SVID are 0600"
if grep -q "$TOKEN" agent.log server.log; then fail "join token kept out of logs"; else pass "join token kept out of logs"; fi

out=$(wl fetch-x509 "$SOCK" || true)
[[ "$out" == *'"PERMISSION_DENIED"'* ]] && pass "no entry: PermissionDenied" || fail "no entry: PermissionDenied" "$out"

# --- an entry for this user reaches the workload ----------------------------------------------------
UIDN=$(id -u)
wl await-x509 "$SOCK" spiffe://example.org/workload 20 >await.json &
WATCH=$!
sleep 1
T0=$(date +%s%3N)
ME=$("$WARD" entry create --output json --spiffe-id spiffe://example.org/workload \
  --parent-id "$AGENT_ID" --selector "unix:uid:$UIDN" --x509-ttl 60 --dns wl.local | jget id)
if wait_for "x509 fetch" 10 wl fetch-x509 "$SOCK" "$WORK/x509"; then pass "FetchX509SVID returns the SVID"
else fail "FetchX509SVID returns the SVID" "$(wl fetch-x509 "$SOCK" 2>&1)"; fi
summary=$(wl fetch-x509 "$SOCK" "$WORK/x509")
[ "$(jget svids.0.spiffe_id <<<"$summary")" = spiffe://example.org/workload ] &&
  pass "the SVID names the entry's SPIFFE ID" || fail "the SVID names the entry's SPIFFE ID" "$summary"
expect_ok "openssl verifies the fetched chain against the fetched bundle" openssl verify \
  -CAfile x509/bundle.pem -untrusted x509/chain.pem x509/leaf.pem
openssl pkey -inform DER -in x509/key.der -pubout -out x509/key.pub 2>/dev/null
openssl x509 -in x509/leaf.pem -pubkey -noout >x509/cert.pub
cmp -s x509/key.pub x509/cert.pub && pass "x509_svid_key is unencrypted PKCS#8 matching the leaf" ||
  fail "x509_svid_key is unencrypted PKCS#8 matching the leaf"
openssl x509 -in x509/leaf.pem -noout -ext subjectAltName | grep -q "URI:spiffe://example.org/workload" &&
  pass "leaf carries the SPIFFE ID as URI SAN" || fail "leaf carries the SPIFFE ID as URI SAN"
bundles=$(wl x509-bundles "$SOCK")
[ "$(node -e 'console.log(JSON.parse(process.argv[1])["spiffe://example.org"] || 0)' "$bundles")" -ge 1 ] &&
  pass "FetchX509Bundles keys the own bundle spiffe://example.org" || fail "FetchX509Bundles keys" "$bundles"
wait $WATCH || true
if grep -q at_ms await.json; then
  arrived=$(jget at_ms <await.json)
  pass "a new entry is served through the Workload API $((arrived - T0)) ms after \`ward entry create\` started"
else fail "a new entry is served through the Workload API" "$(cat await.json)"; fi

# --- JWT-SVIDs ---------------------------------------------------------------------------------------
verified=$(wl verify-jwt "$SOCK" db || true)
[ "$(jget payload.sub <<<"$verified")" = spiffe://example.org/workload ] &&
  pass "jose verifies the JWT-SVID against FetchJWTBundles" || fail "jose verifies the JWT-SVID" "$verified"
TOK=$(wl fetch-jwt "$SOCK" db | jget 0.token)
TOK2=$(wl fetch-jwt "$SOCK" db | jget 0.token)
[ "$TOK" = "$TOK2" ] && pass "a cached JWT-SVID is reused before its half-life" || fail "JWT-SVID reuse"
valid=$(wl validate "$SOCK" db "$TOK")
TOK_EXP=$(node -e 'console.log(JSON.parse(Buffer.from(process.argv[1].split(".")[1], "base64url")).exp)' "$TOK")
[ "$(jget spiffe_id <<<"$valid")" = spiffe://example.org/workload ] &&
  [ "$(jget claims.fields.aud.stringValue <<<"$valid")" = db ] &&
  [ "$(jget claims.fields.sub.stringValue <<<"$valid")" = spiffe://example.org/workload ] &&
  [ "$(jget claims.fields.exp.numberValue <<<"$valid")" = "$TOK_EXP" ] &&
  pass "ValidateJWTSVID returns the ID and claims (aud, sub, exp as the token has them)" ||
  fail "ValidateJWTSVID returns the ID and claims" "$valid"
# The agent built its JWT authority's precomputed table when it took the bundle, and found it
# again through the key objects its validations use.
tables=$(grep '"JWT authority tables built"' agent.log | head -1)
[ -n "$tables" ] && [ "$(jget ready <<<"$tables")" -ge 1 ] &&
  [ "$(jget ready <<<"$tables")" = "$(jget jwt_authorities <<<"$tables")" ] &&
  pass "the agent prepared the tables of its JWT authorities" ||
  fail "the agent prepared the tables of its JWT authorities" "${tables:-no such log line}"
out=$(wl validate "$SOCK" db "$TOK" - || true)
[[ "$out" == *INVALID_ARGUMENT*header* ]] && pass "ValidateJWTSVID without the security header: InvalidArgument" ||
  fail "ValidateJWTSVID without the security header: InvalidArgument" "$out"
out=$(wl validate "$SOCK" other "$TOK" || true)
[[ "$out" == *INVALID_ARGUMENT*audience* ]] && pass "ValidateJWTSVID refuses a wrong audience" ||
  fail "ValidateJWTSVID refuses a wrong audience" "$out"
out=$(wl fetch-jwt "$SOCK" "" || true)
[[ "$out" == *INVALID_ARGUMENT* ]] && pass "empty audience: InvalidArgument" || fail "empty audience: InvalidArgument" "$out"
out=$(wl validate "$SOCK" db "$(head -c 20000 /dev/zero | tr '\0' a)" || true)
[[ "$out" == *INVALID_ARGUMENT*longer* ]] && pass "ValidateJWTSVID refuses a token over 16 KiB" ||
  fail "ValidateJWTSVID refuses a token over 16 KiB" "$out"
out=$(wl validate "$SOCK" db "$(head -c 100000 /dev/zero | tr '\0' a)" || true)
[[ "$out" == *RESOURCE_EXHAUSTED* ]] && pass "a request over 64 KiB is refused (ResourceExhausted)" ||
  fail "a request over 64 KiB is refused" "$out"
expect_ok "the agent serves on after an oversized request" wl validate "$SOCK" db "$TOK"
expect_ok "ward api validate jwt agrees" "$WARD" api validate jwt --socket "unix://$SOCK" --audience db "$TOK"

# --- the standard's error cases --------------------------------------------------------------------
out=$(wl fetch-x509 "$SOCK" "" - || true)
[[ "$out" == *'"INVALID_ARGUMENT"'* ]] && pass "missing security header: InvalidArgument" ||
  fail "missing security header: InvalidArgument" "$out"
out=$(wl fetch-x509 "$SOCK" "" True || true)
[[ "$out" == *'"INVALID_ARGUMENT"'* ]] && pass "header value True (not true): InvalidArgument" ||
  fail "header value True: InvalidArgument" "$out"
out=$(wl wit "$SOCK" || true)
[[ "$out" == *'"UNIMPLEMENTED"'* ]] && pass "WIT-SVID RPC: Unimplemented" || fail "WIT-SVID RPC: Unimplemented" "$out"
# A copy the other user can read wherever the checkout lives (a clone under /root is 0700).
cp -r "$NODE_DIR" "$WORK/node-client"
chmod -R a+rX "$WORK/node-client"
out=$(setpriv --reuid 65534 --regid 65534 --clear-groups node "$WORK/node-client/workload_client.mjs" \
  fetch-x509 "$SOCK" 2>&1 || true)
[[ "$out" == *'"PERMISSION_DENIED"'* ]] && pass "another user with no entry: PermissionDenied" ||
  fail "another user with no entry: PermissionDenied" "$out"

# --- the ward api verbs and SPIFFE_ENDPOINT_SOCKET ---------------------------------------------------
expect_ok "ward api fetch x509 via SPIFFE_ENDPOINT_SOCKET" env SPIFFE_ENDPOINT_SOCKET="unix://$SOCK" \
  "$WARD" api fetch x509 --write "$WORK/cli"
[ "$(stat -c %a cli/svid.0.key)" = 600 ] && pass "fetched key written 0600" || fail "fetched key written 0600"
expect_ok "written chain verifies" openssl verify -CAfile cli/bundle.0.pem cli/svid.0.pem
expect_fail "endpoint with an authority refused" 2 "authority" env SPIFFE_ENDPOINT_SOCKET="unix://host$SOCK" \
  "$WARD" api fetch x509
expect_fail "tcp endpoint with a host name refused" 2 "IP address" env SPIFFE_ENDPOINT_SOCKET=tcp://localhost:1 \
  "$WARD" api fetch x509
expect_fail "unknown scheme refused" 2 "scheme" "$WARD" api fetch x509 --socket http://127.0.0.1:1

# --- deletion withdraws; a second entry is added to open streams -------------------------------------
wl watch "$SOCK" 6 >watch2.jsonl &
WATCH=$!
sleep 1
SECOND=$("$WARD" entry create --output json --spiffe-id spiffe://example.org/second \
  --parent-id "$AGENT_ID" --selector "unix:uid:$UIDN" --x509-ttl 60 | jget id)
sleep 1.5
"$WARD" entry delete --id "$SECOND" >/dev/null
wait $WATCH || true
counts=$(node -e 'const l=require("fs").readFileSync(process.argv[1],"utf8").trim().split("\n").map(JSON.parse);
  console.log(l.map(m=>m.svids?m.svids.length:"E").join(","))' watch2.jsonl)
[[ "$counts" == 1,2*,1 ]] && pass "stream: entry added, then withdrawn on delete ($counts)" ||
  fail "stream: entry added, then withdrawn on delete" "$counts"

# --- rotation pushes a new SVID on an open stream before the old one expires (60 s TTL) ---------------
wl watch "$SOCK" 45 >watch3.jsonl &
WATCH=$!
wait $WATCH || true
rotation=$(node -e 'const l=require("fs").readFileSync(process.argv[1],"utf8").trim().split("\n").map(JSON.parse).filter(m=>m.svids);
  const s=l.map(m=>m.svids[0]); const changed=s.findIndex(x=>x.serial!==s[0].serial);
  if (changed<0) { console.log("none"); process.exit(0); }
  const oldExp=Date.parse(s[0].valid_to); console.log(oldExp - l[changed].at_ms > 0 ? "before-expiry" : "late");' watch3.jsonl)
[ "$rotation" = before-expiry ] && pass "rotation pushes a new SVID before the old one expires" ||
  fail "rotation pushes a new SVID before the old one expires" "$rotation: $(cat watch3.jsonl | cut -c1-200)"

# --- the server goes away: cached SVIDs are still served; it comes back: sync resumes ---------------
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
expect_ok "server down: cached SVID still served" wl fetch-x509 "$SOCK"
start_server "$PORT" 2
"$WARD" entry create --spiffe-id spiffe://example.org/after --parent-id "$AGENT_ID" \
  --selector "unix:uid:$UIDN" --x509-ttl 60 >/dev/null
if wait_for "resync" 40 sh -c "node '$NODE_DIR/workload_client.mjs' fetch-x509 '$SOCK' | grep -q spiffe://example.org/after"; then
  pass "server back: sync resumes and the new entry arrives"
else fail "server back: sync resumes" "$(tail -5 agent.log)"; fi

# --- restart resumes the saved identity; ban stops the agent ----------------------------------------
wl watch "$SOCK" 30 >watch4.jsonl &
PIDS+=($!)
wait_for "stream open before SIGTERM" 10 sh -c 'test -s watch4.jsonl' ||
  fail "a stream is open before SIGTERM" "$(cat watch4.jsonl)"
kill "$AGENT_PID"
T0=$(date +%s%3N)
wait "$AGENT_PID" 2>/dev/null || true
stopped_ms=$(( $(date +%s%3N) - T0 ))
[ "$stopped_ms" -lt 3000 ] &&
  pass "agent stops promptly on SIGTERM, long poll and a stream in flight (${stopped_ms} ms)" ||
  fail "agent stops promptly on SIGTERM" "${stopped_ms} ms"
if wait_for "stream ended" 5 grep -q '"error":"UNAVAILABLE".*shutting down' watch4.jsonl; then
  pass "an open stream is ended with UNAVAILABLE when the agent stops"
else fail "an open stream is ended with UNAVAILABLE when the agent stops" "$(cat watch4.jsonl | cut -c1-300)"; fi
: >agent.log
if start_agent agent --trust-bundle bundle.pem; then
  grep -q "resuming the saved agent identity" agent.log && pass "restarted agent resumes its saved identity" ||
    fail "restarted agent resumes its saved identity" "$(tail -3 agent.log)"
else fail "restarted agent resumes its saved identity" "$(tail -5 agent.log)"; fi
wait_for "fetch after restart" 10 wl fetch-x509 "$SOCK" && pass "restarted agent serves again" ||
  fail "restarted agent serves again"
"$WARD" agent ban --id "$AGENT_ID" >/dev/null
for _ in $(seq 1 400); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$AGENT_PID" 2>/dev/null; then fail "banned agent stops" "$(tail -3 agent.log)"
else
  grep -q "banned" agent.log && pass "banned agent stops and says why" || fail "banned agent says why"
fi

finish workload_api_test
