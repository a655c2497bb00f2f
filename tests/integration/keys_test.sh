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

finish keys_test
