#!/usr/bin/env bash
# Sets up, builds and runs realtime_bridge.
#   With OPENAI_API_KEY set: starts realtime-bridge-server (settings from the
#   environment or flags, see docs/server.md); arguments are passed to it.
#   Without it: runs a whole simulated call on loopback — a fake caller, the
#   real server, a fake OpenAI — and writes what the caller heard as a WAV and
#   the call's trace to out/simulated-call/.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --demo
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
if [ -n "${OPENAI_API_KEY:-}" ]; then
  cmake --build build/release -j"$(nproc)" --target realtime_bridge_server
  exec ./build/release/examples/realtime-bridge-server "$@"
fi
cmake --build build/release -j"$(nproc)" --target rtb_simulated_call rtb_replay
echo "OPENAI_API_KEY is not set: running a simulated call instead of the server."
exec ./build/release/examples/simulated-call --out out/simulated-call
