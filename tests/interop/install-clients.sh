#!/usr/bin/env bash
# Installs the independent clients the interoperability tests run against Ward (tests/interop/node):
# npm `jose` for JWT-SVIDs and `@grpc/grpc-js` + `@grpc/proto-loader` for the Workload API.
# Idempotent: does nothing when they are already there.
# Called by scripts/test.sh before the build; node and npm themselves come from scripts/install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/node"

present() {
  [ -f node_modules/jose/package.json ] && [ -f node_modules/@grpc/grpc-js/package.json ] &&
    [ -f node_modules/@grpc/proto-loader/package.json ]
}
if present; then
  echo "install-clients: jose, @grpc/grpc-js and @grpc/proto-loader present"
  exit 0
fi

for tool in node npm; do
  command -v "$tool" >/dev/null 2>&1 || { echo "install-clients: $tool not found (run scripts/install-deps.sh)" >&2; exit 1; }
done

# Use the machine's trust store explicitly: Debian's node already does, but node builds that bundle
# their own CA list (e.g. nodesource) would otherwise refuse a registry reached through a
# TLS-inspecting proxy whose CA the machine trusts.
tls=()
[ -f /etc/ssl/certs/ca-certificates.crt ] && tls=(--cafile=/etc/ssl/certs/ca-certificates.crt)

# npm ci installs exactly what package-lock.json pins; without a lock fall back to npm install.
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund "${tls[@]}"
else
  npm install --no-audit --no-fund "${tls[@]}"
fi
present || { echo "install-clients: the npm clients did not install" >&2; exit 1; }
echo "install-clients: jose $(node -p 'require("./node_modules/jose/package.json").version') installed"
