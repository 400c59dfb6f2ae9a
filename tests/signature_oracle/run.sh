#!/usr/bin/env bash
# The signature oracle (ctest label "oracle"): installs Twilio's helper library
# at the version package-lock.json pins (npm ci, into WORK_DIR, once per lock),
# has it sign the cases (generate.js), then checks them against our validator
# and the real server (CHECKER, built from check.cpp).
#   run.sh WORK_DIR CHECKER
# Without node or npm it skips (exit 77), unless RTB_REQUIRE_ORACLE=1 (CI sets
# it), which makes a missing node a failure.
set -euo pipefail
src="$(cd "$(dirname "$0")" && pwd)"
work="$1"
checker="$2"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [ "${RTB_REQUIRE_ORACLE:-0}" = 1 ]; then
    echo "signature oracle: node and npm are required (RTB_REQUIRE_ORACLE=1); ./scripts/setup.sh installs them" >&2
    exit 1
  fi
  echo "signature oracle SKIPPED: node and npm are not installed (./scripts/setup.sh installs them)"
  exit 77
fi

mkdir -p "$work"
cp "$src/package.json" "$src/package-lock.json" "$src/generate.js" "$work/"
stamp="$work/node_modules/.rtb-package-lock.json"
if ! cmp -s "$src/package-lock.json" "$stamp"; then
  echo "signature oracle: npm ci (twilio, as pinned by tests/signature_oracle/package-lock.json)"
  (cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  cp "$src/package-lock.json" "$stamp"
fi
(cd "$work" && node generate.js >cases.json)
"$checker" "$work/cases.json"
