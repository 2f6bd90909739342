#!/usr/bin/env bash
# fuzz.sh DIR SECONDS: builds the libFuzzer targets (tests/fuzz/) in DIR with
# clang (-DTIDINGS_FUZZ=ON: ASan + UBSan + coverage on our code; configured
# once) and runs each for SECONDS seconds on a copy of its seed corpus in
# DIR/corpus/<target> (the repository is never written), plus the valid
# seeds fuzz_make_corpus makes afresh. Fails on any crash, leak, timeout
# (-timeout=10 per input), out-of-memory (-rss_limit_mb=2048) or sanitizer
# report; the input that caused it is left in DIR/artifacts/<target>/.
# Prints each run's executions (stat::number_of_executed_units).
#
# Usage: bash deploy/fuzz.sh build/fuzz 30      (CI)
#        bash deploy/fuzz.sh build/fuzz 3600    (by hand, an hour a target)
set -euo pipefail

if [ $# -ne 2 ] || ! [[ $2 =~ ^[0-9]+$ ]] || [ "$2" -lt 1 ]; then
  echo "usage: $0 DIR SECONDS" >&2
  exit 2
fi
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$1
seconds=$2
targets=(fuzz_envelope_verify fuzz_peer_message fuzz_roster_update fuzz_config)

if [ ! -f "$dir/build.ninja" ]; then
  # ccache is the compiler launcher (top-level CMakeLists.txt) when found.
  CC=clang CXX=clang++ cmake -S "$top" -B "$dir" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTIDINGS_FUZZ=ON >/dev/null
fi
cmake --build "$dir" --target fuzz_targets -- -j"$(nproc)"
dir=$(cd "$dir" && pwd)
bin="$dir/tests/fuzz"

fresh="$dir/fresh-seeds"
rm -rf "$fresh"
"$bin/fuzz_make_corpus" "$fresh"

# Fail on any report: UBSan aborts (the build has -fno-sanitize-recover),
# leaks are checked, and a report names its frames.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
failed=()
for target in "${targets[@]}"; do
  corpus="$dir/corpus/$target"
  artifacts="$dir/artifacts/$target"
  mkdir -p "$corpus" "$artifacts"
  cp -r "$top/tests/fuzz/corpus/$target/." "$corpus/"
  if [ -d "$fresh/$target" ]; then cp -r "$fresh/$target/." "$corpus/"; fi
  log="$dir/$target.log"
  echo "== $target: ${seconds}s"
  status=0
  (cd "$dir" && "$bin/$target" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$corpus") >"$log" 2>&1 || status=$?
  grep -aE '^stat::number_of_executed_units' "$log" || true
  if [ "$status" -ne 0 ] || grep -aqE '^(==[0-9]+==ERROR|SUMMARY: )|runtime error:' "$log"; then
    echo "$target FAILED (exit $status); log: $log; inputs:" \
      "$(ls "$artifacts" 2>/dev/null | tr '\n' ' ')" >&2
    grep -aE -A40 'ERROR: |runtime error:|deadly signal|Test unit written' "$log" | head -80 >&2 || true
    failed+=("$target")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}" >&2
  exit 1
fi
echo "== fuzz: ${#targets[@]} targets ran ${seconds}s each without a finding"
