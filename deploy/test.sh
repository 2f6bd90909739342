#!/usr/bin/env bash
# Builds Tidings three times and runs the tests through CTest in each:
#   build/werror  warnings as errors (RelWithDebInfo): the whole suite
#   build/asan    AddressSanitizer + UndefinedBehaviorSanitizer on our code:
#                 the whole suite
#   build/tsan    ThreadSanitizer (RelWithDebInfo): only what does not link
#                 gRPC (base, crypto, storage, node/model, node/config and
#                 node/gossip's tests), since Debian's gRPC is not
#                 instrumented.
#                 It links an Abseil built with TSan from Debian's own source
#                 package (deploy/build-absl-tsan.sh, into build/absl-tsan),
#                 because absl::Mutex is invisible to TSan otherwise.
#                 deploy/tsan.supp silences only Abseil's and RocksDB's own
#                 internals, never our code.
# then runs each libFuzzer target (tests/fuzz/, a clang build in build/fuzz)
# for 30 s (deploy/fuzz.sh; longer by hand), and checks formatting and the
# one-way layering (deploy/check_layers.sh).
# Installs what it needs (Debian 12, as root).
#
# Usage: bash deploy/test.sh
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/deploy/install-deps.sh"
cd "$top"

echo "== clang-format"
unformatted=$(git ls-files '*.cc' '*.h' | xargs clang-format --dry-run -Werror 2>&1 | grep -oE '^[^:]+\.(cc|h)' | sort -u || true)
if [ -n "$unformatted" ]; then
  echo "not clang-formatted:" $unformatted >&2
  exit 1
fi

echo "== layers"
bash "$top/deploy/check_layers.sh"

jobs=$(nproc)
echo "== build: -Werror"
bash deploy/build.sh build/werror -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTIDINGS_WERROR=ON
echo "== test: -Werror build"
ctest --test-dir build/werror --output-on-failure -j"$jobs" --timeout 300

echo "== build: ASan + UBSan"
bash deploy/build.sh build/asan -DCMAKE_BUILD_TYPE=Debug -DTIDINGS_WERROR=ON -DTIDINGS_SANITIZE=ON -DTIDINGS_BENCH=OFF
echo "== test: ASan + UBSan build"
# Full unwinding, so that leaks in gRPC's threads at exit show their gRPC
# frames and deploy/lsan.supp can tell them from ours.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0 \
LSAN_OPTIONS=suppressions="$top/deploy/lsan.supp" \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build/asan --output-on-failure -j"$jobs" --timeout 600

echo "== build: TSan (Abseil with TSan; targets that link gRPC left out)"
bash deploy/build-absl-tsan.sh build/absl-tsan
bash deploy/build.sh build/tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTIDINGS_WERROR=ON -DTIDINGS_TSAN=ON \
  -DTIDINGS_BENCH=OFF -DCMAKE_PREFIX_PATH="$top/build/absl-tsan/install"
# The TSan tree must not hold a test that links Debian's uninstrumented gRPC
# (CMake's tidings_links_grpc leaves them out; this checks what was built).
with_grpc=$(find build/tsan/tests -type f -perm -u+x -name '*_test' -exec sh -c \
  'ldd "$1" | grep -q "libgrpc" && echo "$1"' _ {} \;)
if [ -n "$with_grpc" ]; then
  echo "TSan tree holds tests that link gRPC:" $with_grpc >&2
  exit 1
fi
echo "== test: TSan build"
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions="$top/deploy/tsan.supp" \
  ctest --test-dir build/tsan --output-on-failure -j"$jobs" --timeout 600
echo "== fuzz: 30 s per target (clang, libFuzzer, ASan + UBSan)"
bash deploy/fuzz.sh build/fuzz 30
echo "== all tests passed in the three builds, and the fuzz targets found nothing"
