#!/usr/bin/env bash
# Builds Tidings in Release and runs the standard network_bench matrix: real
# tidingsd processes on 127.0.0.1, driven through the client service. Writes
# one JSON per row, named by the short commit (with -dirty if the tree
# differs):
#   bench/results/network_bench-<row>-<commit>.json
# then draws bench/results/network_bench.png (plot_results.py) and prints a
# table of the rows.
#
# Rows (bench/README.md says what each figure means):
#   n4-max, n8-max, n16-max  N nodes, 3 links each, audience all, 1 KiB
#                            bodies, 2 000 envelopes at max rate; n16-max
#                            then idles: $IDLE_WARMUP s for anti-entropy to
#                            back off to its idle pace, $IDLE_SECONDS measured
#   n16-r50                  16 nodes at a light 50 envelopes/s, for latency
#   n4-catchup               one of 4 nodes rejoins behind a $BACKLOG backlog
#
# Usage: bash bench/run_matrix.sh [extra network_bench flags for every row]
# Environment: BUILD_DIR (default build-bench: Release with tests on, since
# the harness lives in tests/testing; not build/bench, which is a directory
# of the build tree in build/), BACKLOG (default 100000), IDLE_SECONDS
# (default 120), IDLE_WARMUP (default 70), ENVELOPES (default 2000),
# SKIP_BUILD=1 to reuse the binary.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
build=${BUILD_DIR:-build-bench}
backlog=${BACKLOG:-100000}
idle=${IDLE_SECONDS:-120}
warmup=${IDLE_WARMUP:-70}
envelopes=${ENVELOPES:-2000}

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  bash deploy/install-deps.sh
  # Configure as deploy/build.sh does, but build only what the matrix runs:
  # network_bench and tidingsd, not every test binary.
  if [ ! -f "$build/build.ninja" ]; then
    cmake -S "$top" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DTIDINGS_TESTS=ON >/dev/null
  fi
  cmake --build "$build" --target network_bench tidingsd -- -j"$(nproc)"
fi
# build.sh-style dirs are configured once; refuse figures from a reused
# non-Release dir.
if ! grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$build/CMakeCache.txt"; then
  echo "$build is not a Release build; remove it or set BUILD_DIR" >&2
  exit 1
fi
bin="$build/bench/network_bench"
mkdir -p bench/results

note="load average at matrix start: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
echo "$note"
started=$(date +%s)
run() {
  "$bin" --out=bench/results --note="$note" --links_per_node=3 \
    --body_bytes=1024 --anti_entropy_ms=2000 "$@" "${extra[@]}"
}
extra=("$@")

for n in 4 8; do
  run --label="n$n-max" --nodes="$n" --envelopes="$envelopes" --rate=0 \
    --idle_seconds=0 --backlog=0
done
# Idle bytes are per link: one row measures them, on the most links.
run --label=n16-max --nodes=16 --envelopes="$envelopes" --rate=0 \
  --idle_warmup_seconds="$warmup" --idle_seconds="$idle" --backlog=0
run --label=n16-r50 --nodes=16 --envelopes="$envelopes" --rate=50 \
  --idle_seconds=0 --backlog=0
# The light-load row other systems were measured at (issue 10).
run --label=n16-r20 --nodes=16 --envelopes="$envelopes" --rate=20 \
  --idle_seconds=0 --backlog=0
# Larger networks, all processes on this machine.
for n in 32 64; do
  run --label="n$n-max" --nodes="$n" --envelopes="$envelopes" --rate=0 \
    --idle_seconds=0 --backlog=0
done
run --label=n4-catchup --nodes=4 --envelopes=200 --rate=0 --idle_seconds=0 \
  --backlog="$backlog" --backlog_audience=all

echo "matrix: $(( $(date +%s) - started )) s; load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
# Debian's matplotlib lives under /usr/bin/python3 (not a pyenv or venv one).
/usr/bin/python3 bench/plot_results.py bench/results
