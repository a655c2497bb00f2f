#!/usr/bin/env bash
# Integration tests for the agent API of a real `ward server`: attestation (join_token, x509pop),
# mTLS, authorization of SVIDs and JWT-SVIDs, long-poll sync, renewal, eviction, ban, TLS 1.3-only
# enforcement and bounded requests. The agent side is curl and openssl: clients nobody here wrote.
#
#   agent_api_test.sh WARD
set -euo pipefail

WARD=$1
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib.sh
. "$ROOT/tests/lib.sh"
require_executables "$WARD"
for tool in openssl curl node base64; do
  command -v "$tool" >/dev/null 2>&1 || { echo "FAIL: required tool '$tool' not found" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ward-agent-api-test.XXXXXX")
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill -9 "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"

# An x509pop CA and node certificates, made with openssl only.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout popca.key -out popca.pem \
  -days 2 -subj /CN=popca -addext basicConstraints=critical,CA:TRUE 2>/dev/null
make_node() {  # make_node NAME CA_PREFIX
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.csr" \
    -subj "/CN=$1" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 1 -out "$1.pem" 2>/dev/null
}
make_node node1 popca
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout rogue.key -out rogue.pem \
  -days 2 -subj /CN=rogue -addext basicConstraints=critical,CA:TRUE 2>/dev/null
make_node node2 rogue

openssl rand -hex 32 > kek && chmod 600 kek
"$WARD" server run --data-dir "$WORK/data" --kek-file kek --audit-log "$WORK/audit.log" --port 0 \
  --metrics-address "" --x509pop-ca popca.pem --admin-spiffe-id spiffe://example.org/ops >server.log 2>&1 &
SERVER_PID=$!
disown  # killed at exit without a job-control report
for _ in $(seq 1 100); do
  grep -q '"ward server started"' server.log 2>/dev/null && break
  sleep 0.1
done
grep -q '"ward server started"' server.log || { echo "FAIL: server did not start"; cat server.log; exit 1; }
PORT=$(grep '"ward server started"' server.log | jget agent_api_port)
API=https://localhost:$PORT/v1/agent
export WARD_SERVER_SOCKET=$WORK/data/admin.sock
"$WARD" bundle show > bundle.pem

# new_csr NAME: a fresh key NAME.key and its CSR as base64 DER on stdout.
new_csr() {
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -subj /CN=x \
    -outform DER -out "$1.csr.der" 2>/dev/null
  base64 -w0 "$1.csr.der"
}
# to_pem: the "svid" array of a reply on stdin -> PEM chain.
to_pem() {
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);
    for (const c of (j.svid||j.results[0].svid)) console.log("-----BEGIN CERTIFICATE-----\n"+c.match(/.{1,64}/g).join("\n")+"\n-----END CERTIFICATE-----");});'
}
# call NAME METHOD PATH [BODY] [CERT]: HTTP status in $code, body in $body.
call() {
  local args=(-s -o "$WORK/reply" -w '%{http_code}' --cacert bundle.pem -X "$2")
  [ -n "${4:-}" ] && args+=(-H 'Content-Type: application/json' --data-binary "$4")
  [ -n "${5:-}" ] && args+=(--cert "$5.pem" --key "$5.key")
  code=$(curl "${args[@]}" "$API$3")
  body=$(cat "$WORK/reply")
}
expect_code() {  # expect_code NAME WANT [PATTERN]
  if [ "$code" = "$2" ] && { [ -z "${3:-}" ] || grep -q -- "$3" <<<"$body"; }; then pass "$1"
  else fail "$1" "want HTTP $2 ${3:+and /$3/}, got $code: ${body:0:300}"; fi
}

# --- join_token attestation ----------------------------------------------------------------------
TOKEN=$("$WARD" token generate --ttl 120 | tail -1)
call attest POST /attest "{\"join_token\":\"$TOKEN\",\"csr\":\"$(new_csr agent)\"}"
expect_code "join_token attestation" 200 '"agent_id"'
AGENT_ID=$(jget agent_id <<<"$body")
to_pem <<<"$body" > agent.pem
[[ "$AGENT_ID" == spiffe://example.org/ward/agent/join_token/* ]] && pass "agent ID shape" || fail "agent ID shape" "$AGENT_ID"
expect_ok "agent SVID verifies (openssl)" openssl verify -CAfile bundle.pem agent.pem
call reuse POST /attest "{\"join_token\":\"$TOKEN\",\"csr\":\"$(new_csr other)\"}"
expect_code "join token reuse refused" 403 "already used"
SHORT=$("$WARD" token generate --ttl 1 | tail -1)
sleep 2
call expired POST /attest "{\"join_token\":\"$SHORT\",\"csr\":\"$(new_csr other)\"}"
expect_code "expired join token refused" 403 "expired"
call badcsr POST /attest "{\"join_token\":\"x\",\"csr\":\"AAAA\"}"
expect_code "malformed CSR refused" 400 "CSR"
call nocert GET /sync
expect_code "no client certificate, no sync" 401 "mTLS"
"$WARD" agent show --id "$AGENT_ID" >/dev/null && pass "agent recorded" || fail "agent recorded"

# --- authorization -------------------------------------------------------------------------------
MINE=$("$WARD" entry create --output json --spiffe-id spiffe://example.org/web --parent-id "$AGENT_ID" \
  --selector unix:uid:1000 --dns web.local | jget id)
NESTED=$("$WARD" entry create --output json --spiffe-id spiffe://example.org/web/sidecar \
  --parent-id spiffe://example.org/web --selector unix:uid:1001 | jget id)
OTHER=$("$WARD" entry create --output json --spiffe-id spiffe://example.org/db \
  --parent-id spiffe://example.org/ward/agent/join_token/someoneelse --selector unix:uid:1 | jget id)
call sync GET /sync "" agent
expect_code "full sync" 200 '"full":true'
REV=$(jget revision <<<"$body")
SEQ=$(jget bundle_sequence <<<"$body")
grep -q "$MINE" <<<"$body" && grep -q "$NESTED" <<<"$body" && pass "sync holds the agent's entries (nested too)" ||
  fail "sync holds the agent's entries" "$body"
grep -q "$OTHER" <<<"$body" && fail "sync withholds other agents' entries" || pass "sync withholds other agents' entries"

call svid POST /svids "{\"csrs\":[{\"entry_id\":\"$MINE\",\"csr\":\"$(new_csr web)\"}]}" agent
expect_code "SVID for an authorized entry" 200 '"spiffe_id":"spiffe://example.org/web"'
to_pem <<<"$body" > web.pem
expect_ok "workload SVID verifies (openssl)" openssl verify -CAfile bundle.pem web.pem
openssl x509 -in web.pem -noout -ext subjectAltName | grep -q "DNS:web.local" && pass "entry DNS name in SVID" ||
  fail "entry DNS name in SVID"
expect_ok "workload SVID verifies (ward)" "$WARD" x509 verify --bundle bundle.pem --trust-domain example.org web.pem
call svid2 POST /svids "{\"csrs\":[{\"entry_id\":\"$OTHER\",\"csr\":\"$(new_csr db)\"}]}" agent
expect_code "SVID for another agent's entry refused" 200 '"code":"PERMISSION_DENIED"'
grep -q "\"entry_id\":\"$OTHER\".*\"event\":\"access.denied\"\|\"event\":\"access.denied\".*\"entry_id\":\"$OTHER\"" audit.log &&
  pass "refused entry audited" || fail "refused entry audited"
# The same CSR with one bit of its signature flipped.
BAD=$(new_csr bad | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{
  const b=Buffer.from(s,"base64");b[b.length-1]^=1;console.log(b.toString("base64"))})')
call svid3 POST /svids "{\"csrs\":[{\"entry_id\":\"$MINE\",\"csr\":\"$BAD\"}]}" agent
expect_code "CSR with a bad signature refused" 200 '"code":"INVALID_ARGUMENT"'
MANY=$(node -e 'console.log(JSON.stringify({csrs:Array.from({length:501},()=>({entry_id:"x",csr:"x"}))}))')
call many POST /svids "$MANY" agent
expect_code "oversized batch refused" 429 "at most 500"

call jwt POST /jwt '{"spiffe_id":"spiffe://example.org/web","audience":["db"]}' agent
expect_code "JWT-SVID for an authorized ID" 200 '"token"'
"$WARD" bundle show --format spiffe > bundle.json
expect_ok "JWT-SVID verifies" "$WARD" jwt verify --bundle bundle.json --audience db "$(jget token <<<"$body")"
call jwt2 POST /jwt '{"spiffe_id":"spiffe://example.org/db","audience":["db"]}' agent
expect_code "JWT-SVID for an unauthorized ID refused" 403 "not authorized"
call jwt3 POST /jwt '{"spiffe_id":"spiffe://example.org/web","audience":[]}' agent
expect_code "JWT-SVID without audience refused" 400 "audience"

# --- the admin API over mTLS ------------------------------------------------------------------------
admin_call() {  # admin_call CERT_DIR PATH: status in $code, body in $body
  code=$(curl -s -o "$WORK/reply" -w '%{http_code}' --cacert bundle.pem ${1:+--cert "$1/svid.pem" --key "$1/key.pem"} \
    "https://localhost:$PORT/v1/admin$2")
  body=$(cat "$WORK/reply")
}
mkdir -p ops adminwl plain
"$WARD" x509 mint --spiffe-id spiffe://example.org/ops --write ops >/dev/null
admin_call ops /v1/entries/count
expect_code "admin API over mTLS for a configured admin ID" 200 '"count"'
"$WARD" entry create --spiffe-id spiffe://example.org/adminwl \
  --parent-id spiffe://example.org/ward/agent/join_token/someoneelse --selector unix:uid:7 --admin >/dev/null
"$WARD" x509 mint --spiffe-id spiffe://example.org/adminwl --write adminwl >/dev/null
admin_call adminwl /v1/entries/count
expect_code "admin API over mTLS for an admin entry" 200 '"count"'
"$WARD" x509 mint --spiffe-id spiffe://example.org/plain --write plain >/dev/null
admin_call plain /v1/entries/count
expect_code "admin API refuses an ordinary SVID" 403 "may not use the admin API"
grep -q '"caller":"spiffe://example.org/plain".*"event":"access.denied"' audit.log && pass "mTLS admin refusal audited" ||
  fail "mTLS admin refusal audited"
admin_call "" /v1/entries/count
expect_code "admin API over TLS needs a certificate" 401 "X.509-SVID"

# --- incremental sync and long poll ----------------------------------------------------------------
call inc GET "/sync?revision=$REV&bundle_sequence=$SEQ" "" agent
# Other agents' entries (db, adminwl) changed since REV: none of it may reach this agent.
expect_code "incremental sync carries nothing of other agents" 200 '"deleted":\[\],"entries":\[\]'
( curl -s --cacert bundle.pem --cert agent.pem --key agent.key \
    "$API/sync?revision=$REV&bundle_sequence=$SEQ&wait=20" > longpoll.json ) &
POLL=$!
sleep 1
NEW=$("$WARD" entry create --output json --spiffe-id spiffe://example.org/new --parent-id "$AGENT_ID" \
  --selector unix:uid:2000 | jget id)
"$WARD" entry delete --id "$NESTED" >/dev/null
wait $POLL
grep -q "$NEW" longpoll.json && pass "long poll delivers the new entry" || fail "long poll delivers the new entry" "$(cat longpoll.json)"
REV2=$(jget revision < longpoll.json)
call inc2 GET "/sync?revision=$REV2&bundle_sequence=$SEQ" "" agent
if grep -q "$NESTED" longpoll.json || grep -q "\"deleted\":\[\"$NESTED\"\]" <<<"$body"; then
  pass "deleted entry withdrawn"; else fail "deleted entry withdrawn" "$(cat longpoll.json) / $body"; fi
# Entries nested under a withdrawn or renamed entry have no change of their own; the sync must
# still withdraw them.
TOP=$("$WARD" entry create --output json --spiffe-id spiffe://example.org/top --parent-id "$AGENT_ID" \
  --selector unix:uid:3000 | jget id)
MID=$("$WARD" entry create --output json --spiffe-id spiffe://example.org/top/mid \
  --parent-id spiffe://example.org/top --selector unix:uid:3001 | jget id)
LEAF=$("$WARD" entry create --output json --spiffe-id spiffe://example.org/top/mid/leaf \
  --parent-id spiffe://example.org/top/mid --selector unix:uid:3002 | jget id)
call chain GET /sync "" agent
REV3=$(jget revision <<<"$body")
grep -q "$LEAF" <<<"$body" && pass "three-level nesting is authorized" || fail "three-level nesting is authorized" "$body"
"$WARD" entry update --id "$MID" --spiffe-id spiffe://example.org/top/mid2 \
  --parent-id spiffe://example.org/top --selector unix:uid:3001 >/dev/null
call renamed GET "/sync?revision=$REV3&bundle_sequence=$SEQ" "" agent
deleted=$(jget deleted <<<"$body")
[[ "$deleted" == *"$LEAF"* && "$deleted" != *"$MID"* ]] &&
  pass "renaming an entry withdraws what was nested under its old name, not itself" ||
  fail "renaming an entry withdraws what was nested under its old name" "$body"
REV4=$(jget revision <<<"$body")
"$WARD" entry update --id "$MID" --spiffe-id spiffe://example.org/top/mid \
  --parent-id spiffe://example.org/top --selector unix:uid:3001 >/dev/null
call back GET "/sync?revision=$REV4&bundle_sequence=$SEQ" "" agent
REV5=$(jget revision <<<"$body")
"$WARD" entry delete --id "$TOP" >/dev/null
call cascade GET "/sync?revision=$REV5&bundle_sequence=$SEQ" "" agent
deleted=$(jget deleted <<<"$body")
[[ "$deleted" == *"$TOP"* && "$deleted" == *"$MID"* && "$deleted" == *"$LEAF"* ]] &&
  pass "deleting an entry withdraws everything nested under it" ||
  fail "deleting an entry withdraws everything nested under it" "$body"
call full GET /sync "" agent
grep -q "$MID" <<<"$body" && fail "a full sync agrees: nested entries are gone" "$body" ||
  pass "a full sync agrees: nested entries are gone"

call bundle GET /bundle "" agent
expect_code "bundle fetch" 200 '"x509-svid"'

# --- renewal supersedes the old SVID ---------------------------------------------------------------
cp agent.pem old-agent.pem && cp agent.key old-agent.key
call renew POST /renew "{\"csr\":\"$(new_csr agent)\"}" old-agent
expect_code "renew" 200 '"svid"'
to_pem <<<"$body" > agent.pem
call old GET /sync "" old-agent
expect_code "superseded SVID refused" 403 "superseded"
call new GET /sync "" agent
expect_code "renewed SVID accepted" 200 '"full":true'

# --- eviction and ban ------------------------------------------------------------------------------
"$WARD" agent evict --id "$AGENT_ID" >/dev/null
call evicted GET /sync "" agent
expect_code "evicted agent refused" 403 "evicted"
call pop POST /attest "{\"csr\":\"$(new_csr pop)\"}" node1
expect_code "x509pop attestation" 200 'x509pop'
POP_ID=$(jget agent_id <<<"$body")
to_pem <<<"$body" > pop.pem
call rogue POST /attest "{\"csr\":\"$(new_csr rogue2)\"}" node2
expect_code "x509pop with a foreign CA refused" 403 "does not chain"
"$WARD" agent ban --id "$POP_ID" >/dev/null
call banned GET /sync "" pop
expect_code "banned agent refused" 403 "banned"
call reattest POST /attest "{\"csr\":\"$(new_csr pop2)\"}" node1
expect_code "banned node cannot re-attest" 403 "banned"

# --- TLS 1.3 only, AES-GCM only -------------------------------------------------------------------
tls() { openssl s_client -connect "127.0.0.1:$PORT" -CAfile bundle.pem "$@" </dev/null 2>&1 || true; }
hello=$(tls -tls1_3)
grep -q "New, TLSv1.3\|Protocol  : TLSv1.3" <<<"$hello" && pass "TLS 1.3 handshake" ||
  fail "TLS 1.3 handshake" "$(tail -20 <<<"$hello")"
tls -tls1_2 | grep -q "Cipher is (NONE)\|alert protocol version\|handshake failure" && pass "TLS 1.2 refused" ||
  fail "TLS 1.2 refused" "$(tls -tls1_2 | tail -5)"
tls -tls1_3 -ciphersuites TLS_CHACHA20_POLY1305_SHA256 | grep -q "Cipher is (NONE)\|handshake failure" &&
  pass "ChaCha20 refused" || fail "ChaCha20 refused"
tls -tls1_3 -ciphersuites TLS_AES_256_GCM_SHA384 | grep -q "TLS_AES_256_GCM_SHA384" && pass "AES-256-GCM accepted" ||
  fail "AES-256-GCM accepted"

# --- bounded input and the audit chain ----------------------------------------------------------------
head -c 5000000 /dev/zero | tr '\0' 'a' > big.json
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert bundle.pem -X POST --data-binary @big.json "$API/attest")
[ "$code" = 413 ] && pass "oversized request refused (413)" || fail "oversized request refused" "got $code"
call junk POST /attest '{"csr":'
expect_code "malformed JSON refused" 400 "not valid JSON"
kill -0 "$SERVER_PID" && pass "server survived bad input" || fail "server survived bad input"
expect_ok "audit chain intact" "$WARD" audit verify audit.log
grep -q '"event":"identity.issued".*"type":"x509-svid"\|"type":"x509-svid".*"event":"identity.issued"' audit.log &&
  pass "issuance audited" || fail "issuance audited"

finish agent_api
