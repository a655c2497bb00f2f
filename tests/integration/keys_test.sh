#!/usr/bin/env bash
# Integration tests for where the CA's keys come from: the pkcs11 key manager on a real SoftHSM2
# token, and an intermediate CA under an upstream CA given as files. Real `ward server`
# processes, driven through the CLI; certificates checked with `openssl verify`.
#
#   keys_test.sh WARD
set -euo pipefail

WARD=$1
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib.sh
. "$ROOT/tests/lib.sh"
require_executables "$WARD"
SOFTHSM_MODULE=/usr/lib/softhsm/libsofthsm2.so
for tool in openssl softhsm2-util node; do
  command -v "$tool" >/dev/null 2>&1 || { echo "FAIL: required tool '$tool' not found" >&2; exit 1; }
done
[ -f "$SOFTHSM_MODULE" ] || { echo "FAIL: $SOFTHSM_MODULE missing (install softhsm2)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ward-keys-test.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# start_server NAME ARGS...: starts a server with its own data dir and waits until it is healthy;
# sets SERVER_PID and exports WARD_SERVER_SOCKET. Returns 1 (log in $WORK/NAME.log) if it exits.
start_server() {
  local name=$1; shift
  export WARD_SERVER_SOCKET="$WORK/$name.sock"
  "$WARD" server run --trust-domain example.org --data-dir "$WORK/$name" \
    --admin-socket "$WARD_SERVER_SOCKET" --audit-log "$WORK/$name.audit" --metrics-address "" \
    --port 0 "$@" >>"$WORK/$name.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  for _ in $(seq 1 100); do
    grep -q '"ward server started"' "$WORK/$name.log" 2>/dev/null && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  : >"$WORK/$1.log"
}

# --- A. pkcs11: keys generated in SoftHSM2 and used there --------------------------------------
export SOFTHSM2_CONF=$WORK/softhsm2.conf
mkdir -p "$WORK/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$WORK" \
  >"$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label ward-ca --pin 2468 --so-pin 97531 >/dev/null
printf '2468\n' >"$WORK/pin"
chmod 600 "$WORK/pin"
HSM=(--key-manager pkcs11 --pkcs11-module "$SOFTHSM_MODULE" --pkcs11-token ward-ca
     --pkcs11-pin-file "$WORK/pin")

if start_server hsm "${HSM[@]}"; then pass "server starts on the pkcs11 key manager"
else fail "server starts on the pkcs11 key manager" "$(cat "$WORK/hsm.log")"; fi
grep -q '"key_manager":"pkcs11"' "$WORK/hsm.log" && pass "start log names the pkcs11 key manager" ||
  fail "start log names the pkcs11 key manager" "$(cat "$WORK/hsm.log")"
[ ! -e "$WORK/hsm/keys" ] || [ -z "$(ls -A "$WORK/hsm/keys")" ] &&
  pass "no key files in the data folder" || fail "no key files in the data folder" "$(ls -la "$WORK/hsm/keys")"
# SoftHSM2 keeps one file per object; two key pairs (X.509 CA, JWT) are four objects.
objects=$(find "$WORK/tokens" -name '*.object' | wc -l)
[ "$objects" -ge 4 ] && pass "CA and JWT keys live in the token ($objects objects)" ||
  fail "CA and JWT keys live in the token" "objects: $objects"

expect_ok "x509 mint signed by the token" "$WARD" x509 mint --spiffe-id spiffe://example.org/hsm \
  --ttl 600 --write "$WORK/mint"
"$WARD" bundle show >"$WORK/bundle.pem"
expect_ok "openssl verifies the token-signed SVID" openssl verify -CAfile "$WORK/bundle.pem" \
  -purpose sslclient "$WORK/mint/svid.pem"
expect_ok "ward verifies the token-signed SVID" "$WARD" x509 verify --bundle "$WORK/bundle.pem" \
  --trust-domain example.org "$WORK/mint/svid.pem"
JWT=$("$WARD" jwt mint --spiffe-id spiffe://example.org/hsm --audience db | tail -1)
"$WARD" bundle show --format spiffe >"$WORK/bundle.json"
expect_ok "token-signed JWT-SVID verifies" "$WARD" jwt verify --bundle "$WORK/bundle.json" \
  --trust-domain example.org --audience db "$JWT"
CA_BEFORE=$("$WARD" authority x509 show --output json | jget authorities.0.id)

stop_server hsm
if start_server hsm "${HSM[@]}"; then pass "restart on the same token"
else fail "restart on the same token" "$(cat "$WORK/hsm.log")"; fi
[ "$("$WARD" authority x509 show --output json | jget authorities.0.id)" = "$CA_BEFORE" ] &&
  pass "the same CA is active after a restart" || fail "the same CA is active after a restart"
expect_ok "old SVID still verifies after restart" openssl verify -CAfile <("$WARD" bundle show) \
  "$WORK/mint/svid.pem"
expect_ok "forced rotation generates a key in the token" sh -c \
  "'$WARD' authority x509 prepare >/dev/null && '$WARD' authority x509 activate >/dev/null"
after=$(find "$WORK/tokens" -name '*.object' | wc -l)
[ "$after" -gt "$objects" ] && pass "rotation added token objects ($objects -> $after)" ||
  fail "rotation added token objects" "$objects -> $after"
expect_ok "x509 mint after rotation" "$WARD" x509 mint --spiffe-id spiffe://example.org/hsm2 \
  --write "$WORK/mint2"
expect_ok "post-rotation SVID verifies" openssl verify -CAfile <("$WARD" bundle show) \
  "$WORK/mint2/svid.pem"
stop_server hsm

printf '0000\n' >"$WORK/pin-bad"
chmod 600 "$WORK/pin-bad"
if start_server badpin --key-manager pkcs11 --pkcs11-module "$SOFTHSM_MODULE" \
    --pkcs11-token ward-ca --pkcs11-pin-file "$WORK/pin-bad"; then
  fail "wrong PIN refused at start"
else
  grep -q "CKR_PIN_INCORRECT" "$WORK/badpin.log" && pass "wrong PIN refused at start" ||
    fail "wrong PIN refused at start" "$(cat "$WORK/badpin.log")"
fi
chmod 644 "$WORK/pin"
if start_server openpin "${HSM[@]}"; then fail "readable PIN file refused"
else
  grep -q "chmod 600" "$WORK/openpin.log" && pass "readable PIN file refused" ||
    fail "readable PIN file refused" "$(cat "$WORK/openpin.log")"
fi
chmod 600 "$WORK/pin"
if start_server notoken --key-manager pkcs11 --pkcs11-module "$SOFTHSM_MODULE" \
    --pkcs11-token missing --pkcs11-pin-file "$WORK/pin"; then fail "unknown token refused"
else
  grep -q 'no initialized PKCS#11 token labelled' "$WORK/notoken.log" &&
    pass "unknown token refused, naming the tokens present" ||
    fail "unknown token refused" "$(cat "$WORK/notoken.log")"
fi

# --- B. intermediate mode under an upstream CA given as files -----------------------------------
unset SOFTHSM2_CONF
UP=$WORK/upstream
mkdir -p "$UP"
# make_ca NAME SUBJECT [ISSUER]: an EC P-256 CA with openssl alone; self-signed without ISSUER.
make_ca() {
  local name=$1 subject=$2 issuer=${3:-}
  openssl ecparam -name prime256v1 -genkey -noout -out "$UP/$name.key" 2>/dev/null
  chmod 600 "$UP/$name.key"
  local ext="basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash"
  if [ -z "$issuer" ]; then
    openssl req -x509 -new -key "$UP/$name.key" -subj "$subject" -days 30 -sha256 \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -out "$UP/$name.pem" 2>/dev/null
  else
    openssl req -new -key "$UP/$name.key" -subj "$subject" -out "$UP/$name.csr" 2>/dev/null
    printf '%s\nauthorityKeyIdentifier=keyid\n' "$ext" >"$UP/$name.ext"
    openssl x509 -req -in "$UP/$name.csr" -CA "$UP/$issuer.pem" -CAkey "$UP/$issuer.key" \
      -CAcreateserial -days 20 -sha256 -extfile "$UP/$name.ext" -out "$UP/$name.pem" 2>/dev/null
  fi
}
make_ca root "/O=Upstream/CN=Upstream Root"
make_ca mid "/O=Upstream/CN=Upstream Issuing CA" root
cat "$UP/mid.pem" "$UP/root.pem" >"$UP/mid-chain.pem"
count_certs() { grep -c 'BEGIN CERTIFICATE' "$1"; }

if start_server up1 --key-manager memory --upstream-ca-cert "$UP/root.pem" \
    --upstream-ca-key "$UP/root.key"; then pass "server starts under an upstream root"
else fail "server starts under an upstream root" "$(cat "$WORK/up1.log")"; fi
"$WARD" bundle show >"$WORK/up1-bundle.pem"
[ "$(count_certs "$WORK/up1-bundle.pem")" = 1 ] &&
  [ "$(openssl x509 -in "$WORK/up1-bundle.pem" -noout -fingerprint)" = \
    "$(openssl x509 -in "$UP/root.pem" -noout -fingerprint)" ] &&
  pass "the bundle publishes the upstream root, not Ward's CA" ||
  fail "the bundle publishes the upstream root" "$(cat "$WORK/up1-bundle.pem")"
expect_ok "x509 mint under the upstream root" "$WARD" x509 mint \
  --spiffe-id spiffe://example.org/up --write "$WORK/up1-mint"
[ "$(count_certs "$WORK/up1-mint/svid.pem")" = 2 ] && pass "SVID chain is leaf + Ward intermediate" ||
  fail "SVID chain is leaf + Ward intermediate" "$(count_certs "$WORK/up1-mint/svid.pem") certs"
expect_ok "openssl verifies the chain against the upstream root" openssl verify \
  -CAfile "$UP/root.pem" -untrusted "$WORK/up1-mint/svid.pem" "$WORK/up1-mint/svid.pem"
expect_ok "ward verifies the chain against the upstream root" "$WARD" x509 verify \
  --bundle "$UP/root.pem" --trust-domain example.org "$WORK/up1-mint/svid.pem"
ward_ca=$(sed -n '/END CERTIFICATE/,$p' "$WORK/up1-mint/svid.pem" | sed '1d')
pathlen=$(openssl x509 -noout -text <<<"$ward_ca" | grep -A1 'Basic Constraints' | tail -1)
grep -q 'pathlen:0' <<<"$pathlen" && pass "Ward's intermediate has pathLen 0" ||
  fail "Ward's intermediate has pathLen 0" "$pathlen"
port=$(grep '"ward server started"' "$WORK/up1.log" | tail -1 | jget agent_api_port)
s_client=$(openssl s_client -connect "127.0.0.1:$port" -CAfile "$UP/root.pem" -verify_return_error \
  </dev/null 2>&1 || true)
grep -q "Verify return code: 0 (ok)" <<<"$s_client" &&
  pass "agent API's TLS chain verifies against the upstream root" ||
  fail "agent API's TLS chain verifies against the upstream root" "$(tail -5 <<<"$s_client")"
OLD_UP=$("$WARD" authority x509 show --output json | jget authorities.0.id)
expect_ok "x509 taint + activate under upstream" sh -c "'$WARD' authority x509 prepare >/dev/null &&
  '$WARD' authority x509 activate >/dev/null && '$WARD' authority x509 taint --id $OLD_UP >/dev/null"
expect_fail "revoke under upstream refused with the reason" 1 "revoke its certificate at the upstream" \
  "$WARD" authority x509 revoke --id "$OLD_UP"
stop_server up1

if start_server up2 --key-manager memory --upstream-ca-cert "$UP/mid-chain.pem" \
    --upstream-ca-key "$UP/mid.key"; then pass "server starts under an upstream intermediate"
else fail "server starts under an upstream intermediate" "$(cat "$WORK/up2.log")"; fi
expect_ok "x509 mint under the upstream intermediate" "$WARD" x509 mint \
  --spiffe-id spiffe://example.org/up2 --write "$WORK/up2-mint"
[ "$(count_certs "$WORK/up2-mint/svid.pem")" = 3 ] &&
  pass "SVID chain is leaf + Ward CA + upstream intermediate" ||
  fail "SVID chain is leaf + Ward CA + upstream intermediate" "$(count_certs "$WORK/up2-mint/svid.pem")"
expect_ok "openssl verifies the three-level chain" openssl verify -CAfile "$UP/root.pem" \
  -untrusted "$WORK/up2-mint/svid.pem" "$WORK/up2-mint/svid.pem"
stop_server up2

# Switching a running trust domain to an upstream CA keeps old SVIDs valid through the grace.
openssl rand -hex 32 >"$WORK/kek"
chmod 600 "$WORK/kek"
start_server switch --kek-file "$WORK/kek" || fail "self-signed server starts" "$(cat "$WORK/switch.log")"
expect_ok "mint before the switch" "$WARD" x509 mint --spiffe-id spiffe://example.org/s \
  --write "$WORK/before"
stop_server switch
if start_server switch --kek-file "$WORK/kek" --upstream-ca-cert "$UP/root.pem" \
    --upstream-ca-key "$UP/root.key"; then pass "restart with an upstream CA"
else fail "restart with an upstream CA" "$(cat "$WORK/switch.log")"; fi
"$WARD" bundle show >"$WORK/switch-bundle.pem"
[ "$(count_certs "$WORK/switch-bundle.pem")" = 2 ] &&
  pass "during the switch the bundle holds the old root and the upstream root" ||
  fail "bundle during the switch" "$(count_certs "$WORK/switch-bundle.pem") certs"
expect_ok "pre-switch SVID still verifies" openssl verify -CAfile "$WORK/switch-bundle.pem" \
  "$WORK/before/svid.pem"
states=$("$WARD" authority x509 show --output json)
grep -q '"prepared"' <<<"$states" && pass "an upstream-signed successor is prepared" ||
  fail "an upstream-signed successor is prepared" "$states"
expect_ok "operator activates it" "$WARD" authority x509 activate
expect_ok "mint after the switch" "$WARD" x509 mint --spiffe-id spiffe://example.org/s2 \
  --write "$WORK/after"
expect_ok "post-switch SVID verifies against the upstream root" openssl verify \
  -CAfile "$UP/root.pem" -untrusted "$WORK/after/svid.pem" "$WORK/after/svid.pem"
stop_server switch

# Bad upstream material is refused at start with the reason.
chmod 644 "$UP/root.key"
start_server bad1 --key-manager memory --upstream-ca-cert "$UP/root.pem" --upstream-ca-key "$UP/root.key" &&
  fail "readable upstream key refused" ||
  { grep -q "chmod 600" "$WORK/bad1.log" && pass "readable upstream key refused" ||
    fail "readable upstream key refused" "$(cat "$WORK/bad1.log")"; }
chmod 600 "$UP/root.key"
start_server bad2 --key-manager memory --upstream-ca-cert "$UP/root.pem" --upstream-ca-key "$UP/mid.key" &&
  fail "mismatched upstream key refused" ||
  { grep -q "does not match" "$WORK/bad2.log" && pass "mismatched upstream key refused" ||
    fail "mismatched upstream key refused" "$(cat "$WORK/bad2.log")"; }
start_server bad3 --key-manager memory --upstream-ca-cert "$UP/mid.pem" --upstream-ca-key "$UP/mid.key" &&
  fail "upstream without a trust anchor refused" ||
  { grep -q "no upstream trust anchor" "$WORK/bad3.log" && pass "upstream without a trust anchor refused" ||
    fail "upstream without a trust anchor refused" "$(cat "$WORK/bad3.log")"; }
cp "$WORK/mint/svid.pem" "$WORK/leaf-only.pem"
start_server bad4 --key-manager memory --upstream-ca-cert "$WORK/leaf-only.pem" \
    --upstream-ca-key "$WORK/mint/key.pem" &&
  fail "non-CA upstream certificate refused" ||
  { grep -q "is not a CA" "$WORK/bad4.log" && pass "non-CA upstream certificate refused" ||
    fail "non-CA upstream certificate refused" "$(cat "$WORK/bad4.log")"; }

finish keys_test
