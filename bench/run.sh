#!/usr/bin/env bash
# make bench: measures airlock against its peers on this machine (not part of the tests).
#   bench/run.sh BUILD_DIR        BENCH_RUNS (default 200), BENCH_IDLE (default 20)
# Builds the small C timing client, finds (or makes) a busybox rootfs, and hands over to
# bench/bench.py, which starts its own airlockd (temp state dir, free port), runs every
# measurement, writes bench/results/<date>.md and .json, prints the table, and cleans up.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
build=${1:-build}
case "$build" in /*) ;; *) build="$top/$build" ;; esac
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root (containers, cgroups)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/airlock-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -o "$tmp/bench_client" "$here/bench_client.c" $(pkg-config --cflags --libs libcurl)

# busybox rootfs: the built-in image's, else one made here from the static busybox
rootfs=""
if [ -d /var/cache/airlock/images ]; then
  bb=$(find /var/cache/airlock/images -maxdepth 6 -path '*/bin/busybox' -type f 2>/dev/null | head -1 || true)
  [ -n "$bb" ] && rootfs=$(dirname "$(dirname "$bb")")
fi
if [ -z "$rootfs" ]; then
  bb=$(command -v busybox || true)
  [ -n "$bb" ] || { echo "bench: no busybox (apt-get install busybox-static)" >&2; exit 1; }
  rootfs="$tmp/rootfs"
  mkdir -p "$rootfs"/{bin,dev,proc,sys,tmp,etc}
  cp "$bb" "$rootfs/bin/busybox"
  for a in sh true sleep cat echo ls; do ln -s busybox "$rootfs/bin/$a"; done
fi

/usr/bin/python3 "$here/bench.py" --build "$build" --client "$tmp/bench_client" \
  --rootfs "$rootfs" --tmp "$tmp" --results "$here/results"
