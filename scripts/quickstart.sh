#!/usr/bin/env bash
# Ward's main job on a new machine: install, build, and show workload identity end to end.
# Until `ward server` and `ward agent` exist, this builds a sample trust domain with the core
# library (root CA -> intermediate -> X.509-SVID, a JWT-SVID, bundles in every format) and checks
# it with Ward's verifiers and with openssl.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
./scripts/build.sh release

ward=./build/src/cli/ward
demo=$(mktemp -d)
trap 'rm -rf "$demo"' EXIT

echo
echo "== a sample trust domain in $demo"
./build/tools/ward-samplegen --dir "$demo" --trust-domain example.org \
  --spiffe-id spiffe://example.org/ns/demo/sa/web --audience spiffe://example.org/db

echo
echo "== ward id check"
$ward id check spiffe://example.org/ns/demo/sa/web
$ward id check spiffe://Example.org/web || true

echo
echo "== ward x509 verify (PEM bundle, SPIFFE bundle, bundle map)"
for b in bundle.pem bundle.json bundle-map.json; do
  printf '%-16s ' "$b"; $ward x509 verify --bundle "$demo/$b" "$demo/svid.pem"
done
openssl verify -CAfile "$demo/root.pem" -untrusted "$demo/intermediate.pem" "$demo/leaf.pem"
openssl x509 -in "$demo/leaf.pem" -noout -subject -ext subjectAltName,keyUsage,basicConstraints -enddate

echo
echo "== ward jwt verify"
$ward jwt verify --bundle "$demo/bundle.json" --audience spiffe://example.org/db - < "$demo/jwt.txt"
$ward jwt verify --bundle "$demo/bundle.json" --audience spiffe://example.org/other - < "$demo/jwt.txt" || true
echo
echo "quickstart: done"
