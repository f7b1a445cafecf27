#!/usr/bin/env bash
# Builds airlock's built-in images, once, into a host-wide cache outside any state dir:
#   ${AIRLOCK_IMAGE_CACHE:-/var/cache/airlock/images}/<name>/   (an OCI image layout)
#   busybox  Debian's busybox-static + applet symlinks, /etc/passwd (root, nobody), /tmp 1777
#   python   debootstrap --variant=minbase bookworm + python3, caches and docs removed
# Idempotent: an image whose stamp carries this script's version is left alone (a quick
# no-op).  busybox is built first (seconds) so tests can start; python takes minutes and is
# built only when missing.  Each image is built in a temp dir and renamed into place, so a
# half-built image is never seen.  Layers are stored uncompressed so imports are fast.
#
# usage: build-images.sh [--force] [busybox|python|all]...
set -euo pipefail

VERSION=1
CACHE=${AIRLOCK_IMAGE_CACHE:-/var/cache/airlock/images}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
force=0
targets=()
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    busybox|python) targets+=("$a") ;;
    all) targets+=(busybox python) ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "build-images: unknown argument $a" >&2; exit 2 ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(busybox python)

log() { echo "build-images: $*" >&2; }

stamp_ok() { # name
  [ "$force" = 0 ] && [ -f "$CACHE/$1/airlock-stamp" ] &&
    [ "$(cat "$CACHE/$1/airlock-stamp")" = "$1 v$VERSION" ]
}

# make_layout <rootfs> <outdir> <cmd-json> [mtime]: one uncompressed layer, OCI config,
# manifest, index.json (ref.name "latest"), oci-layout.  With mtime (epoch seconds) every
# file gets it, so the image digest is reproducible.
make_layout() {
  local rootfs=$1 out=$2 cmd=$3 mtime=${4:-}
  mkdir -p "$out/blobs/sha256"
  tar --numeric-owner --sort=name ${mtime:+--mtime=@$mtime} -C "$rootfs" -cf "$out/layer.tar" .
  "$PY" - "$out" "$cmd" <<'PYEOF'
import hashlib, json, os, sys
out, cmd = sys.argv[1], json.loads(sys.argv[2])
def put(data=None, path=None):
    h = hashlib.sha256()
    if path:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        size = os.path.getsize(path)
    else:
        h.update(data)
        size = len(data)
    d = h.hexdigest()
    dst = os.path.join(out, "blobs", "sha256", d)
    if path:
        os.rename(path, dst)
    else:
        with open(dst, "wb") as f:
            f.write(data)
    return "sha256:" + d, size
layer, lsize = put(path=os.path.join(out, "layer.tar"))
config = {
    "architecture": "amd64", "os": "linux",
    "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
               "Cmd": cmd, "WorkingDir": "/"},
    "rootfs": {"type": "layers", "diff_ids": [layer]},
    "history": [{"created_by": "airlock scripts/build-images.sh"}],
}
cdig, csize = put(json.dumps(config, sort_keys=True).encode())
manifest = {
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdig,
               "size": csize},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer,
                "size": lsize}],
}
mdig, msize = put(json.dumps(manifest, sort_keys=True).encode())
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
         "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": mdig, "size": msize,
                        "platform": {"os": "linux", "architecture": "amd64"},
                        "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump(index, f)
with open(os.path.join(out, "oci-layout"), "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
print(mdig)
PYEOF
}

finish() { # name tmpdir: stamp and rename into place
  local name=$1 tmp=$2
  echo "$name v$VERSION" >"$tmp/out/airlock-stamp"
  rm -rf "$CACHE/.old-$name"
  [ -d "$CACHE/$name" ] && mv "$CACHE/$name" "$CACHE/.old-$name"
  mv "$tmp/out" "$CACHE/$name"
  rm -rf "$CACHE/.old-$name" "$tmp"
}

find_busybox() { # the static busybox of Debian's busybox-static package, if installed
  local b
  b=$(dpkg -L busybox-static 2>/dev/null | grep -E '/bin/busybox$' | head -1) || true
  [ -n "$b" ] && [ -x "$b" ] && { echo "$b"; return 0; }
  return 1
}

build_busybox() {
  stamp_ok busybox && { log "busybox: up to date"; return 0; }
  local tmp bb
  tmp=$(mktemp -d "$CACHE/.tmp-busybox-XXXXXX")
  if ! bb=$(find_busybox); then
    log "busybox: fetching busybox-static with apt-get download"
    (cd "$tmp" && apt-get download busybox-static >/dev/null && dpkg-deb -x busybox-static_*.deb deb)
    bb="$tmp/deb/bin/busybox"
  fi
  local r="$tmp/rootfs"
  mkdir -p "$r"/{bin,etc,tmp,root,proc,sys,dev,home,var,usr/bin,usr/sbin,sbin}
  install -m 0755 "$bb" "$r/bin/busybox"
  local applet
  for applet in $("$r/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$r/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
    >"$r/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
  printf 'hosts: files dns\n' >"$r/etc/nsswitch.conf"
  chmod 1777 "$r/tmp"
  chmod 0700 "$r/root"
  make_layout "$r" "$tmp/out" '["/bin/sh"]' 1700000000 >/dev/null
  finish busybox "$tmp"
  log "busybox: built in $CACHE/busybox"
}

# The Debian mirror configured for apt (one-line or deb822 format); never hard-coded.
debian_mirror() {
  "$PY" - <<'PYEOF'
import glob, re
def entries():
    files = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")) \
        + sorted(glob.glob("/etc/apt/sources.list.d/*.sources"))
    for path in files:
        try:
            text = open(path).read()
        except OSError:
            continue
        if path.endswith(".sources"):
            for block in re.split(r"\n\s*\n", text):
                f = {}
                for line in block.splitlines():
                    if line.startswith("#") or ":" not in line:
                        continue
                    k, v = line.split(":", 1)
                    f[k.strip().lower()] = v.split()
                if "deb" in f.get("types", []):
                    for uri in f.get("uris", []):
                        yield uri, f.get("suites", [])
        else:
            for line in text.splitlines():
                line = re.sub(r"\[[^]]*\]", "", line.split("#")[0]).split()
                if len(line) >= 3 and line[0] == "deb":
                    yield line[1], [line[2]]
for uri, suites in entries():
    if "bookworm" in suites and "security" not in uri:
        print(uri)
        break
PYEOF
}

build_python() {
  stamp_ok python && { log "python: up to date"; return 0; }
  command -v debootstrap >/dev/null || { log "python: debootstrap not installed"; return 1; }
  local mirror tmp
  mirror=$(debian_mirror)
  [ -n "$mirror" ] || { log "python: no bookworm mirror in /etc/apt/sources.list*"; return 1; }
  tmp=$(mktemp -d "$CACHE/.tmp-python-XXXXXX")
  local r="$tmp/rootfs"
  log "python: debootstrap minbase bookworm from $mirror (takes minutes)"
  if ! debootstrap --variant=minbase --include=python3 bookworm "$r" "$mirror" \
      >"$tmp/debootstrap.log" 2>&1; then
    tail -20 "$tmp/debootstrap.log" >&2
    for m in proc sys dev/pts dev; do umount "$r/$m" 2>/dev/null || true; done
    rm -rf "$tmp"
    return 1
  fi
  for m in proc sys dev/pts dev; do mountpoint -q "$r/$m" && umount "$r/$m"; done
  rm -rf "$r"/var/cache/apt/* "$r"/var/lib/apt/lists/* "$r"/var/cache/debconf/*-old \
    "$r"/var/log/* "$r"/usr/share/doc/* "$r"/usr/share/man/* "$r"/usr/share/info/* \
    "$r"/usr/share/locale/* "$r"/var/cache/ldconfig/* "$r"/debootstrap 2>/dev/null || true
  chmod 1777 "$r/tmp"
  make_layout "$r" "$tmp/out" '["python3"]' >/dev/null
  finish python "$tmp"
  log "python: built in $CACHE/python ($(du -sh "$CACHE/python" | cut -f1))"
}

mkdir -p "$CACHE"
chmod 0755 "$CACHE"
exec 9>"$CACHE/.lock"
flock 9 # one builder at a time; a second one waits, then finds the stamps
# busybox first, whatever the order of the arguments
for t in busybox python; do
  for want in "${targets[@]}"; do
    if [ "$want" = "$t" ]; then
      "build_$t"
      break
    fi
  done
done
