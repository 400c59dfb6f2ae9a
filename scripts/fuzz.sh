#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang in build-fuzz/ and runs
# each one for a bounded time on a scratch copy of its seed corpus.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
#   SECONDS  fuzzing time per target (default 30)
#   TARGET   fuzz_twilio_decoder, fuzz_openai_decoder, fuzz_call, fuzz_c_api (default: all)
#
# Environment:
#   RTB_FUZZ_JOBS=N        build parallelism (default: nproc)
#   RTB_FUZZ_KEEP_CORPUS=1 keep the scratch corpora (new inputs found) and print where
#   RTB_FUZZ_SIMDJSON_SOURCE=/path/to/simdjson.cpp
#                          compile simdjson from this amalgamated source (the
#                          singleheader/simdjson.cpp of the installed version,
#                          3.0.1) with the sanitizers, so ASan also sees memory
#                          errors inside simdjson; by default the fuzzers use the
#                          uninstrumented libsimdjson.so, where such errors
#                          corrupt memory silently
#   CC, CXX                default clang, clang++ (libFuzzer needs clang)
#
# The committed corpus (tests/fuzz/corpus/) is never written to. Crash, leak,
# timeout and OOM reproducers go to build-fuzz/fuzz-artifacts/<target>/, logs to
# build-fuzz/fuzz-logs/. Exit status: 0 when no target found anything, 1 when
# one did (or the build failed).
set -euo pipefail

seconds="${1:-30}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [[ "$seconds" -eq 0 ]]; then
  echo "usage: $0 [SECONDS] [TARGET...]   (SECONDS must be a positive integer)" >&2
  exit 2
fi
shift || true
all_targets=(fuzz_twilio_decoder fuzz_openai_decoder fuzz_call fuzz_c_api)
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=("${all_targets[@]}")

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-fuzz"
fuzz_src="$root/tests/fuzz"
jobs="${RTB_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}"

# Per-target settings: seed corpus directory and the largest input worth trying.
corpus_of() {
  case "$1" in
    fuzz_twilio_decoder) echo twilio_decoder ;;
    fuzz_openai_decoder) echo openai_decoder ;;
    fuzz_call) echo call ;;
    fuzz_c_api) echo c_api ;;
    *) return 1 ;;
  esac
}
max_len_of() {
  case "$1" in
    fuzz_twilio_decoder) echo 4096 ;;   # real messages are < 1 KiB (a 160-byte frame is 216 base64 chars)
    fuzz_openai_decoder) echo 8192 ;;   # the fixtures' largest events (session.*) are ~1.5 KiB
    fuzz_call) echo 12288 ;;            # op programs; the raw-fixture seed is ~10 KiB
    fuzz_c_api) echo 4096 ;;            # op programs of templates and short strings
  esac
}
for t in "${targets[@]}"; do
  corpus_of "$t" >/dev/null || { echo "unknown target '$t' (known: ${all_targets[*]})" >&2; exit 2; }
done

echo "== configuring and building the fuzzers in $build"
# RTB_WARNINGS_AS_ERRORS=OFF: clang warns about library code that gcc accepts
# (see the fuzzing report); the fuzz build must not depend on that.
CC="${CC:-clang}" CXX="${CXX:-clang++}" cmake -S "$root" -B "$build" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DRTB_BUILD_FUZZERS=ON -DRTB_BUILD_TESTS=OFF -DRTB_BUILD_EXAMPLES=OFF -DRTB_INSTALL=OFF \
  -DRTB_WARNINGS_AS_ERRORS=OFF \
  -DRTB_FUZZ_SIMDJSON_SOURCE="${RTB_FUZZ_SIMDJSON_SOURCE:-}"
cmake --build "$build" -j "$jobs" --target "${targets[@]}"

scratch="$(mktemp -d "${TMPDIR:-/tmp}/rtb-fuzz.XXXXXX")"
cleanup() {
  if [[ "${RTB_FUZZ_KEEP_CORPUS:-0}" != 0 ]]; then
    echo "scratch corpora kept in $scratch"
  else
    rm -rf "$scratch"
  fi
}
trap cleanup EXIT

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

mkdir -p "$build/fuzz-logs"
failed=()
summary=()

for t in "${targets[@]}"; do
  bin="$build/tests/fuzz/$t"
  seeds="$fuzz_src/corpus/$(corpus_of "$t")"
  work="$scratch/$t"
  artifacts="$build/fuzz-artifacts/$t"
  log="$build/fuzz-logs/$t.log"
  mkdir -p "$work" "$artifacts"
  cp -R "$seeds/." "$work/"
  # Past findings' reproducers are good seeds too.
  shopt -s nullglob
  regressions=("$fuzz_src"/regressions/"$t"-*)
  shopt -u nullglob
  for r in "${regressions[@]}"; do cp "$r" "$work/regression-$(basename "$r")"; done

  # 1. Regressions: every past finding's reproducer must pass.
  #    (Some are only seen with RTB_FUZZ_SIMDJSON_SOURCE; see tests/fuzz/*.cpp.)
  for r in "${regressions[@]}"; do
    if "$bin" "$r" >"$build/fuzz-logs/$(basename "$r").log" 2>&1; then
      echo "-- $t: regression $(basename "$r") passes"
    else
      echo "!! $t: regression $(basename "$r") fails again (log: $build/fuzz-logs/$(basename "$r").log)"
      failed+=("$t:$(basename "$r")")
    fi
  done

  # 2. Fuzz.
  echo "== $t: fuzzing for ${seconds}s (max_len $(max_len_of "$t"), log: $log)"
  stamp="$scratch/$t.started"
  touch "$stamp"
  status=0
  "$bin" "$work" \
    -dict="$fuzz_src/dict/json.dict" \
    -max_len="$(max_len_of "$t")" \
    -max_total_time="$seconds" \
    -timeout=10 \
    -rss_limit_mb=2048 \
    -print_final_stats=1 \
    -artifact_prefix="$artifacts/" \
    >"$log" 2>&1 || status=$?

  stats="$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -n 1 || true)"
  cov="$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$stats")"
  ft="$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$stats")"
  corp="$(sed -n 's/.*corp: \([0-9]*\).*/\1/p' <<<"$stats")"
  execs="$(sed -n 's/^stat::average_exec_per_sec:[[:space:]]*//p' "$log" | tail -n 1)"
  runs="$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' "$log" | tail -n 1)"
  found="$(find "$artifacts" -maxdepth 1 -type f -newer "$stamp" \
             \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | tr '\n' ' ')"
  summary+=("$(printf '%-20s runs=%-9s exec/s=%-7s cov=%-6s ft=%-7s corpus=%s' "$t" "${runs:-?}" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}")")
  if [[ $status -ne 0 || -n "$found" ]]; then
    echo "!! $t FAILED (exit $status). Tail of $log:"
    grep -E 'ERROR|SUMMARY|invariant violated|Test unit written|runtime error' "$log" | head -n 20 || true
    [[ -n "$found" ]] && echo "   reproducer(s): $found"
    failed+=("$t")
  fi
done

echo
echo "== summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "FAILED: ${failed[*]} (artifacts in $build/fuzz-artifacts/)"
  exit 1
fi
echo "OK: no crash, leak, timeout or invariant violation found"
