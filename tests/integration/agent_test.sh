#!/usr/bin/env bash
# Integration tests for `ward agent run` beyond the Workload API basics: x509pop node attestation,
# automatic re-attestation after eviction, and forced rotation (a tainted X.509 or JWT authority
# makes the agent re-issue what it signed at once). Real server and agent processes on loopback.
#
#   agent_test.sh WARD
set -euo pipefail

WARD=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib.sh
. "$ROOT/tests/lib.sh"
require_executables "$WARD"
for tool in openssl node; do
  command -v "$tool" >/dev/null 2>&1 || { echo "FAIL: required tool '$tool' not found" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ward-agent-test.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  if [ -n "${KEEP_WORK:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
cd "$WORK"

# An x509pop CA and a node certificate, made with openssl only.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout popca.key -out popca.pem \
  -days 2 -subj /CN=popca -addext basicConstraints=critical,CA:TRUE 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout node.key -out node.csr \
  -subj /CN=node1 2>/dev/null
openssl x509 -req -in node.csr -CA popca.pem -CAkey popca.key -CAcreateserial -days 1 -out node.pem 2>/dev/null
openssl rand -hex 32 >kek
chmod 600 kek

"$WARD" server run --data-dir srv --kek-file kek --port 0 --metrics-address "" --audit-log audit.log \
  --x509pop-ca popca.pem >server.log 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q '"ward server started"' server.log 2>/dev/null && break; sleep 0.1; done
export WARD_SERVER_SOCKET=$WORK/srv/admin.sock
PORT=$(grep '"ward server started"' server.log | jget agent_api_port)
"$WARD" bundle show >bundle.pem

"$WARD" agent run --server-port "$PORT" --trust-bundle bundle.pem --x509pop-cert node.pem \
  --x509pop-key node.key --data-dir agent >agent.log 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q '"ward agent started"' agent.log 2>/dev/null && break; sleep 0.1; done
AGENT_ID=$(grep '"ward agent started"' agent.log | jget agent_id)
[[ "$AGENT_ID" == spiffe://example.org/ward/agent/x509pop/* ]] && pass "agent attests with x509pop" ||
  fail "agent attests with x509pop" "$(cat agent.log)"
export SPIFFE_ENDPOINT_SOCKET=unix://$WORK/agent/public/api.sock

"$WARD" entry create --spiffe-id spiffe://example.org/app --parent-id "$AGENT_ID" \
  --selector "unix:uid:$(id -u)" >/dev/null
serial() { "$WARD" api fetch x509 --output json | jget svids.0.chain.0.serial; }
# until DESCRIPTION SECONDS CMD...: retries CMD every 0.1 s.
until_ok() {
  local seconds=$1; shift
  for _ in $(seq 1 $((seconds * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}
until_ok 10 "$WARD" api fetch x509 && pass "x509pop agent serves an SVID" || fail "x509pop agent serves an SVID"
S1=$(serial)

# --- eviction: an x509pop agent attests again by itself ---------------------------------------------
"$WARD" agent evict --id "$AGENT_ID" >/dev/null
if until_ok 40 sh -c "[ \$(grep -c '\"node attested\"' '$WORK/agent.log') -ge 2 ]"; then
  pass "evicted x509pop agent attests again"
else fail "evicted x509pop agent attests again" "$(tail -5 agent.log)"; fi
"$WARD" entry create --spiffe-id spiffe://example.org/after-evict --parent-id "$AGENT_ID" \
  --selector "unix:uid:$(id -u)" >/dev/null
until_ok 20 sh -c "'$WARD' api fetch x509 --output json | grep -q after-evict" &&
  pass "after re-attestation new entries still arrive" || fail "after re-attestation new entries still arrive"

# --- a tainted X.509 authority: its SVIDs are re-issued at once ------------------------------------
S1=$(serial)
OLD=$("$WARD" authority x509 show --output json | jget authorities.0.id)
"$WARD" authority x509 prepare >/dev/null
"$WARD" authority x509 activate >/dev/null
[ "$(serial)" = "$S1" ] && pass "activation alone does not re-issue (SVIDs stay valid)" ||
  fail "activation alone does not re-issue"
T0=$(date +%s%3N)
"$WARD" authority x509 taint --id "$OLD" >/dev/null
if until_ok 15 sh -c "[ \"\$('$WARD' api fetch x509 --output json | node -e 'let s=\"\";process.stdin.on(\"data\",d=>s+=d).on(\"end\",()=>console.log(JSON.parse(s).svids[0].chain[0].serial))')\" != '$S1' ]"; then
  pass "tainting the X.509 authority re-issues its SVIDs ($(( $(date +%s%3N) - T0 )) ms)"
else fail "tainting the X.509 authority re-issues its SVIDs" "$(tail -3 agent.log)"; fi
"$WARD" api fetch x509 --write "$WORK/new" >/dev/null
NEW_CA=$("$WARD" authority x509 show --output json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>
  console.log(JSON.parse(s).authorities.find(a=>a.state==="active").id))')
issuer_serial=$(openssl x509 -in "$WORK/new/svid.0.pem" -noout -ext authorityKeyIdentifier | tail -1 | tr -d ' :' )
"$WARD" bundle show | awk -v want="$NEW_CA" 'BEGIN{RS="-----END CERTIFICATE-----\n"} {print $0 "-----END CERTIFICATE-----" > ("ca" NR ".pem")}'
matched=no
for ca in ca*.pem; do
  [ -s "$ca" ] || continue
  serial_hex=$(openssl x509 -in "$ca" -noout -serial 2>/dev/null | cut -d= -f2 | tr 'A-F' 'a-f')
  ski=$(openssl x509 -in "$ca" -noout -ext subjectKeyIdentifier 2>/dev/null | tail -1 | tr -d ' :')
  if [ "$serial_hex" = "$NEW_CA" ] && [ "$ski" = "$issuer_serial" ]; then matched=yes; fi
done
[ "$matched" = yes ] && pass "the re-issued SVID is signed by the new authority" ||
  fail "the re-issued SVID is signed by the new authority" "AKI $issuer_serial, new CA $NEW_CA"

# --- a tainted JWT authority: cached JWT-SVIDs are dropped ------------------------------------------
TOK1=$("$WARD" api fetch jwt --audience db --spiffe-id spiffe://example.org/app | tail -1)
kid() { node -e 'console.log(JSON.parse(Buffer.from(process.argv[1].split(".")[0],"base64url")).kid)' "$1"; }
JOLD=$("$WARD" authority jwt show --output json | jget authorities.0.id)
[ "$(kid "$TOK1")" = "$JOLD" ] || fail "JWT signed by the active JWT authority" "$(kid "$TOK1") vs $JOLD"
"$WARD" authority jwt prepare >/dev/null
"$WARD" authority jwt activate >/dev/null
"$WARD" authority jwt taint --id "$JOLD" >/dev/null
if until_ok 15 sh -c "t=\$('$WARD' api fetch jwt --audience db --spiffe-id spiffe://example.org/app | tail -1);
    [ \"\$(node -e 'console.log(JSON.parse(Buffer.from(process.argv[1].split(\".\")[0],\"base64url\")).kid)' \"\$t\")\" != '$JOLD' ]"; then
  pass "tainting the JWT authority replaces the cached JWT-SVID"
else fail "tainting the JWT authority replaces the cached JWT-SVID"; fi

finish agent_test
