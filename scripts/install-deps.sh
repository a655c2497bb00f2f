#!/usr/bin/env bash
# Installs every Debian package Ward's build and tests need. Idempotent: packages already present
# are left alone, and apt is not touched at all when nothing is missing. Run as root (or with sudo).
set -euo pipefail

packages=(
  g++ cmake ninja-build ccache pkg-config git ca-certificates
  clang libclang-rt-14-dev              # libFuzzer targets and their sanitizers
  libssl-dev openssl                    # crypto, and `openssl verify` for interop tests
  nlohmann-json3-dev libcli11-dev
  libsqlite3-dev                        # embedded datastore
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-format
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

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-deps: run as root (missing: ${missing[*]})" >&2; exit 1; }
  SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
