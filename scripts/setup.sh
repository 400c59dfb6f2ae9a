#!/usr/bin/env bash
# Installs what realtime_bridge needs to build and test, from Debian's
# packages. Safe to run again; skips apt when everything is present.
#   ./scripts/setup.sh          build and test dependencies
#   ./scripts/setup.sh --demo   also espeak-ng and sox, for the simulated call's voices
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libsimdjson-dev libfmt-dev catch2       # the core and its tests
  libwebsockets-dev libssl-dev openssl    # the adapter, the server, the test peers
  libsqlite3-dev libpq-dev postgresql     # the call store; its tests start a throwaway PostgreSQL cluster
  chromium                                # the calls page's test in a real browser (tests/browser)
  haproxy                                 # the two-instance deployment test (tests/deploy)
  systemd                                 # systemd-analyze verify checks the installed unit (tests/package)
  clang libclang-rt-14-dev                # libFuzzer and sanitizer runtimes
)
# The signature oracle's test runs Twilio's helper library (tests/signature_oracle):
# node and npm, unless some are installed already (NodeSource's nodejs bundles
# npm and conflicts with Debian's npm package).
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)
if [ "${1:-}" = "--demo" ]; then
  packages+=(espeak-ng sox)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "setup: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
