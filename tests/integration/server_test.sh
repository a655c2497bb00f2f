#!/usr/bin/env bash
# Integration tests for `ward server run`: a real server process on a Unix admin socket and a
# loopback metrics port, driven only through the `ward` CLI, openssl, curl and promtool.
#
#   server_test.sh WARD [PROMTOOL]
#
# Every case prints PASS or FAIL; the script ends with "N passed, N failed" and exits 1 on failure.
set -euo pipefail

WARD=$1
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PROMTOOL=${2:-$ROOT/.cache/tools/promtool}
# shellcheck source=../lib.sh
. "$ROOT/tests/lib.sh"
require_executables "$WARD" "$PROMTOOL"
for tool in openssl curl setpriv node; do
  command -v "$tool" >/dev/null 2>&1 || { echo "FAIL: required tool '$tool' not found" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ward-server-test.XXXXXX")
chmod 755 "$WORK"  # other users must reach the admin socket (to be refused by uid, and audited)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

openssl rand -hex 32 > "$WORK/kek"
chmod 600 "$WORK/kek"
mkdir -p "$WORK/pub"

# start_server NAME ARGS...: starts a server with its own data dir, waits until it is healthy,
# and sets SERVER_PID, SOCK and METRICS.
start_server() {
  local name=$1; shift
  SOCK="$WORK/pub/$name.sock"
  "$WARD" server run --data-dir "$WORK/$name" --admin-socket "$SOCK" --kek-file "$WORK/kek" \
    --audit-log "$WORK/$name.audit" --metrics-address 127.0.0.1:0 --port 0 "$@" >"$WORK/$name.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  for _ in $(seq 1 100); do
    if grep -q '"ward server started"' "$WORK/$name.log" 2>/dev/null; then
      METRICS=127.0.0.1:$(grep '"ward server started"' "$WORK/$name.log" | tail -1 | jget metrics_port)
      return 0
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "FAIL: server $name did not start:"; cat "$WORK/$name.log"; exit 1
}

# --- A. lifecycle through the CLI --------------------------------------------------------------
start_server main
export WARD_SERVER_SOCKET=$SOCK
expect_ok "healthcheck" "$WARD" healthcheck
expect_fail "a second server on the same data directory refused" 1 "in use by another ward server" \
  "$WARD" server run --data-dir "$WORK/main" --admin-socket "$WORK/pub/second.sock" \
  --kek-file "$WORK/kek" --audit-log "$WORK/second.audit" --metrics-address "" --port 0
expect_ok "the first server still answers" "$WARD" healthcheck
PARENT=spiffe://example.org/ward/agent/join_token/test
entry_json=$("$WARD" entry create --output json --spiffe-id spiffe://example.org/web \
  --parent-id "$PARENT" --selector unix:uid:1000 --selector unix:gid:1000 --dns web.example.org)
ENTRY_ID=$(jget id <<<"$entry_json")
[ ${#ENTRY_ID} -eq 32 ] && pass "entry create returns an ID" || fail "entry create returns an ID" "$entry_json"
expect_fail "duplicate entry refused" 1 "same SPIFFE ID" "$WARD" entry create --spiffe-id \
  spiffe://example.org/web --parent-id "$PARENT" --selector unix:gid:1000 --selector unix:uid:1000
expect_fail "upper-case trust domain refused" 1 "lower case" "$WARD" entry create \
  --spiffe-id spiffe://Example.org/web --parent-id "$PARENT" --selector unix:uid:1
expect_fail "foreign trust domain refused" 1 "not in trust domain" "$WARD" entry create \
  --spiffe-id spiffe://other.org/web --parent-id "$PARENT" --selector unix:uid:1
expect_fail "malformed selector refused" 1 "type:value" "$WARD" entry create \
  --spiffe-id spiffe://example.org/x --parent-id "$PARENT" --selector nocolon
expect_fail "missing selectors refused" 1 "at least one selector" "$WARD" entry create \
  --spiffe-id spiffe://example.org/x --parent-id spiffe://example.org/not-an-agent
expect_fail "TTL above the maximum refused" 1 "x509_svid_ttl" "$WARD" entry create \
  --spiffe-id spiffe://example.org/x --parent-id "$PARENT" --selector unix:uid:1 --x509-ttl 999999
[ "$("$WARD" entry count --output json | jget count)" = 1 ] && pass "entry count" || fail "entry count"
show=$("$WARD" entry show --spiffe-id spiffe://example.org/web)
grep -q "unix:gid:1000" <<<"$show" && grep -q "web.example.org" <<<"$show" &&
  pass "entry show by SPIFFE ID" || fail "entry show by SPIFFE ID" "$show"
expect_ok "entry update" "$WARD" entry update --id "$ENTRY_ID" --spiffe-id spiffe://example.org/web \
  --parent-id "$PARENT" --selector unix:uid:1000 --x509-ttl 600
[ "$("$WARD" entry show --id "$ENTRY_ID" --output json | jget entries.0.x509_svid_ttl)" = 600 ] &&
  pass "update persisted" || fail "update persisted"
expect_fail "unknown entry" 1 "entry not found" "$WARD" entry show --id 0123456789abcdef0123456789abcdef

token_out=$("$WARD" token generate --ttl 120)
TOKEN=$(tail -1 <<<"$token_out")
[[ "$TOKEN" =~ ^[0-9a-f]{64}$ ]] && pass "token generate prints the token last" || fail "token generate" "$token_out"
if grep -q "$TOKEN" "$WORK/main.audit" "$WORK/main.log"; then fail "join token kept out of logs"
else pass "join token kept out of logs"; fi

mkdir -p "$WORK/mint"
expect_ok "x509 mint" "$WARD" x509 mint --spiffe-id spiffe://example.org/minted --ttl 600 --write "$WORK/mint"
[ "$(stat -c %a "$WORK/mint/key.pem")" = 600 ] && pass "minted key is 0600" || fail "minted key is 0600"
expect_ok "openssl verifies the minted SVID" openssl verify -CAfile "$WORK/mint/bundle.pem" "$WORK/mint/svid.pem"
openssl x509 -in "$WORK/mint/svid.pem" -noout -ext subjectAltName | grep -q "URI:spiffe://example.org/minted" &&
  pass "minted SVID carries the SPIFFE ID" || fail "minted SVID carries the SPIFFE ID"
"$WARD" bundle show --format spiffe > "$WORK/bundle.json"
expect_ok "ward verifies the minted SVID" "$WARD" x509 verify --bundle "$WORK/bundle.json" "$WORK/mint/svid.pem"
JWT=$("$WARD" jwt mint --spiffe-id spiffe://example.org/minted --audience db | tail -1)
expect_ok "ward verifies the minted JWT-SVID" "$WARD" jwt verify --bundle "$WORK/bundle.json" --audience db "$JWT"
expect_fail "JWT-SVID for another audience refused" 1 "audience" "$WARD" jwt verify \
  --bundle "$WORK/bundle.json" --audience other "$JWT"
expect_fail "mint outside the trust domain refused" 1 "not in trust domain" "$WARD" jwt mint \
  --spiffe-id spiffe://other.org/x --audience db
expect_fail "unknown agent" 1 "agent not found" "$WARD" agent show --id spiffe://example.org/ward/agent/x
expect_ok "entry delete" "$WARD" entry delete --id "$ENTRY_ID"
[ "$("$WARD" entry count --output json | jget count)" = 0 ] && pass "count after delete" || fail "count after delete"

# --- B. the admin socket refuses other uids, and audits the refusal ------------------------------
# A copy of the binary the other user can run wherever the checkout lives (/root is 0700).
cp "$WARD" "$WORK/pub/ward" && chmod 755 "$WORK/pub/ward"
expect_fail "uid 65534 refused" 1 "may not use the admin API" setpriv --reuid 65534 --regid 65534 \
  --clear-groups "$WORK/pub/ward" healthcheck --socket "$SOCK"
grep -q '"caller":"uid:65534.*"event":"access.denied"' "$WORK/main.audit" &&
  pass "refusal audited" || fail "refusal audited"

# --- C. metrics and health -----------------------------------------------------------------------
curl -sf "http://$METRICS/metrics" > "$WORK/metrics.txt"
if "$PROMTOOL" check metrics < "$WORK/metrics.txt" >"$WORK/promtool.out" 2>&1; then pass "promtool check metrics"
else fail "promtool check metrics" "$(cat "$WORK/promtool.out")"; fi
grep -q '^ward_svids_issued_total{type="x509"} 1$' "$WORK/metrics.txt" && pass "issued counter" ||
  fail "issued counter" "$(grep issued "$WORK/metrics.txt")"
grep -q 'ward_signing_duration_seconds_count{type="x509"} 1' "$WORK/metrics.txt" && pass "signing histogram" ||
  fail "signing histogram"
grep -q 'ward_datastore_duration_seconds_count{op="create_entries"}' "$WORK/metrics.txt" && pass "datastore latency histogram" ||
  fail "datastore latency histogram"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$METRICS/healthz")" = 200 ] && pass "/healthz" || fail "/healthz"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$METRICS/readyz")" = 200 ] && pass "/readyz" || fail "/readyz"

# --- D. forced rotation: prepare, activate, taint, revoke ------------------------------------------
OLD=$("$WARD" authority x509 show --output json | jget authorities.0.id)
expect_ok "x509 prepare" "$WARD" authority x509 prepare
[ "$("$WARD" bundle show | grep -c 'BEGIN CERTIFICATE')" = 2 ] && pass "prepared authority published" ||
  fail "prepared authority published"
expect_ok "x509 activate" "$WARD" authority x509 activate
expect_fail "untainted authority cannot be revoked" 1 "taint" "$WARD" authority x509 revoke --id "$OLD"
expect_ok "x509 taint" "$WARD" authority x509 taint --id "$OLD"
expect_ok "x509 revoke" "$WARD" authority x509 revoke --id "$OLD"
[ "$("$WARD" bundle show | grep -c 'BEGIN CERTIFICATE')" = 1 ] && pass "revoked authority left the bundle" ||
  fail "revoked authority left the bundle"
grep -q '"event":"identity.revoked"' "$WORK/main.audit" && pass "revocation audited" || fail "revocation audited"
expect_fail "old SVID no longer verifies" 1 "verification failed" "$WARD" x509 verify \
  --bundle <("$WARD" bundle show) --trust-domain example.org "$WORK/mint/svid.pem"
JOLD=$("$WARD" authority jwt show --output json | jget authorities.0.id)
expect_ok "jwt prepare+activate+taint+revoke" sh -c "'$WARD' authority jwt prepare >/dev/null &&
  '$WARD' authority jwt activate >/dev/null && '$WARD' authority jwt taint --id $JOLD >/dev/null &&
  '$WARD' authority jwt revoke --id $JOLD >/dev/null"

# --- E. the audit chain --------------------------------------------------------------------------
expect_ok "audit chain intact" "$WARD" audit verify "$WORK/main.audit"
cp "$WORK/main.audit" "$WORK/tampered.audit"
sed -i '5s/"access.granted"/"access.denied"/' "$WORK/tampered.audit"
expect_fail "tampering detected" 1 "broken at record 6" "$WARD" audit verify "$WORK/tampered.audit"

# --- F. kill -9 loses nothing acknowledged ---------------------------------------------------------
ACTIVE=$("$WARD" authority x509 show --output json |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).authorities.find(a=>a.state==="active").id))')
acked=0
for i in $(seq 1 25); do
  "$WARD" entry create --spiffe-id "spiffe://example.org/crash/$i" --parent-id "$PARENT" \
    --selector unix:uid:$i >/dev/null && acked=$((acked + 1))
done
kill -9 "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
start_server main
[ "$("$WARD" entry count --output json | jget count)" = "$acked" ] && pass "all $acked acknowledged entries survived kill -9" ||
  fail "acknowledged entries survived kill -9"
AFTER=$("$WARD" authority x509 show --output json |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).authorities.find(a=>a.state==="active").id))')
[ "$ACTIVE" = "$AFTER" ] && pass "same CA authority after kill -9" || fail "same CA authority after kill -9" "$ACTIVE vs $AFTER"
expect_ok "audit chain continues across restart" "$WARD" audit verify "$WORK/main.audit"
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
if [ -S "$SOCK" ]; then fail "clean shutdown removes the socket"; else pass "clean shutdown removes the socket"; fi

# --- G. scheduled rotation with short periods: no validation gap ----------------------------------
start_server rot --x509-ca-rotation 6 --key-rotation 12 --rotation-grace 2 --max-x509-ttl 10
export WARD_SERVER_SOCKET=$SOCK
failures=0
checked=0
declare -A ids
mkdir -p "$WORK/rot"
for i in $(seq 1 24); do
  "$WARD" x509 mint --spiffe-id spiffe://example.org/rot --ttl 10 --write "$WORK/rot" >/dev/null
  cp "$WORK/rot/svid.pem" "$WORK/rot/svid-$i.pem"
  "$WARD" bundle show --format spiffe > "$WORK/rot/bundle.json"
  # Every SVID minted so far that still has time left (two seconds of margin, so it cannot
  # expire between this check and the verification) must verify against the current bundle.
  for j in $(seq "$i" -1 1); do  # newest first: it has the most time left
    openssl x509 -checkend 2 -noout -in "$WORK/rot/svid-$j.pem" >/dev/null 2>&1 || continue
    checked=$((checked + 1))
    if ! "$WARD" x509 verify --bundle "$WORK/rot/bundle.json" "$WORK/rot/svid-$j.pem" >/dev/null 2>"$WORK/rot/err"; then
      failures=$((failures + 1)); echo "      svid-$j at step $i: $(cat "$WORK/rot/err")"
    fi
  done
  ids[$("$WARD" authority x509 show --output json |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).authorities.find(a=>a.state==="active").id))')]=1
  sleep 1
done
[ "$failures" -eq 0 ] && [ "$checked" -ge 24 ] && pass "no unexpired SVID failed validation across rotations ($checked checks)" ||
  fail "validation gap" "$failures failures in $checked checks"
[ "${#ids[@]}" -ge 3 ] && pass "the CA rotated ${#ids[@]} times in 24 s" || fail "CA rotated" "${#ids[@]} authorities"

# --- H. kill -9 in the middle of rotations: the CA resumes and trusts what it issued ---------------
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
mkdir -p "$WORK/crash-out"
lost=0
for round in 1 2 3 4 5; do
  start_server crash --x509-ca-rotation 2 --key-rotation 4 --rotation-grace 1 --max-x509-ttl 30
  export WARD_SERVER_SOCKET=$SOCK
  "$WARD" x509 mint --spiffe-id spiffe://example.org/crash --ttl 30 --write "$WORK/crash-out" >/dev/null
  cp "$WORK/crash-out/svid.pem" "$WORK/crash-out/svid-$round.pem"
  # Kill at an arbitrary point of the rotation schedule (the ticker rotates every second or two).
  sleep "0.$((RANDOM % 9 + 1))"
  kill -9 "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
done
start_server crash --x509-ca-rotation 2 --key-rotation 4 --rotation-grace 1 --max-x509-ttl 30
export WARD_SERVER_SOCKET=$SOCK
"$WARD" bundle show --format spiffe > "$WORK/crash-out/bundle.json"
for round in 1 2 3 4 5; do
  "$WARD" x509 verify --bundle "$WORK/crash-out/bundle.json" "$WORK/crash-out/svid-$round.pem" >/dev/null 2>&1 || lost=$((lost + 1))
done
[ "$lost" -eq 0 ] && pass "SVIDs issued before five kill -9s during rotation still verify" ||
  fail "SVIDs lost trust after kill -9 during rotation" "$lost of 5"
expect_ok "CA signs after the crashes" "$WARD" x509 mint --spiffe-id spiffe://example.org/after --write "$WORK/crash-out"
expect_ok "audit chain intact after crashes" "$WARD" audit verify "$WORK/crash.audit"

finish server
