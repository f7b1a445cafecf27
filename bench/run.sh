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

# busybox rootfs: unpacked from the built-in image's OCI layout (scripts/build-images.sh),
# else made here from Debian's static busybox
rootfs="$tmp/rootfs"
mkdir -p "$rootfs"
layout=/var/cache/airlock/images/busybox
if [ -f "$layout/index.json" ] && /usr/bin/python3 - "$layout" "$rootfs" <<'PY'
import json, os, sys, tarfile
layout, dest = sys.argv[1], sys.argv[2]
blob = lambda d: os.path.join(layout, "blobs", "sha256", d.split(":", 1)[1])
idx = json.load(open(os.path.join(layout, "index.json")))
man = json.load(open(blob(idx["manifests"][0]["digest"])))
for layer in man["layers"]:
    with tarfile.open(blob(layer["digest"])) as t:  # gzip or plain; no whiteouts in busybox
        for m in t.getmembers():
            if m.name.startswith("/") or ".." in m.name.split("/") or m.isdev():
                continue
            t.extract(m, dest)
sys.exit(0 if os.path.exists(os.path.join(dest, "bin", "busybox")) else 1)
PY
then
  rootfs_from="built-in image $layout"
else
  rm -rf "$rootfs" && mkdir -p "$rootfs"
  bb=$(command -v busybox || true)
  [ -n "$bb" ] || { echo "bench: no busybox (apt-get install busybox-static)" >&2; exit 1; }
  mkdir -p "$rootfs"/{bin,dev,proc,sys,tmp,etc}
  cp "$bb" "$rootfs/bin/busybox"
  for a in sh true sleep cat echo ls; do ln -s busybox "$rootfs/bin/$a"; done
  rootfs_from="$bb (busybox-static)"
fi
mkdir -p "$rootfs"/{dev,proc,sys,tmp}
export BENCH_ROOTFS_FROM="$rootfs_from"

/usr/bin/python3 "$here/bench.py" --build "$build" --client "$tmp/bench_client" \
  --rootfs "$rootfs" --tmp "$tmp" --results "$here/results"
