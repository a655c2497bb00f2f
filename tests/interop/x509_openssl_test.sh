#!/usr/bin/env bash
# Interoperability of Ward's X.509-SVID code with the OpenSSL command line tool.
#
#   x509_openssl_test.sh WARD SAMPLEGEN
#
# Part A: X.509-SVIDs issued by Ward (ward-samplegen, every key type) must pass `openssl verify`
#         for both TLS purposes, and `ward x509 verify` must accept them with every bundle format.
# Part B: a PKI built with the openssl CLI only (req + ca, extensions from config files) gives one
#         good leaf that Ward must accept and one leaf per SPIFFE/RFC 5280 rule that Ward must
#         reject with exit 1 (see the reference notes, X.509-SVID section 2.3).
# Part C: bundle handling: trust-domain selection through bundle maps, malformed bundle files.
#
# Every case prints PASS or FAIL; the script ends with "N passed, N failed" and exits 1 on failure.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 WARD SAMPLEGEN" >&2
  exit 2
fi
WARD=$1
SAMPLEGEN=$2

# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# A missing tool is a failure, never a skip.
require_executables "$WARD" "$SAMPLEGEN"
for tool in openssl base64 od dd date tr head tail; do
  command -v "$tool" >/dev/null 2>&1 || { echo "FAIL: required tool '$tool' not found" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ward-x509-interop.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"


# run_ward ARGS...: runs Ward, leaving its exit code in $rc, stdout in $out, stderr in $err.
run_ward() {
  rc=0
  "$WARD" "$@" >ward.out 2>ward.err || rc=$?
  out=$(cat ward.out)
  err=$(cat ward.err)
}

# expect_accept NAME EXPECTED_ID BUNDLE CHAIN [EXTRA ARGS...]
expect_accept() {
  local name=$1 id=$2 bundle=$3 chain=$4
  shift 4
  run_ward x509 verify --bundle "$bundle" "$@" "$chain"
  if [ "$rc" -eq 0 ] && [ "$out" = "$id" ]; then
    pass "$name"
  else
    fail "$name" "expected exit 0 and '$id'" "got exit $rc, stdout '$out', stderr '$err'"
  fi
}

# expect_reject NAME REASON_REGEX BUNDLE CHAIN [EXTRA ARGS...]
# Exit 1 with "ward: invalid X.509-SVID: <reason>", the reason matching REASON_REGEX
# (extended regex, case-sensitive) so that a rejection for an unrelated reason is caught.
expect_reject() {
  local name=$1 reason=$2 bundle=$3 chain=$4
  shift 4
  run_ward x509 verify --bundle "$bundle" "$@" "$chain"
  if [ "$rc" -eq 1 ] && [ -z "$out" ] &&
     grep -q '^ward: invalid X.509-SVID: ' ward.err && grep -qE "$reason" ward.err; then
    pass "$name (${err#ward: invalid X.509-SVID: })"
  else
    fail "$name" "expected exit 1, no stdout, stderr 'ward: invalid X.509-SVID: ...' matching /$reason/" \
      "got exit $rc, stdout '$out', stderr '$err'"
  fi
}

# expect_openssl_ok NAME ARGS...: `openssl verify ARGS` must succeed.
expect_openssl_ok() {
  local name=$1
  shift
  local o
  if o=$(openssl verify "$@" 2>&1); then
    pass "$name"
  else
    fail "$name" "openssl verify $*" "$o"
  fi
}

# b64url FILE: unpadded base64url of the file's bytes (JWK key parameters).
b64url() { base64 -w0 <"$1" | tr '+/' '-_' | tr -d '='; }

# spiffe_bundle_from_ec_p256_root CERT.pem: a SPIFFE bundle (JWKS) with the root as x509-svid
# authority, carrying x5c and the matching P-256 key parameters. For P-256 the last 64 bytes of
# the DER SubjectPublicKeyInfo are the x and y coordinates of the uncompressed point.
spiffe_bundle_from_ec_p256_root() {
  local cert=$1
  openssl x509 -in "$cert" -outform DER -out "$cert.der"
  openssl x509 -in "$cert" -noout -pubkey | openssl pkey -pubin -outform DER -out "$cert.spki"
  tail -c 64 "$cert.spki" | head -c 32 >"$cert.x"
  tail -c 32 "$cert.spki" >"$cert.y"
  printf '{"keys":[{"kty":"EC","use":"x509-svid","crv":"P-256","x":"%s","y":"%s","x5c":["%s"]}]}' \
    "$(b64url "$cert.x")" "$(b64url "$cert.y")" "$(base64 -w0 <"$cert.der")"
}

###################################################################################################
echo "== A. Ward-issued X.509-SVIDs against openssl verify, and Ward against its own bundle formats"

for kt in ec-p256 ec-p384 rsa-2048 rsa-3072 rsa-4096; do
  d=sample-$kt
  id=spiffe://example.org/interop/$kt
  mkdir "$d"
  "$SAMPLEGEN" --dir "$d" --trust-domain example.org --spiffe-id "$id" --key-type "$kt" >/dev/null
  for purpose in sslserver sslclient; do
    expect_openssl_ok "$kt: openssl verify -purpose $purpose accepts the Ward leaf" \
      -CAfile "$d/root.pem" -untrusted "$d/intermediate.pem" -purpose "$purpose" "$d/leaf.pem"
  done
  for b in bundle.pem bundle.json bundle-map.json; do
    expect_accept "$kt: ward accepts svid.pem with $b" "$id" "$d/$b" "$d/svid.pem"
  done
  expect_accept "$kt: ward accepts svid.pem with bundle.pem --trust-domain example.org" \
    "$id" "$d/bundle.pem" "$d/svid.pem" --trust-domain example.org
done

###################################################################################################
echo "== B. A PKI made with the openssl CLI"

# One config holds req settings, the `openssl ca` settings (a throw-away database) and every
# extension profile. Trust domain example.org; everything P-256 unless stated otherwise.
cat >openssl.cnf <<'EOF'
[ req ]
distinguished_name = req_dn
prompt             = no
[ req_dn ]
CN = unused

[ ca ]
default_ca = ca_default
[ ca_default ]
database        = index.txt
new_certs_dir   = newcerts
serial          = serial
default_md      = sha256
default_days    = 30
policy          = policy_any
unique_subject  = no
copy_extensions = none
email_in_dn     = no
[ policy_any ]
commonName       = supplied
organizationName = optional

# Signing certificates: CA, keyCertSign, SPIFFE ID without path.
[ root_ext ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectAltName         = URI:spiffe://example.org
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
[ intermediate_ext ]
basicConstraints       = critical, CA:TRUE, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign
subjectAltName         = URI:spiffe://example.org
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
[ intermediate_no_pathlen ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectAltName         = URI:spiffe://example.org
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
# Only URIs whose host is other.org are permitted below this one.
[ intermediate_name_constrained ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
nameConstraints        = critical, permitted;URI:other.org
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
[ intermediate_not_ca ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, keyCertSign, cRLSign
subjectAltName         = URI:spiffe://example.org
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
[ intermediate_no_keycertsign ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, digitalSignature, cRLSign
subjectAltName         = URI:spiffe://example.org
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
[ foreign_root_ext ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectAltName         = URI:spiffe://example.org
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid

# Leaves. leaf_good follows the SPIRE template; each other profile breaks exactly one rule.
[ leaf_good ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, keyEncipherment, keyAgreement
extendedKeyUsage       = serverAuth, clientAuth
subjectAltName         = critical, URI:spiffe://example.org/workload
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
[ leaf_good_with_dns ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth, clientAuth
subjectAltName         = critical, DNS:workload.example.org, URI:spiffe://example.org/ns/prod/sa/web, IP:127.0.0.1
[ leaf_other_td ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
subjectAltName         = critical, URI:spiffe://other.org/workload
[ leaf_no_uri ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
subjectAltName         = critical, DNS:workload.example.org
[ leaf_no_san ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
[ leaf_two_uris ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
subjectAltName         = critical, URI:spiffe://example.org/a, URI:spiffe://example.org/b
[ leaf_two_same_uris ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
subjectAltName         = critical, URI:spiffe://example.org/a, URI:spiffe://example.org/a
[ leaf_https_uri ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
subjectAltName         = critical, URI:https://example.org/workload
[ leaf_upper_td ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
subjectAltName         = critical, URI:spiffe://Example.org/workload
[ leaf_trailing_slash ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
subjectAltName         = critical, URI:spiffe://example.org/workload/
[ leaf_root_path ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
subjectAltName         = critical, URI:spiffe://example.org
[ leaf_ca_true ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, digitalSignature
subjectAltName         = critical, URI:spiffe://example.org/workload
[ leaf_keycertsign ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, keyCertSign
subjectAltName         = critical, URI:spiffe://example.org/workload
[ leaf_crlsign ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, cRLSign
subjectAltName         = critical, URI:spiffe://example.org/workload
[ leaf_no_digitalsignature ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, keyEncipherment, keyAgreement
subjectAltName         = critical, URI:spiffe://example.org/workload
[ leaf_no_keyusage ]
basicConstraints       = critical, CA:FALSE
subjectAltName         = critical, URI:spiffe://example.org/workload
EOF
mkdir newcerts
: >index.txt
echo 1000 >serial

newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# self_signed NAME EXT CN: NAME.key + NAME.pem, a 10-year self-signed CA.
self_signed() {
  newkey "$1.key"
  openssl req -config openssl.cnf -new -x509 -key "$1.key" -subj "/O=Ward interop/CN=$3" \
    -days 3650 -sha256 -extensions "$2" -out "$1.pem"
}

# issue NAME EXT ISSUER CN [openssl ca options...]: NAME.key + NAME.pem signed by ISSUER.{pem,key}
# through `openssl ca` (which also lets us choose -startdate/-enddate).
issue() {
  local name=$1 ext=$2 issuer=$3 cn=$4
  shift 4
  [ -f "$name.key" ] || newkey "$name.key"
  openssl req -config openssl.cnf -new -key "$name.key" -subj "/O=Ward interop/CN=$cn" -out "$name.csr"
  openssl ca -config openssl.cnf -batch -notext -cert "$issuer.pem" -keyfile "$issuer.key" \
    -extfile openssl.cnf -extensions "$ext" -in "$name.csr" -out "$name.pem" "$@" 2>ca.log ||
    { cat ca.log >&2; echo "FAIL: openssl ca could not issue $name" >&2; exit 1; }
}

# chain LEAF INTERMEDIATE: LEAF-chain.pem, the leaf followed by its intermediate.
chain() { cat "$1.pem" "$2.pem" >"$1-chain.pem"; }

self_signed root root_ext "Interop root CA"
issue intermediate intermediate_ext root "Interop intermediate CA"
spiffe_bundle_from_ec_p256_root root.pem >root-bundle.json
printf '{"trust_domains":{"example.org":%s}}' "$(cat root-bundle.json)" >root-bundle-map.json

# An unrelated CA with the same names and SPIFFE ID: chains to it must not reach our root.
self_signed foreign-root foreign_root_ext "Interop root CA"
issue foreign-intermediate intermediate_ext foreign-root "Interop intermediate CA"

issue bad-int-not-ca intermediate_not_ca root "Interop intermediate not CA"
issue bad-int-no-kcs intermediate_no_keycertsign root "Interop intermediate without keyCertSign"
# Two-level intermediates: root -> int-a (no path length limit) -> int-b -> leaf is fine, while
# a CA below `intermediate` (pathlen:0) breaks the path length constraint.
issue int-a intermediate_no_pathlen root "Interop intermediate A"
issue int-b intermediate_ext int-a "Interop intermediate B"
issue int-too-deep intermediate_ext intermediate "Interop intermediate below pathlen:0"
# A CA whose URI name constraint does not permit example.org.
issue int-nc intermediate_name_constrained root "Interop intermediate constrained to other.org"

ts() { date -u -d "$1" +%Y%m%d%H%M%SZ; }

issue good leaf_good intermediate "good"
chain good intermediate
# The same leaf profile with an RSA key under the EC intermediate.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out good-rsa.key 2>/dev/null
issue good-rsa leaf_good intermediate "good rsa"
chain good-rsa intermediate
issue good-dns leaf_good_with_dns intermediate "good with DNS and IP SANs"
chain good-dns intermediate
issue other-td leaf_other_td intermediate "other trust domain"
chain other-td intermediate

for p in no_uri no_san two_uris two_same_uris https_uri upper_td trailing_slash root_path ca_true \
         keycertsign crlsign no_digitalsignature no_keyusage; do
  issue "leaf-$p" "leaf_$p" intermediate "$p"
  chain "leaf-$p" intermediate
done

issue expired leaf_good intermediate "expired" -startdate "$(ts '-60 days')" -enddate "$(ts '-30 days')"
chain expired intermediate
issue not-yet-valid leaf_good intermediate "not yet valid" -startdate "$(ts '+30 days')" -enddate "$(ts '+60 days')"
chain not-yet-valid intermediate
issue foreign leaf_good foreign-intermediate "signed by foreign CA"
chain foreign foreign-intermediate
issue under-not-ca leaf_good bad-int-not-ca "under intermediate without CA:TRUE"
chain under-not-ca bad-int-not-ca
issue under-no-kcs leaf_good bad-int-no-kcs "under intermediate without keyCertSign"
chain under-no-kcs bad-int-no-kcs
issue two-level leaf_good int-b "under two intermediates"
cat two-level.pem int-b.pem int-a.pem >two-level-chain.pem
issue too-deep leaf_good int-too-deep "pathlen violated"
cat too-deep.pem int-too-deep.pem intermediate.pem >too-deep-chain.pem
issue name-constrained leaf_good int-nc "outside name constraints"
chain name-constrained int-nc

# Tampered signature: flip every bit of the last DER byte of the good leaf. That byte lies inside
# the signature value (the last byte of ECDSA's s), so the certificate still parses but no longer verifies.
openssl x509 -in good.pem -outform DER -out tampered.der
size=$(stat -c %s tampered.der)
last=$(od -An -tu1 -j $((size - 1)) -N1 tampered.der | tr -d ' ')
printf '%b' "\\0$(printf '%03o' $((last ^ 0xff)))" | dd of=tampered.der bs=1 seek=$((size - 1)) conv=notrunc status=none
openssl x509 -inform DER -in tampered.der -out tampered.pem
chain tampered intermediate

# Sanity of the test PKI itself, so that a Ward rejection below is not an artefact of a broken chain.
for purpose in sslserver sslclient; do
  expect_openssl_ok "openssl-made good leaf passes openssl verify -purpose $purpose" \
    -CAfile root.pem -untrusted intermediate.pem -purpose "$purpose" good.pem
done
if openssl verify -CAfile root.pem -untrusted intermediate.pem tampered.pem >/dev/null 2>&1; then
  fail "openssl verify rejects the tampered leaf" "openssl accepted it: the tampering did not hit the signature"
else
  pass "openssl verify rejects the tampered leaf"
fi

echo "-- leaves Ward must accept"
expect_accept "good leaf, PEM bundle" spiffe://example.org/workload root.pem good-chain.pem
expect_accept "good leaf, PEM bundle, --trust-domain example.org" spiffe://example.org/workload \
  root.pem good-chain.pem --trust-domain example.org
expect_accept "good leaf, SPIFFE bundle made from the openssl root" spiffe://example.org/workload \
  root-bundle.json good-chain.pem
expect_accept "good leaf, bundle map made from the openssl root" spiffe://example.org/workload \
  root-bundle-map.json good-chain.pem
expect_accept "good RSA-2048 leaf under EC intermediate" spiffe://example.org/workload root.pem good-rsa-chain.pem
expect_accept "good leaf under two intermediates" spiffe://example.org/workload root.pem two-level-chain.pem
expect_accept "good leaf with extra DNS and IP SANs" spiffe://example.org/ns/prod/sa/web root.pem good-dns-chain.pem
# Concatenated DER is an accepted chain encoding as well.
openssl x509 -in good.pem -outform DER -out good.der
openssl x509 -in intermediate.pem -outform DER -out intermediate.der
cat good.der intermediate.der >good-chain.der
expect_accept "good leaf as concatenated DER chain" spiffe://example.org/workload root.pem good-chain.der

echo "-- leaves Ward must reject"
expect_reject "leaf with no URI SAN (DNS SAN only)" 'URI SAN' root.pem leaf-no_uri-chain.pem
expect_reject "leaf with no SAN extension at all" 'URI SAN' root.pem leaf-no_san-chain.pem
expect_reject "leaf with two URI SANs" 'URI SAN' root.pem leaf-two_uris-chain.pem
expect_reject "leaf with the same URI SAN twice" 'URI SAN' root.pem leaf-two_same_uris-chain.pem
expect_reject "URI SAN with https scheme" 'scheme' root.pem leaf-https_uri-chain.pem
expect_reject "upper-case trust domain" 'lower case' root.pem leaf-upper_td-chain.pem
expect_reject "SPIFFE ID with trailing slash" 'trailing slash' root.pem leaf-trailing_slash-chain.pem
expect_reject "leaf SPIFFE ID without path (spiffe://example.org)" 'no path' root.pem leaf-root_path-chain.pem
expect_reject "leaf with CA:TRUE" 'is a CA|cA=true' root.pem leaf-ca_true-chain.pem
expect_reject "leaf with keyCertSign" 'keyCertSign' root.pem leaf-keycertsign-chain.pem
expect_reject "leaf with cRLSign" 'cRLSign' root.pem leaf-crlsign-chain.pem
expect_reject "leaf without digitalSignature" 'digitalSignature' root.pem leaf-no_digitalsignature-chain.pem
expect_reject "leaf without key usage extension" 'key usage' root.pem leaf-no_keyusage-chain.pem
expect_reject "intermediate without CA:TRUE" 'not a CA|cA=false' root.pem under-not-ca-chain.pem
expect_reject "intermediate without keyCertSign" 'keyCertSign' root.pem under-no-kcs-chain.pem
expect_reject "expired leaf" 'expired' root.pem expired-chain.pem
expect_reject "not-yet-valid leaf" 'not yet valid|not valid before' root.pem not-yet-valid-chain.pem
expect_reject "leaf signed by a foreign CA (same names)" 'issuer|verif|chain' root.pem foreign-chain.pem
expect_reject "good leaf against the foreign root as bundle" 'issuer|verif|chain' foreign-root.pem good-chain.pem
expect_reject "leaf in other.org, PEM bundle given as example.org's" 'other\.org' root.pem other-td-chain.pem \
  --trust-domain example.org
expect_reject "leaf in example.org, PEM bundle given as other.org's" 'example\.org' root.pem good-chain.pem \
  --trust-domain other.org
expect_reject "leaf in other.org, bundle map holding only example.org" 'other\.org' root-bundle-map.json \
  other-td-chain.pem
expect_reject "path length constraint of the intermediate violated" 'path length' root.pem too-deep-chain.pem
expect_reject "leaf URI outside the intermediate's name constraints" 'name constraint|subtree' root.pem name-constrained-chain.pem
expect_reject "tampered leaf signature" 'signature' root.pem tampered-chain.pem
expect_reject "leaf alone, intermediate missing from the chain" 'issuer|verif|chain' root.pem good.pem

###################################################################################################
echo "== C. Bundle selection and malformed bundles"

# Two Ward trust domains; a map that files each one's bundle under the other's name must not
# validate either SVID: the bundle is chosen by the leaf's trust domain, never pooled.
mkdir td-a td-b
"$SAMPLEGEN" --dir td-a --trust-domain a.example >/dev/null
"$SAMPLEGEN" --dir td-b --trust-domain b.example >/dev/null
printf '{"trust_domains":{"a.example":%s,"b.example":%s}}' "$(cat td-a/bundle.json)" "$(cat td-b/bundle.json)" >map-ok.json
printf '{"trust_domains":{"a.example":%s,"b.example":%s}}' "$(cat td-b/bundle.json)" "$(cat td-a/bundle.json)" >map-swapped.json
expect_accept "bundle map of two trust domains, SVID of a.example" spiffe://a.example/workload map-ok.json td-a/svid.pem
expect_accept "bundle map of two trust domains, SVID of b.example" spiffe://b.example/workload map-ok.json td-b/svid.pem
expect_reject "bundle map with the two bundles swapped, SVID of a.example" 'issuer|verif|chain' \
  map-swapped.json td-a/svid.pem
expect_reject "PEM bundle of b.example given as a.example's" 'issuer|verif|chain' \
  td-b/bundle.pem td-a/svid.pem --trust-domain a.example

# expect_bundle_error NAME BUNDLE [REASON_REGEX]: exit 2 (unusable bundle file), not a verdict on the SVID.
expect_bundle_error() {
  run_ward x509 verify --bundle "$2" good-chain.pem
  if [ "$rc" -eq 2 ] && [ -z "$out" ] && grep -qiE "${3:-invalid bundle}" ward.err; then
    pass "$1 (${err#ward: })"
  else
    fail "$1" "expected exit 2 and a bundle error on stderr" "got exit $rc, stdout '$out', stderr '$err'"
  fi
}
echo 'this is not a bundle' >garbage.txt
expect_bundle_error "malformed bundle file (text)" garbage.txt
printf '{"keys":[{"kty":"EC","use":"x509-svid","x5c":["%s"' "$(base64 -w0 <good.der)" >truncated.json
expect_bundle_error "malformed bundle file (truncated JSON)" truncated.json
# A PEM block whose base64 body is damaged.
{ echo '-----BEGIN CERTIFICATE-----'; echo 'MIIB!!!notbase64!!!'; echo '-----END CERTIFICATE-----'; } >broken.pem
expect_bundle_error "malformed bundle file (broken PEM)" broken.pem
expect_bundle_error "bundle file that does not exist" does-not-exist.pem 'cannot read'
: >empty.pem
expect_bundle_error "empty bundle file" empty.pem

echo
finish x509_openssl
