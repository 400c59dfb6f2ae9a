#!/usr/bin/env bash
# Sets up, builds, and replays the bundled recording of a call in which the
# caller interrupts the AI: every message the bridge sent to Twilio and OpenAI,
# and everything it told the host, with trace timestamps.
#   ./scripts/run.sh [TRACE.jsonl]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DRTB_BUILD_TESTS=OFF >/dev/null
cmake --build build/release -j"$(nproc)" --target rtb_replay
trace="${1:-examples/traces/barge_in.jsonl}"
echo "== replaying $trace"
./build/release/examples/replay "$trace" | cut -c1-200
