#!/usr/bin/env bash
# Installs every Debian package Ward's build and tests need. Idempotent: packages already present
# are left alone, and apt is not touched when nothing is missing. Run as root (or with sudo).
set -euo pipefail

packages=(
  g++ cmake ninja-build ccache pkg-config git ca-certificates
  clang libclang-rt-14-dev              # libFuzzer targets and their sanitizers
  libssl-dev openssl                    # crypto, and `openssl verify` for interop tests
  nlohmann-json3-dev libcli11-dev
  libsqlite3-dev                        # embedded datastore
  libboost1.81-dev                      # Asio/Beast for the HTTP APIs
  libp11-kit-dev softhsm2               # PKCS#11 header; SoftHSM2 token for the HSM tests
  libyaml-cpp-dev                       # YAML configuration files
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc  # Workload API (gRPC)
  libnghttp2-dev                        # HTTP/2 for the Workload API's own gRPC server
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-format
  curl util-linux jq                    # integration tests: /metrics, setpriv, JSON
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node.js and npm run the independent JOSE client (npm `jose`) in the interop tests. Any working
# node + npm will do, so Debian's are only installed when none is on the PATH.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-deps: run as root (missing: ${missing[*]})" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
updated=0
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
else
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -q
  updated=1
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# promtool (checks /metrics in the integration tests) comes from Debian's prometheus package. It
# is extracted rather than installed: installing would start a Prometheus service on :9090.
promtool_dir="$(cd "$(dirname "$0")/.." && pwd)/.cache/tools"
if [ ! -x "$promtool_dir/promtool" ]; then
  [ "$updated" -eq 1 ] || $SUDO apt-get update -q
  work=$(mktemp -d)
  chown _apt "$work" 2>/dev/null || chmod 777 "$work"  # apt's unprivileged _apt user downloads here
  (cd "$work" && apt-get download prometheus >/dev/null)
  dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
  mkdir -p "$promtool_dir"
  cp "$work/root/usr/bin/promtool" "$promtool_dir/promtool"
  rm -rf "$work"
  echo "install-deps: promtool extracted to $promtool_dir"
fi
