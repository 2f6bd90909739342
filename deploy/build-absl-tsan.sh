#!/usr/bin/env bash
# build-absl-tsan.sh DIR: builds Debian 12's own Abseil (the source package of
# the installed libabsl-dev, Debian's patches and options.h included) with
# -fsanitize=thread and installs it, static, under DIR/install.
#
# Why: Debian's libabsl is not built with TSan, so absl::Mutex's
# synchronisation (atomics and futexes inside the library) is invisible to
# ThreadSanitizer and every access it guards is reported as a race. The TSan
# tree (deploy/test.sh) links this copy instead of the system one.
#
# Idempotent: DIR/install/.version holds the Debian version it was built from;
# nothing is done when it matches the installed libabsl-dev. Compiles through
# ccache, so a rebuild after `rm -rf DIR` mostly hits the cache. Needs the
# deb-src entry that deploy/install-deps.sh adds; no root.
set -euo pipefail
dir=$(realpath -m "$1")
version=$(dpkg-query -W -f='${Version}' libabsl-dev)
if [ "$(cat "$dir/install/.version" 2>/dev/null)" = "$version" ]; then
  exit 0
fi

rm -rf "$dir/src" "$dir/build" "$dir/install"
mkdir -p "$dir/src"
# The exact version installed, so that headers and ABI options match.
if ! (cd "$dir/src" && apt-get source "abseil=$version" >"$dir/src/apt.log" 2>&1); then
  cat "$dir/src/apt.log" >&2
  exit 1
fi
src=$(find "$dir/src" -mindepth 1 -maxdepth 1 -type d -name 'abseil-*' | head -1)

launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
# C++17 and static, as Debian's own static build (debian/rules).
cmake -S "$src" -B "$dir/build" -G Ninja "${launcher[@]}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_STANDARD=17 \
  -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" \
  -DBUILD_SHARED_LIBS=OFF -DBUILD_TESTING=OFF -DABSL_PROPAGATE_CXX_STD=ON \
  -DCMAKE_INSTALL_PREFIX="$dir/install" >/dev/null
cmake --build "$dir/build" -- -j"$(nproc)"
cmake --install "$dir/build" >/dev/null
echo "$version" >"$dir/install/.version"
