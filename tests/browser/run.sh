#!/usr/bin/env bash
# The calls page in a real browser (ctest label "browser"): installs
# playwright-core at the version package-lock.json pins (npm ci, into WORK_DIR,
# once per lock) and runs calls_page.js, which starts the fake OpenAI and the
# real server on loopback and drives Debian's Chromium through a live call.
#   run.sh WORK_DIR SERVER FAKE_OPENAI FAKE_TWILIO
# Without node, npm or chromium it skips (exit 77), unless RTB_REQUIRE_BROWSER=1
# (CI sets it), which makes a missing one a failure.
set -euo pipefail
src="$(cd "$(dirname "$0")" && pwd)"
work="$1"
server="$2"
fake_openai="$3"
fake_twilio="$4"
chromium="${CHROMIUM:-/usr/bin/chromium}"

missing=""
command -v node >/dev/null 2>&1 || missing="node"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -x "$chromium" ] || missing="$missing chromium"
if [ -n "$missing" ]; then
  if [ "${RTB_REQUIRE_BROWSER:-0}" = 1 ]; then
    echo "browser test: needs$missing (RTB_REQUIRE_BROWSER=1); ./scripts/setup.sh installs them" >&2
    exit 1
  fi
  echo "browser test SKIPPED: needs$missing (./scripts/setup.sh installs them)"
  exit 77
fi

mkdir -p "$work"
cp "$src/package.json" "$src/package-lock.json" "$src/calls_page.js" "$work/"
stamp="$work/node_modules/.rtb-package-lock.json"
if ! cmp -s "$src/package-lock.json" "$stamp"; then
  echo "browser test: npm ci (playwright-core, as pinned by tests/browser/package-lock.json)"
  (cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  cp "$src/package-lock.json" "$stamp"
fi

out="$work/out"
rm -rf "$out"
mkdir -p "$out"
(cd "$work" && OUT_DIR="$out" SERVER="$server" FAKE_OPENAI="$fake_openai" FAKE_TWILIO="$fake_twilio" \
  CHROMIUM="$chromium" timeout 180 node calls_page.js)
