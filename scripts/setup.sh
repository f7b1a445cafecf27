#!/usr/bin/env bash
# One set-up for both README commands: installs the Debian packages airlock needs (only the
# missing ones; quick when all are present) and builds the built-in images into the host-wide
# cache.  Reaches nothing but Debian's mirror.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
  build-essential meson ninja-build pkg-config clang llvm libclang-rt-14-dev clang-format
  libmicrohttpd-dev libjansson-dev libsqlite3-dev sqlite3 libseccomp-dev libcmocka-dev
  libcurl4-openssl-dev libssl-dev libzstd-dev zlib1g-dev libcap-dev
  python3 python3-pytest python3-cryptography busybox-static debootstrap skopeo umoci docker-registry
  bubblewrap runc crun runsc iproute2 nftables util-linux curl ca-certificates
  e2fsprogs file zstd openssl procps
  qemu-system-x86 kmod cpio
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Built-in images (host-wide cache, outside any state dir).
if [ -x scripts/build-images.sh ]; then
  scripts/build-images.sh
fi
