#!/usr/bin/env bash
# Interoperability of Ward's JWT-SVID code with an independent JOSE implementation, npm `jose`
# (pinned in tests/interop/node/package.json, installed by tests/interop/install-clients.sh).
#
#   jwt_jose_test.sh WARD SAMPLEGEN
#
# Part A: JWT-SVIDs minted by Ward (ward-samplegen) verify with jose's jwtVerify against the plain
#         JWKS Ward writes, follow the JWT-SVID profile, and fail with a wrong audience.
# Part B: tokens minted by jose with its own keys, one per rule of the JWT-SVID spec (see the
#         reference notes, JWT-SVID section 3.3): Ward must accept the good ones and reject the
#         others with exit 1 and a reason naming the fault.
#
# Every case prints PASS or FAIL; the script ends with "N passed, N failed" and exits 1 on failure.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 WARD SAMPLEGEN" >&2
  exit 2
fi
WARD=$1
SAMPLEGEN=$2
NODE_DIR=$(cd "$(dirname "$0")/node" && pwd)

# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# A missing tool or client library is a failure, never a skip.
require_executables "$WARD" "$SAMPLEGEN"
command -v node >/dev/null 2>&1 || { echo "FAIL: node not found (scripts/install-deps.sh installs it)" >&2; exit 1; }
[ -f "$NODE_DIR/node_modules/jose/package.json" ] ||
  { echo "FAIL: npm jose is not installed in $NODE_DIR (run tests/interop/install-clients.sh)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ward-jwt-interop.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

AUDIENCE=ward-interop

# json_get PATH < JSON: the value at a dotted path; strings raw, anything else as JSON.
json_get() {
  node -e '
    let s = "";
    process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const v = process.argv[1].split(".").reduce((o, k) => (o == null ? undefined : o[k]), JSON.parse(s));
      process.stdout.write(typeof v === "string" ? v : JSON.stringify(v) ?? "undefined");
    });' "$1"
}

# run_ward ARGS...: runs Ward, leaving its exit code in $rc, stdout in $out, stderr in $err.
# A token argument of "-" is read from the file named by $STDIN_FILE.
run_ward() {
  rc=0
  "$WARD" "$@" <"${STDIN_FILE:-/dev/null}" >ward.out 2>ward.err || rc=$?
  out=$(cat ward.out)
  err=$(cat ward.err)
}

###################################################################################################
echo "== A. Ward-minted JWT-SVIDs verified by jose"

for kt in ec-p256 ec-p384 rsa-2048 rsa-3072; do
  d=sample-$kt
  id=spiffe://example.org/interop/$kt
  mkdir "$d"
  "$SAMPLEGEN" --dir "$d" --trust-domain example.org --spiffe-id "$id" --audience "$AUDIENCE" \
    --key-type "$kt" >/dev/null

  rc=0
  node "$NODE_DIR/jose-verify.mjs" "$d/jwks.json" "$AUDIENCE" "$d/jwt.txt" >jose.out 2>jose.err || rc=$?
  sub=$(json_get payload.sub <jose.out 2>/dev/null || true)
  alg=$(json_get header.alg <jose.out 2>/dev/null || true)
  if [ "$rc" -eq 0 ] && [ "$sub" = "$id" ]; then
    pass "$kt: jose jwtVerify accepts Ward's $alg token, sub $sub, header and claims follow the profile"
  else
    fail "$kt: jose jwtVerify accepts Ward's token" "exit $rc, stdout '$(cat jose.out)', stderr '$(cat jose.err)'"
  fi

  rc=0
  node "$NODE_DIR/jose-verify.mjs" "$d/jwks.json" some-other-audience "$d/jwt.txt" >jose.out 2>jose.err || rc=$?
  if [ "$rc" -eq 1 ] && grep -q '"aud"' jose.err; then
    pass "$kt: jose jwtVerify rejects Ward's token for a wrong audience ($(cat jose.err))"
  else
    fail "$kt: jose jwtVerify rejects Ward's token for a wrong audience" \
      "exit $rc, stdout '$(cat jose.out)', stderr '$(cat jose.err)'"
  fi

  # Ward must agree with jose on its own token, and find no JWT key in an X.509-only bundle.
  run_ward jwt verify --bundle "$d/bundle.json" --audience "$AUDIENCE" "$(cat "$d/jwt.txt")"
  if [ "$rc" -eq 0 ] && [ "$(json_get spiffe_id <<<"$out")" = "$id" ]; then
    pass "$kt: ward accepts its own token with bundle.json"
  else
    fail "$kt: ward accepts its own token with bundle.json" "exit $rc, stdout '$out', stderr '$err'"
  fi
  run_ward jwt verify --bundle "$d/bundle.pem" --audience "$AUDIENCE" "$(cat "$d/jwt.txt")"
  if [ "$rc" -eq 1 ] && grep -q 'ward-sample-1' ward.err; then
    pass "$kt: ward rejects its token with the X.509-only bundle.pem (${err#ward: invalid JWT-SVID: })"
  else
    fail "$kt: ward rejects its token with the X.509-only bundle.pem" "exit $rc, stdout '$out', stderr '$err'"
  fi
done

###################################################################################################
echo "== B. jose-minted JWT-SVIDs verified by Ward"

# keys.json, bundle.json (example.org), bundle-map.json (example.org + other.org) and
# bundle-okp-map.json (example.org with an extra Ed25519 key), see node/jose-init.mjs.
K=$WORK/jose
mkdir "$K"
node "$NODE_DIR/jose-init.mjs" "$K"

# mint CASE: mints the token of CASE (node/jose-mint.mjs) into token.txt, just before it is checked.
declare -A minted=()
mint() {
  node "$NODE_DIR/jose-mint.mjs" "$K" "$AUDIENCE" "$1" >token.txt ||
    { echo "FAIL: jose-mint.mjs could not mint case $1" >&2; exit 1; }
  minted[$1]=1
}

# label CASE ARGS...: a case name for the report, bundle paths shortened.
label() {
  local l="$1 [${*:2}]"
  echo "${l//$K\//}"
}

# accept CASE EXPECTED_ID [--via-stdin] [ward bundle args...]  (default bundle: bundle-map.json)
# Exit 0 with spiffe_id and claims.sub equal to EXPECTED_ID.
accept() {
  local case=$1 id=$2 token name
  shift 2
  mint "$case"
  token=$(cat token.txt)
  STDIN_FILE=/dev/null
  name="accept $case"
  if [ "${1:-}" = --via-stdin ]; then
    shift
    STDIN_FILE=token.txt
    token=-
    name="$name via stdin"
  fi
  [ $# -gt 0 ] || set -- --bundle "$K/bundle-map.json"
  name=$(label "$name" "$@")
  run_ward jwt verify "$@" --audience "$AUDIENCE" "$token"
  STDIN_FILE=/dev/null
  local got_id="" got_sub=""
  if [ "$rc" -eq 0 ]; then
    got_id=$(json_get spiffe_id <<<"$out" 2>/dev/null || true)
    got_sub=$(json_get claims.sub <<<"$out" 2>/dev/null || true)
  fi
  if [ "$rc" -eq 0 ] && [ "$got_id" = "$id" ] && [ "$got_sub" = "$id" ]; then
    pass "$name"
  else
    fail "$name" "expected exit 0 and spiffe_id $id" "got exit $rc, stdout '$out', stderr '$err'"
  fi
}

# reject CASE REASON_REGEX [ward bundle args...]: exit 1, "ward: invalid JWT-SVID: <reason>" on
# stderr with the reason matching REASON_REGEX (extended, case-sensitive), nothing on stdout.
reject() {
  local case=$1 reason=$2 name
  shift 2
  [ $# -gt 0 ] || set -- --bundle "$K/bundle-map.json"
  name=$(label "reject $case" "$@")
  mint "$case"
  run_ward jwt verify "$@" --audience "$AUDIENCE" "$(cat token.txt)"
  if [ "$rc" -eq 1 ] && [ -z "$out" ] &&
     grep -q '^ward: invalid JWT-SVID: ' ward.err && grep -qE "$reason" ward.err; then
    pass "$name (${err#ward: invalid JWT-SVID: })"
  else
    fail "$name" "expected exit 1, no stdout, stderr 'ward: invalid JWT-SVID: ...' matching /$reason/" \
      "got exit $rc, stdout '$out', stderr '$err'"
  fi
}

EX=spiffe://example.org/workload
echo "-- tokens Ward must accept"
for alg in ES256 ES384 ES512 RS256 RS384 RS512 PS256 PS384 PS512; do
  accept "good-$alg" "$EX"
done
accept good-ES256 "$EX" --via-stdin
accept good-ES256 "$EX" --bundle "$K/bundle.json"
accept good-ES256 "$EX" --bundle "$K/bundle.json" --trust-domain example.org
accept good-ES256 "$EX" --bundle "$K/bundle-okp-map.json"
accept typ-JOSE "$EX"
accept no-typ "$EX"
accept aud-array "$EX"
accept extra-claims "$EX"
accept exp-within-leeway "$EX"
accept nbf-within-leeway "$EX"
accept other-td-own-key spiffe://other.org/workload

echo "-- tokens Ward must reject"
reject HS256 'unsupported JWS algorithm "HS256"'
reject none 'unsupported JWS algorithm "none"'
reject EdDSA 'unsupported JWS algorithm "EdDSA"'
reject EdDSA 'unsupported JWS algorithm "EdDSA"' --bundle "$K/bundle-okp-map.json"
reject alg-key-mismatch 'ES384'
reject no-kid 'no key ID \(kid\)'
reject unknown-kid 'no-such-key'
reject no-exp 'no expiry \(exp\)'
reject expired 'expired'
reject exp-beyond-leeway 'expired'
reject exp-string '"exp" is not a number'
reject no-aud 'no audience \(aud\)'
reject wrong-aud 'audience does not include'
reject wrong-aud-array 'audience does not include'
reject empty-aud-array 'aud.*empty'
reject no-sub 'no subject \(sub\)'
reject invalid-sub 'not a valid SPIFFE ID'
reject sub-upper-case-td 'not a valid SPIFFE ID'
reject sub-no-bundle 'no bundle for trust domain "unbundled.org"'
reject sub-no-bundle 'no bundle for trust domain "unbundled.org"' --bundle "$K/bundle.json" --trust-domain example.org
reject cross-td 'signature is invalid'
reject cross-td 'no bundle for trust domain "other.org"' --bundle "$K/bundle.json" --trust-domain example.org
reject typ-at+jwt 'typ'
reject typ-lower-jwt 'typ'
reject header-jku '"jku"'
reject header-jwk '"jwk"'
reject header-x5u '"x5u"'
reject header-crit '"crit"'
reject wrong-key 'signature is invalid'
reject tampered-payload 'signature is invalid'
reject nbf-future 'nbf'
reject iat-future 'iat'
reject two-parts 'compact JWS'
reject json-serialization 'JSON serialization'

# Every case jose-mint.mjs knows must have been checked above: a case added there but never
# given a verdict here would otherwise go unnoticed.
while read -r c; do
  [ -n "${minted[$c]:-}" ] || fail "jose-mint.mjs case '$c' is never checked by this script"
done < <(node "$NODE_DIR/jose-mint.mjs" "$K" "$AUDIENCE" --list)

echo
finish jwt_jose
