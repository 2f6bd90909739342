#!/usr/bin/env bash
# Installs the Debian 12 packages Tidings builds and runs with, and adds a
# deb-src entry for bookworm so that deploy/build-absl-tsan.sh can fetch
# Abseil's source package. Idempotent: apt is only called when something is
# missing. Needs root (or sudo).
set -euo pipefail

packages=(
  cmake g++ ninja-build ccache pkg-config clang-format
  # deploy/fuzz.sh: clang++ 14 and its libFuzzer and sanitizer runtimes (only
  # recommended by clang, and recommends are not installed here).
  clang libclang-rt-14-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  librocksdb-dev libsodium-dev libabsl-dev libspdlog-dev
  libgtest-dev libgmock-dev libbenchmark-dev libssl-dev
  dpkg-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
have_deb_src=false
if grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ ||
    grep -qs '^deb-src' /etc/apt/sources.list; then
  have_deb_src=true
fi
if [ ${#missing[@]} -eq 0 ] && $have_deb_src; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
if ! $have_deb_src; then
  echo "adding deb-src for bookworm (Abseil's source package, for TSan)" >&2
  $sudo tee /etc/apt/sources.list.d/debian-src.sources >/dev/null <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
