#!/usr/bin/env bash
# Federation between real `ward server` processes: bundle endpoints in both profiles
# (https_spiffe, https_web), the federation client's polling at the refresh hint, refusal of
# endpoints that do not authenticate, ending a relationship, and manually set bundles.
#
#   federation_test.sh WARD
set -euo pipefail

WARD=$1
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib.sh
. "$ROOT/tests/lib.sh"
require_executables "$WARD"
for tool in openssl curl node; do
  command -v "$tool" >/dev/null 2>&1 || { echo "FAIL: required tool '$tool' not found" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ward-federation-test.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
openssl rand -hex 32 > kek && chmod 600 kek

# https_web credentials for c.org's endpoint, from an openssl-made CA.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout webca.key -out webca.pem \
  -days 2 -subj /CN=webca -addext basicConstraints=critical,CA:TRUE 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout web.key -out web.csr \
  -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > web.ext
openssl x509 -req -in web.csr -CA webca.pem -CAkey webca.key -CAcreateserial -days 1 -extfile web.ext \
  -out web.pem 2>/dev/null

# start NAME TD ARGS...: sets FED_<NAME> (bundle endpoint port) and SOCK_<NAME>.
start() {
  local name=$1 td=$2; shift 2
  "$WARD" server run --trust-domain "$td" --data-dir "$WORK/$name" --kek-file kek --port 0 \
    --metrics-address "" --audit-log "$WORK/$name.audit" --federation-port 0 --bundle-refresh-hint 1 \
    "$@" >"$name.log" 2>&1 &
  PIDS+=($!)
  disown  # killed at exit without a job-control report
  for _ in $(seq 1 100); do
    grep -q '"ward server started"' "$name.log" 2>/dev/null && break
    sleep 0.1
  done
  grep -q '"ward server started"' "$name.log" || { echo "FAIL: $name did not start"; cat "$name.log"; exit 1; }
  printf -v "FED_$name" '%s' "$(grep '"ward server started"' "$name.log" | jget federation_port)"
  printf -v "SOCK_$name" '%s' "$WORK/$name/admin.sock"
}
start a a.org
start b b.org
start c c.org --federation-profile https_web --federation-cert web.pem --federation-key web.key

a() { "$WARD" "$@" --socket "$SOCK_a"; }
b() { "$WARD" "$@" --socket "$SOCK_b"; }
b bundle show --format spiffe > b-bundle.json
b bundle show > b-bundle.pem

# seq_of TD: the sequence of TD's bundle as a.org holds it ("none" when absent).
seq_of() {
  a bundle list --output json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{
    const b=JSON.parse(s).bundles.find(x=>x.trust_domain===process.argv[1]);console.log(b?b.sequence:"none")})' "$1"
}
# wait_for DESCRIPTION SECONDS CMD...: retries CMD until it succeeds or time runs out.
wait_for() {
  local what=$1 secs=$2; shift 2
  for _ in $(seq 1 $((secs * 5))); do
    if "$@" >/dev/null 2>&1; then pass "$what"; return; fi
    sleep 0.2
  done
  fail "$what"
}
b_seq() { b bundle show --format spiffe | jget spiffe_sequence; }

# --- the endpoint serves the bundle without client authentication -----------------------------------
code=$(curl -s -o endpoint.json -w '%{http_code}' --cacert b-bundle.pem "https://localhost:$FED_b/")
[ "$code" = 200 ] && [ "$(jget spiffe_sequence < endpoint.json)" = "$(b_seq)" ] &&
  pass "bundle endpoint serves the bundle to an anonymous client" || fail "bundle endpoint" "$code"
expect_fail "bundle endpoint refuses TLS 1.2" 35 "" curl -s --tlsv1.2 --tls-max 1.2 --cacert b-bundle.pem \
  "https://localhost:$FED_b/"

# --- https_spiffe: a.org follows b.org -----------------------------------------------------------------
expect_ok "federation create (https_spiffe)" a federation create --trust-domain b.org \
  --url "https://127.0.0.1:$FED_b/" --profile https_spiffe --endpoint-spiffe-id spiffe://b.org/ward/server \
  --bundle-file b-bundle.json
wait_for "a.org holds b.org's bundle" 10 test "$(seq_of b.org)" = "$(b_seq)"
b authority x509 prepare >/dev/null
NEW_SEQ=$(b_seq)
for _ in $(seq 1 75); do [ "$(seq_of b.org)" = "$NEW_SEQ" ] && break; sleep 0.2; done
[ "$(seq_of b.org)" = "$NEW_SEQ" ] && pass "rotated bundle fetched at the refresh hint" ||
  fail "rotated bundle fetched" "have $(seq_of b.org), want $NEW_SEQ"
a bundle list --output json | grep -q "$(b bundle show | sed -n 2p)" && pass "fetched bundle holds b.org's new authority" ||
  fail "fetched bundle holds b.org's new authority"

# --- https_web: a.org follows c.org with configured roots ---------------------------------------------
expect_ok "federation create (https_web)" a federation create --trust-domain c.org \
  --url "https://127.0.0.1:$FED_c/" --profile https_web --ca-file webca.pem
wait_for "a.org holds c.org's bundle" 10 sh -c "[ \"\$(\"$WARD\" bundle list --socket '$SOCK_a' --output json | grep -c c.org)\" -ge 1 ]"

# --- endpoints that do not authenticate are refused -------------------------------------------------
a federation create --trust-domain x.org --url "https://127.0.0.1:$FED_b/" --profile https_spiffe \
  --endpoint-spiffe-id spiffe://b.org/impostor --bundle-file b-bundle.json >/dev/null
a bundle delete --trust-domain x.org >/dev/null  # drop the seed; only a verified fetch may restore it
a federation create --trust-domain y.org --url "https://127.0.0.1:$FED_c/" --profile https_web >/dev/null
sleep 3
[ "$(seq_of x.org)" = none ] && grep -q 'expected spiffe://b.org/impostor' a.log &&
  pass "wrong endpoint SPIFFE ID refused" || fail "wrong endpoint SPIFFE ID refused" "$(seq_of x.org)"
[ "$(seq_of y.org)" = none ] && grep -q '"trust_domain":"y.org"' a.log &&
  pass "https_web endpoint without a trusted root refused" || fail "https_web without trusted root refused"
expect_fail "own trust domain refused" 1 "itself" a federation create --trust-domain a.org \
  --url https://localhost:1/ --profile https_web
expect_fail "bad profile options refused" 1 "https_spiffe profile" a federation create --trust-domain z.org \
  --url https://localhost:1/ --profile https_web --endpoint-spiffe-id spiffe://z.org/x
expect_fail "non-https URL refused" 1 "https://" a federation create --trust-domain z.org \
  --url http://localhost:1/ --profile https_web

# --- ending a relationship, manual bundles ----------------------------------------------------------
expect_ok "federation delete" a federation delete --trust-domain b.org
[ "$(seq_of b.org)" = none ] && pass "ending a relationship deletes its bundle" || fail "bundle deleted with relationship"
a federation list | grep -q c.org && pass "federation list" || fail "federation list"
expect_ok "bundle set (PEM)" a bundle set --trust-domain manual.org --file b-bundle.pem
[ "$(seq_of manual.org)" != none ] && pass "manual bundle stored" || fail "manual bundle stored"
expect_fail "own bundle cannot be set" 1 "own bundle" a bundle set --trust-domain a.org --file b-bundle.pem
expect_fail "garbage bundle refused" 1 "bundle" a bundle set --trust-domain junk.org --file /etc/hostname
expect_ok "bundle delete" a bundle delete --trust-domain manual.org
[ "$(seq_of manual.org)" = none ] && pass "manual bundle deleted" || fail "manual bundle deleted"
expect_ok "audit chain intact" "$WARD" audit verify "$WORK/a.audit"

finish federation
