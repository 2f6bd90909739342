#!/usr/bin/env bash
# Builds Tidings in Release and runs envelope_bench: per-envelope costs next to
# the libsodium primitives and the fdatasync that bound them, then a ratio
# table. Writes, named by the short commit (with -dirty if the tree differs):
#   bench/results/envelope_bench-<commit>.json         Google Benchmark JSON
#   bench/results/envelope_bench-<commit>.ratios.json  ns per item + ratios
#
# Usage: bash bench/run_envelope_bench.sh [--benchmark_* flags...]
#   e.g. --benchmark_filter='Ed25519|AcceptPath' --benchmark_repetitions=5
# Environment: BUILD_DIR (default build-release; not build/bench, which is the
# bench/ subdirectory of the build tree in build/), REPETITIONS (default 5; the
# ratios use the median), TMPDIR (where the storage benchmarks write: the
# figures hold for that filesystem).
#
# Repetitions run in random interleaved order: fsync latency on shared or
# virtual disks drifts by 10x within minutes, and a floor measured at another
# moment than the write it bounds would make the ratio meaningless.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash deploy/install-deps.sh

build=${BUILD_DIR:-build-release}
# Tests stay off: this build only has to produce the benchmark binaries.
bash deploy/build.sh "$build" -DCMAKE_BUILD_TYPE=Release -DTIDINGS_TESTS=OFF
# build.sh configures only once; refuse figures from a reused non-Release dir.
if ! grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$build/CMakeCache.txt"; then
  echo "$build is not a Release build; remove it or set BUILD_DIR" >&2
  exit 1
fi

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && ! git diff --quiet HEAD -- 2>/dev/null; then
  commit="$commit-dirty"
fi
mkdir -p bench/results
out="bench/results/envelope_bench-$commit"

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
"$build/bench/envelope_bench" \
  --benchmark_repetitions="${REPETITIONS:-5}" \
  --benchmark_enable_random_interleaving=true \
  --benchmark_out="$out.json" \
  --benchmark_out_format=json \
  --ratios_out="$out.ratios.json" \
  --commit="$commit" \
  "$@"
echo "results: $out.json $out.ratios.json"
